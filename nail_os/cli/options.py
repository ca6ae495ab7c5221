"""Options shared by several commands, declared once, and the client the group's connection options describe.

Commands import from here, never from `cli/main.py` (which imports every command).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from nail_os.connection import ClusterConfig
from nail_os.engines import Client
from nail_os.features import DEFAULT_NAIL_FIELD
from nail_os.queries import BM25_QUERIES, DEFAULT_MAX_CLAUSES, HYBRID_NORMALIZATIONS, MODES


def client_from(ctx: click.Context) -> Client:
    """The client (OpenSearch or Elasticsearch) for the group's connection options."""
    from nail_os.connection import make_client

    return make_client(ctx.find_object(ClusterConfig))


def index_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--index", "-i", required=True, help="Index name.")(f)


def nail_field_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--nail-field", default=DEFAULT_NAIL_FIELD, show_default=True,
                        help="The rank_features (Elasticsearch: sparse_vector) field holding NAIL weights.")(f)


def model_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--model", "-m", default=None,
                        help="Model folder or name (nail-minilm, splade-tiny, minilm); default: the shipped "
                             "NAIL checkpoint, else splade-tiny.")(f)


def query_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options that shape a query body (`search` and `query`)."""
    for option in reversed([
        click.option("--mode", type=click.Choice(MODES), default="nail", show_default=True,
                     help="bm25, nail, or their server-side hybrid."),
        click.option("--size", "-k", default=10, show_default=True, help="Hits to return."),
        click.option("--bm25-weight", default=1.0, show_default=True, help="Hybrid: weight of the BM25 score."),
        click.option("--nail-weight", default=1.0, show_default=True, help="Hybrid: weight of the NAIL score."),
        hybrid_normalization_option,
        click.option("--text-field", "text_fields", multiple=True, default=("title", "text"), show_default=True,
                     help="Text fields for BM25 (repeat for several)."),
        click.option("--bm25-query", type=click.Choice(BM25_QUERIES), default="multi_match",
                     show_default=True,
                     help="BM25's shape: multi_match best_fields (BEIR's baseline) or combined_fields (BM25F over "
                          "the fields; lets Lucene skip documents: the faster hybrid on large indices)."),
        click.option("--max-clauses", default=DEFAULT_MAX_CLAUSES, show_default=True,
                     help="The cluster's indices.query.bool.max_clause_count."),
        click.option("--on-too-many", type=click.Choice(["prune", "refuse"]), default="prune", show_default=True,
                     help="A query over --max-clauses tokens: keep the heaviest tokens, or refuse it."),
        click.option("--nail-query", type=click.Choice(["rank_feature", "neural_sparse", "sparse_vector"]),
                     default="rank_feature", show_default=True,
                     help="NAIL as a bool of one clause per token (any cluster), the OpenSearch neural-search "
                          "plugin's neural_sparse, or Elasticsearch's sparse_vector query."),
        query_weights_option,
        click.option("--server-side", is_flag=True,
                     help="Send the text in one `nail` query that the nail plugin tokenizes and weights inside "
                          "OpenSearch or Elasticsearch (nail-os plugin install), instead of one clause per token."),
        nail_field_option,
        model_option,
    ]):
        f = option(f)
    return f


def hybrid_normalization_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--hybrid-normalization", type=click.Choice(HYBRID_NORMALIZATIONS), default="none", show_default=True,
        help="Hybrid: none, the raw weighted sum BM25 + NAIL; max, each score divided by its top score over the "
             "index first (the nail plugin's nail_hybrid query; OpenSearch with the plugin installed).")(f)


def query_weights_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--query-weights", type=click.Choice(["index", "model"]), default="index", show_default=True,
        help="What a query token weighs: its IDF over the searched index (which nail-os indexes keep), else the "
             "model's query_weights.json; or always the model's.")(f)


def query_options_from(kwargs: dict[str, Any]) -> Any:
    from nail_os.queries import QueryOptions

    return QueryOptions(
        mode=kwargs["mode"], size=kwargs["size"], nail_field=kwargs["nail_field"],
        text_fields=tuple(kwargs["text_fields"]), bm25_query=kwargs["bm25_query"], bm25_weight=kwargs["bm25_weight"],
        nail_weight=kwargs["nail_weight"], max_clauses=kwargs["max_clauses"], on_too_many=kwargs["on_too_many"],
        nail_query=kwargs["nail_query"], query_weights=kwargs["query_weights"], server_side=kwargs["server_side"],
        model=server_model_name(kwargs["model"]), hybrid_normalization=kwargs["hybrid_normalization"],
    )


def server_model_name(model: str | None) -> str:
    """The name the nail plugin knows a model by: its folder's name (`--model` may be a path)."""
    from pathlib import Path

    from nail_os.registry import default_model

    return Path(model).name if model else default_model()


def load_tokenizer(model: str | None) -> Any:
    from nail_os.registry import resolve_model_dir
    from nail_os.tokens import Tokenizer

    return Tokenizer.from_model_dir(resolve_model_dir(model))
