"""`nail-os eval`: BM25, NAIL and hybrid measured side by side through OpenSearch on one dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nail_os.cli.options import hybrid_normalization_option, model_option, nail_field_option, query_weights_option


def _floats(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    if value.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected comma-separated numbers such as 0.5,1,2") from None


def _modes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    from nail_os.queries import MODES

    modes = tuple(m.strip() for m in value.split(",") if m.strip())
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        shown = ", ".join(bad) if bad else repr(value)
        raise click.BadParameter(f"{shown}: choose from {', '.join(MODES)}")
    return modes


@click.command("eval")
@click.argument("source")
@model_option
@click.option("--split", default="test", show_default=True, help="Qrels split to evaluate (qrels/<split>.tsv).")
@click.option("--index", "-i", default=None, help="Index to build or reuse. Default: eval-<dataset>-<model>.")
@click.option("--modes", default="bm25,nail,hybrid", show_default=True, callback=_modes,
              help="Comma-separated modes to run and time.")
@click.option("--hybrid-weight", default=1.0, show_default=True,
              help="NAIL weight (BM25 weight 1) of the reported hybrid: fixed, not tuned on the test split.")
@click.option("--hybrid-weights", default="0.1,0.2,0.5,1,2,5,10", show_default=True, callback=_floats,
              help="NAIL weights to sweep for the hybrid ('none' to skip).")
@click.option("--tune-split", default=None, help="Also pick the hybrid weight on this split (e.g. train, dev) and "
              "report it on --split.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Results folder [default: nail-os-results/<dataset> in the current folder].")
@click.option("--reindex", is_flag=True, help="Rebuild the index even if a matching one exists.")
@click.option("--depth", default=1000, show_default=True, help="Hits per query in the quality runs.")
@click.option("--latency-repeats", type=click.IntRange(min=1), default=None,
              help="Timed passes over the queries per mode [default: enough for 500 samples, at least 3].")
@click.option("--device", default=None, help="Encoder device (cpu, cuda); default: cuda if available.")
@click.option("--features", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Pre-encoded documents (`nail-os encode` JSONL of SOURCE by --model, e.g. made on a GPU "
              "machine): indexed instead of encoding here.")
@click.option("--seed", default=0, show_default=True, help="Seed of the timing order and the randomisation test.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@nail_field_option
@query_weights_option
@hybrid_normalization_option
@click.pass_context
def eval_(ctx: click.Context, source: str, model: str | None, split: str, index: str | None, modes: tuple[str, ...],
          hybrid_weight: float, hybrid_weights: tuple[float, ...], tune_split: str | None, out: Path | None,
          reindex: bool, depth: int, latency_repeats: int | None, device: str | None, features: Path | None,
          seed: int, no_plots: bool, nail_field: str, query_weights: str, hybrid_normalization: str) -> None:
    """Index SOURCE once, then measure BM25, NAIL and hybrid on its judged queries through OpenSearch.

    SOURCE is a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or an ir_datasets id whose data
    is on disk. Writes results.json, results.md, TREC runs and plots to --out, and prints the quality table.

    \b
    Example:
      nail-os eval ../shared/data/scifact --tune-split train --out eval/results/scifact
      nail-os eval ../shared/data/cacm --hybrid-normalization max --hybrid-weight 1 --hybrid-weights none
    """
    from nail_os.cli.options import client_from
    from nail_os.evaluation import EvalOptions, dataset_name, evaluate
    from nail_os.evaluation.report import environment, quality_table, write_results

    options = EvalOptions(model=model, split=split, index=index, modes=modes,  # type: ignore[arg-type]
                          hybrid_weight=hybrid_weight, sweep_weights=hybrid_weights, tune_split=tune_split,
                          depth=depth, latency_repeats=latency_repeats, reindex=reindex, device=device,
                          features=features, nail_field=nail_field, seed=seed,
                          query_weights=query_weights,
                          hybrid_normalization=hybrid_normalization)  # type: ignore[arg-type]
    client = client_from(ctx)
    env = environment(client, ["nail-os", *sys.argv[1:]])
    result = evaluate(client, source, options)
    out = out or Path("nail-os-results") / dataset_name(source)
    paths = write_results(result, out, env, plots=not no_plots)
    click.echo(quality_table(result.results))
    click.echo(f"results: {paths[0]}", err=True)
