"""`nail-os ingest`: a corpus into an index, encoded on the fly or pre-encoded."""

from __future__ import annotations

from pathlib import Path

import click

from nail_os.cli.options import index_option, model_option, nail_field_option
from nail_os.cli.ray_options import ray_options, ray_options_from

EXIT_REJECTED = 3


@click.command()
@click.argument("source")
@index_option
@model_option
@nail_field_option
@click.option("--bm25-only", is_flag=True, help="Do not encode raw text: index the BM25 fields only.")
@click.option("--update", is_flag=True,
              help="Fill the NAIL field of documents already in the index (after `index add-nail-field`).")
@click.option("--no-create", is_flag=True, help="Fail if the index does not exist instead of creating it.")
@click.option("--shards", default=1, show_default=True, help="Primary shards of a new index.")
@click.option("--replicas", default=0, show_default=True, help="Replicas of a new index.")
@click.option("--chunk-size", default=500, show_default=True, help="Documents per bulk request.")
@click.option("--batch-size", default=32, show_default=True, help="Documents per encoder batch.")
@click.option("--top-k", type=int, default=None, help="Keep at most this many tokens per document.")
@click.option("--max-ratio", type=float, default=None,
              help="Drop tokens weighing less than this fraction of the document's largest weight.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Rejects file (JSONL). Default: <index>.rejects.jsonl in the current folder.")
@click.option("--no-resume", is_flag=True, help="Start from the first document even if a run was interrupted.")
@click.option("--strict", is_flag=True, help="Stop at the first rejected document.")
@click.option("--max-retries", default=8, show_default=True,
              help="Retries (exponential backoff) for 429s, timeouts and connection errors.")
@click.option("--device", default=None, help="Encoder device (cpu, cuda); default: cuda if available.")
@ray_options
@click.pass_context
def ingest(ctx: click.Context, source: str, index: str, model: str | None, nail_field: str, bm25_only: bool,
           update: bool, no_create: bool, shards: int, replicas: int, chunk_size: int, batch_size: int,
           top_k: int | None, max_ratio: float | None, rejects_path: Path | None, no_resume: bool, strict: bool,
           max_retries: int, device: str | None, use_ray: bool, address: str | None, actors: int | None,
           block_size: int | None) -> None:
    """Ingest SOURCE (a BEIR folder, a JSONL or Parquet file, or an ir_datasets id) into an index.

    Raw text ({"_id", "title", "text"}) is encoded with the model; pre-encoded records
    ({"id", "features": {token: weight}}) are indexed as they are. A document that cannot be indexed
    goes to the rejects file and the run goes on (exit code 3 at the end); an interrupted run resumes
    where it stopped when run again.

    \b
    Example:
      nail-os ingest ../shared/data/scifact --index scifact
      nail-os --url http://os1:9200,http://os2:9200 ingest scifact/ --index scifact --ray --address auto
    """
    from nail_os.cli.options import client_from
    from nail_os.ingest import IngestOptions, ingest_source

    options = IngestOptions(
        index=index, nail_field=nail_field, chunk_size=chunk_size, encode_batch_size=batch_size, update=update,
        top_k=top_k, max_ratio=max_ratio, strict=strict, resume=not no_resume,
        rejects_path=rejects_path or Path(f"{index}.rejects.jsonl"), max_retries=max_retries,
    )
    if use_ray:
        report = _ingest_on_ray(ctx, source, options, model, bm25_only, not no_create, shards, replicas,
                                ray_options_from(address, actors, block_size, device))
    else:
        report = ingest_source(client_from(ctx), source, options, model=model, encode=not bm25_only,
                               create=not no_create, shards=shards, replicas=replicas, device=device)
    click.echo(f"indexed {report.indexed} documents into {index} in {report.seconds:.1f}s "
               f"({report.docs_per_second:.0f} docs/s); skipped {report.skipped} done earlier; "
               f"{report.retries} retries; {report.rejected} rejected; {report.truncated} truncated")
    if report.truncated:
        click.echo(f"{report.truncated} documents were longer than the encoder reads: only their first tokens were "
                   f"encoded (their ids are logged with -v)", err=True)
    if report.rejected:
        for reason, count in sorted(report.reasons.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {count} × {reason}", err=True)
        click.echo(f"rejects: {report.rejects_path}", err=True)
        ctx.exit(EXIT_REJECTED)


def _ingest_on_ray(ctx: click.Context, source: str, options: object, model: str | None, bm25_only: bool,
                   create: bool, shards: int, replicas: int, ray_options: object) -> object:
    """`ingest --ray`: the workers encode and send; a RayReport has the fields the summary prints."""
    from nail_os.connection import ClusterConfig
    from nail_os.distributed import ingest_corpus_ray
    from nail_os.registry import default_model

    if bm25_only:
        raise click.BadParameter("--ray is for encoding: ingest BM25-only without it", param_hint=["--bm25-only"])
    return ingest_corpus_ray(ctx.find_object(ClusterConfig), source, options, model=model or default_model(),
                             ray_options=ray_options, create=create, shards=shards,  # type: ignore[arg-type]
                             replicas=replicas)
