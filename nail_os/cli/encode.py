"""`nail-os encode`: a corpus -> pre-encoded features JSONL, for `nail-os ingest` or another machine."""

from __future__ import annotations

from pathlib import Path

import click

from nail_os.cli.options import model_option
from nail_os.cli.ray_options import ray_options, ray_options_from


def _parse_shard(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise click.BadParameter(f'"{value}" is not i/n, e.g. 0/4', ctx=ctx, param=param) from None
    if n < 1 or not 0 <= i < n:
        raise click.BadParameter(f'"{value}" needs 0 <= i < n, e.g. 0/4 ... 3/4', ctx=ctx, param=param)
    return i, n


@click.command()
@click.argument("corpus")
@model_option
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Features JSONL to write ({\"id\", \"features\": {token: weight}} per line).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
              help="Documents per forward pass.")
@click.option("--shard", default="0/1", show_default=True, callback=_parse_shard,
              help="Encode shard i of n (by a stable hash of the id): run 0/4 ... 3/4 on four machines.")
@click.option("--top-k", type=click.IntRange(min=1), default=None,
              help="Tokens kept per document; default: the model's top_k.")
@click.option("--top-k-per-token", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Length-aware top-k: a document of n tokens keeps at most max(32, n x this) tokens; "
                   "default: the model's setting.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1...; default: cuda if available.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto",
              show_default=True, help="auto: bf16 on GPU, fp32 on CPU; bf16 is also faster on CPUs with AMX.")
@click.option("--no-resume", is_flag=True, help="Overwrite OUTPUT instead of skipping the ids already in it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@ray_options
def encode(corpus: str, model: str | None, output: Path, batch_size: int, shard: tuple[int, int],
           top_k: int | None, top_k_per_token: float | None, device: str | None, precision: str, no_resume: bool,
           quiet: bool, use_ray: bool, address: str | None, actors: int | None, block_size: int | None) -> None:
    """Encode CORPUS (a BEIR folder, a corpus JSONL or Parquet file, or an ir_datasets id) into features JSONL
    (or, with --ray and an OUTPUT ending in .parquet, Parquet: id, features as a map).

    Each line of OUTPUT is {"id": ..., "features": {token: weight}}, the model's top-k tokens of
    title + " " + text. A run that stops (or is killed) resumes where it was when run again.

    \b
    Example:
      nail-os encode scifact/ --model nail_os/checkpoints/nail-minilm -o scifact.features.jsonl --shard 0/2
      nail-os encode scifact/ -o scifact.features.jsonl --ray --address auto   # on every GPU of a Ray cluster
    """
    from nail_os.corpus import CorpusError
    from nail_os.registry import ModelNotFoundError, default_model

    try:
        from nail_os.model import ConfigError, encode_corpus
    except ImportError as exc:
        raise click.ClickException(f"encoding needs torch: pip install 'nail-os[encode]' ({exc})") from exc
    if output.suffix == ".parquet" and not use_ray:
        raise click.BadParameter("Parquet output is written by --ray; without it, name a .jsonl file",
                                 param_hint=["-o"])
    if use_ray:
        _encode_on_ray(corpus, model or default_model(), output, batch_size, shard, no_resume, quiet,
                       ray_options_from(address, actors, block_size, device),
                       {"top_k": top_k, "precision": precision, "top_k_per_token": top_k_per_token})
        return
    try:
        report = encode_corpus(
            model or default_model(), corpus, output, batch_size=batch_size, shard=shard,
            resume=not no_resume, device=device, show_progress=not quiet, top_k=top_k,
            precision=precision, top_k_per_token=top_k_per_token,  # type: ignore[arg-type]
        )
    except (ModelNotFoundError, ConfigError, CorpusError) as exc:  # CheckpointError is a ModelNotFoundError
        raise click.ClickException(str(exc)) from exc
    skipped = f", {report.already_done} already there" if report.already_done else ""
    others = f", {report.other_shards} in other shards" if report.other_shards else ""
    dupes = f", {report.duplicates} duplicate ids skipped" if report.duplicates else ""
    empty = f", {report.empty} without text skipped" if report.empty else ""
    rate = f"{report.docs_per_second:.1f} docs/s"
    click.echo(f"{report.written} documents encoded ({rate}){skipped}{others}{dupes}{empty}: {report.output}")


def _encode_on_ray(corpus: str, model: str, output: Path, batch_size: int, shard: tuple[int, int], no_resume: bool,
                   quiet: bool, ray_options: object, encoder_options: dict[str, object]) -> None:
    from nail_os.corpus import CorpusError
    from nail_os.distributed import encode_corpus_ray

    if shard != (0, 1):
        raise click.BadParameter("--ray spreads the whole corpus over the cluster: drop --shard",
                                 param_hint=["--shard"])
    options = {k: v for k, v in encoder_options.items() if v is not None}
    try:
        report = encode_corpus_ray(model, corpus, output, ray_options=ray_options,  # type: ignore[arg-type]
                                   batch_size=batch_size, resume=not no_resume, show_progress=not quiet, **options)
    except CorpusError as exc:
        raise click.ClickException(str(exc)) from exc
    skipped = f", {report.blocks_skipped} of {report.blocks} blocks done earlier" if report.blocks_skipped else ""
    dupes = f", {report.duplicates} duplicate ids skipped" if report.duplicates else ""
    empty = f", {report.empty} without text skipped" if report.empty else ""
    click.echo(f"{report.written} documents encoded on Ray ({report.docs_per_second:.1f} docs/s){skipped}{dupes}"
               f"{empty}: {report.output}")
