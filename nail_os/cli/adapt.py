"""`nail-os adapt`: adapt a trained model to the user's corpus without labels, then encode with it as usual."""

from __future__ import annotations

import click

from nail_os.cli.train import apply_overrides


@click.command()
@click.argument("corpus", type=click.Path())
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(),
              help="New (or empty) folder for the adapted model; a model folder there is overwritten.")
@click.option("-m", "--model", default="nail-minilm", show_default=True,
              help="Trained nail-os model to start from: a name or a folder.")
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Epochs of stage 1 and of stage 2.")
@click.option("--max-pairs", default=100_000, show_default=True, type=click.IntRange(min=0),
              help="Stage-1 pairs (inverse cloze, crops, titles) at most; 0: all the corpus gives (~2 a document).")
@click.option("--pseudo-queries", default=10_000, show_default=True, type=click.IntRange(min=0),
              help="Stage-2 pseudo-queries (BM25 negatives, teacher scores) at most; 0: every pair.")
@click.option("--teachers", default="minilm,splade-tiny,bm25", show_default=True,
              help="Distillation teachers, equal weights, comma-separated ('none': no distillation).")
@click.option("--device", default="auto", show_default=True, help="auto (cuda when there is one), cuda, cpu.")
@click.option("--seed", default=13, show_default=True, type=int, help="Seeds pairs, batches and initialisation.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Override one training config key (as nail-os train), e.g. --set stage1.batch_size=64.")
def adapt(corpus: str, output_dir: str, model: str, epochs: int, max_pairs: int, pseudo_queries: int,
          teachers: str, device: str, seed: int, assignments: tuple[str, ...]) -> None:
    """Adapt MODEL to CORPUS without labels; print the adapted model's folder.

    CORPUS is a BEIR folder (only corpus.jsonl is read: no query, no qrels) or a JSONL(.gz) file of
    documents. Stage 1 trains on inverse-cloze, cropping and title pairs made from it; stage 2 on
    pseudo-queries from it with BM25 hard negatives, distilled from the teachers. With no labels, the model
    after the last epoch is kept. The output is a normal model folder (encode, ingest and eval take it with
    --model) whose provenance.json marks CORPUS as transductive: its text trained the model. Logs go to
    OUTPUT/logs/.

    The defaults are sized for about 100k documents in minutes on one GPU (an estimate: about 5 min on an
    H100); on a CPU, lower --max-pairs and --pseudo-queries.

    \b
    Example:
      nail-os adapt ../shared/data/cacm -o runs/adapt-cacm
      nail-os eval ../shared/data/cacm --model runs/adapt-cacm --out eval/results/adapted/cacm
    """
    try:
        from nail_os.train import adapt as run_adaptation
    except ImportError as exc:
        raise click.ClickException(f"adapting needs torch: pip install 'nail-os[train]' ({exc})") from exc
    names = [] if teachers.strip().lower() == "none" else [t.strip() for t in teachers.split(",") if t.strip()]
    path = run_adaptation(corpus, output_dir, model=model, epochs=epochs, max_pairs=max_pairs,
                          pseudo_queries=pseudo_queries, teachers={n: 1.0 for n in names}, device=device,
                          seed=seed, settings=apply_overrides({}, assignments))
    click.echo(str(path))
