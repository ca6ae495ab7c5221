"""`nail-os train`: run the whole training pipeline of one config file (stage 1, stage 2, eval, save)."""

from __future__ import annotations

import json
from typing import Any

import click


def apply_overrides(data: dict[str, Any], assignments: tuple[str, ...]) -> dict[str, Any]:
    """`a.b=VALUE` sets data["a"]["b"]; VALUE is read as JSON when it parses, else kept as a string.

    >>> apply_overrides({"stage1": {"epochs": 1}}, ("stage1.epochs=2", "init=splade-tiny"))
    {'stage1': {'epochs': 2}, 'init': 'splade-tiny'}
    """
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=["--set"])
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data


@click.command()
@click.option("--config", "config_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Training config (JSON, or YAML with pyyaml installed): configs/*.json.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Override one config key (dotted, value as JSON), e.g. --set stage2.epochs=1. Repeatable.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False),
              help="Folder of BEIR datasets (default: config data_dir, else $NAIL_OS_DATA, else ../shared/data).")
def train(config_file: str, assignments: tuple[str, ...], data_dir: str | None) -> None:
    """Train a NAIL model from CONFIG end to end; print the test nDCG@10 means as JSON.

    Logs, steps.jsonl, results.json and loss.png go to the config's log_dir; the fp16 model folder
    (config.json, model.safetensors, tokenizer.json, query_weights.json) to its output_dir.

    \b
    Example:
      nail-os train --config configs/nail-minilm.json --set stage2.epochs=1
    """
    from pathlib import Path

    try:
        from nail_os.train import TrainConfig, TrainConfigError
        from nail_os.train import train as run_training
    except ImportError as exc:
        raise click.ClickException(f"training needs torch: pip install 'nail-os[train,eval]' ({exc})") from exc

    text = Path(config_file).read_text(encoding="utf-8")
    try:
        data = json.loads(text) if not config_file.endswith((".yaml", ".yml")) else _yaml(text)
        cfg = TrainConfig.from_dict(apply_overrides(data, assignments))
    except (json.JSONDecodeError, TrainConfigError) as exc:
        raise click.ClickException(f"{config_file}: {exc}") from exc
    if data_dir:
        cfg.data_dir = data_dir
    results = run_training(cfg)
    click.echo(json.dumps({"config": cfg.name, "test_mean_nDCG@10": results["test_mean"]}, indent=2))


def _yaml(text: str) -> dict[str, Any]:
    try:
        import yaml
    except ImportError as exc:
        raise click.ClickException("YAML configs need pyyaml: pip install pyyaml (or use JSON)") from exc
    return yaml.safe_load(text)


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder for the averaged model (config, fp16 weights, tokenizer, query weights).")
def soup(models: tuple[str, ...], output: str) -> None:
    """Average the weights of MODELS, fine-tunings of one parent checkpoint (a uniform model soup).

    Score the result before shipping it, e.g. with `nail-os train` with both stages disabled:

    \b
    Example:
      nail-os soup runs/a runs/b runs/c -o runs/soup
      nail-os train --config configs/nail-minilm-xl.json --set init=runs/soup --set name=soup \\
        --set stage1.enabled=false --set stage2.enabled=false
    """
    try:
        from nail_os.train.soup import average_checkpoints
    except ImportError as exc:
        raise click.ClickException(f"averaging needs torch: pip install 'nail-os[train]' ({exc})") from exc
    path = average_checkpoints(models, output)
    click.echo(f"averaged {len(models)} models into {path}")
