"""`nail-os search` runs a query; `nail-os query --dsl` prints its body for any client."""

from __future__ import annotations

import json
from typing import Any

import click

from nail_os.cli.options import index_option, load_tokenizer, query_options, query_options_from
from nail_os.search import SEARCH_RETRIES


@click.command()
@click.argument("text")
@index_option
@query_options
@click.option("--explain", is_flag=True, help="Show which tokens matched and what each added to the score.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON lines.")
@click.option("--retries", type=click.IntRange(min=0), default=SEARCH_RETRIES, show_default=True,
              help="Resend the search this many times, with backoff, when the cluster does not answer, answers "
                   "HTTP 429/500/502/503/504, or some shards fail. 0: fail at once.")
@click.pass_context
def search(ctx: click.Context, text: str, index: str, explain: bool, as_json: bool, retries: int,
           **kwargs: Any) -> None:
    """Search an index for TEXT and print the ranked hits.

    \b
    Example:
      nail-os search "vitamin d bone density" --index scifact --mode hybrid --explain
      nail-os search "vitamin d bone density" --index scifact --mode hybrid --server-side
      nail-os search "vitamin d bone density" -i scifact --mode hybrid --hybrid-normalization max \\
          --bm25-weight 0.5 --nail-weight 0.5
    """
    from nail_os.cli.options import client_from
    from nail_os.search import search as run_search

    options = query_options_from(kwargs)
    needs_tokens = (options.mode != "bm25" and not options.server_side) or explain
    tokenizer = load_tokenizer(kwargs["model"]) if needs_tokens else None
    hits = run_search(client_from(ctx), index, text, tokenizer, options, explain=explain, retries=retries)
    for rank, hit in enumerate(hits, start=1):
        if as_json:
            click.echo(json.dumps({"rank": rank, "id": hit.doc_id, "score": hit.score, "title": hit.title,
                                   "contributions": hit.contributions}))
            continue
        click.echo(f"{rank:>3}  {hit.score:9.4f}  {hit.doc_id}  {hit.title[:80]}")
        if explain:
            parts = sorted(hit.contributions.items(), key=lambda kv: -kv[1])
            click.echo("       " + "  ".join(f"{tok}={score:.3f}" for tok, score in parts))
    if not hits:
        click.echo("no hits", err=True)


@click.command()
@click.argument("text")
@query_options
@click.option("--index", "-i", default=None,
              help="Weigh the tokens by this index's IDF (--query-weights index; reads the cluster). Without it the "
                   "body carries the model's query weights and needs no cluster.")
# `query` always prints the body; --dsl stays accepted (hidden) so that scripts written with it keep working.
@click.option("--dsl", is_flag=True, hidden=True, help="Accepted for compatibility: the body is always printed.")
@click.option("--compact", is_flag=True, help="One line of JSON.")
@click.pass_context
def query(ctx: click.Context, text: str, index: str | None, dsl: bool, compact: bool, **kwargs: Any) -> None:
    """Print the query body for TEXT, to send with any client. Needs no cluster unless --index is given.

    The body is OpenSearch's; `nail-os --engine elasticsearch query ...` prints Elasticsearch's.

    \b
    Example:
      nail-os query --dsl "what is u.s. gdp" --mode hybrid | curl -s -H 'Content-Type: application/json' \\
          -d @- localhost:9200/scifact/_search
    """
    from dataclasses import replace

    from nail_os.connection import ClusterConfig
    from nail_os.queries import build_query

    options = query_options_from(kwargs)
    config = ctx.find_object(ClusterConfig)
    if config is not None and config.engine:
        options = replace(options, engine=config.engine)
    tokenizer = load_tokenizer(kwargs["model"]) if options.mode != "bm25" and not options.server_side else None
    weights = None
    if index and tokenizer is not None and options.query_weights == "index":
        from nail_os.cli.options import client_from
        from nail_os.search import index_query_weights

        weights = index_query_weights(client_from(ctx), index, options.nail_field, tokenizer.query_token_ids(text))
    body = build_query(text, tokenizer, options, weights)
    click.echo(json.dumps(body, ensure_ascii=False, indent=None if compact else 2))
