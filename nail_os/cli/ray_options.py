"""The `--ray` options of `encode` and `ingest`, declared once; Ray itself is imported only when a run starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def ray_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--ray", "use_ray", is_flag=True,
                     help="Spread the work over a Ray cluster (pip install 'nail-os[ray]'): CPU tasks tokenize, "
                          "one actor per GPU encodes (CPU actors without GPUs)."),
        click.option("--address", default=None,
                     help="--ray: an existing Ray cluster (auto, ray://head:10001); default: start Ray here."),
        click.option("--actors", type=click.IntRange(min=1), default=None,
                     help="--ray: encoder actors; default: one per GPU of the cluster, else one on CPU."),
        click.option("--block-size", type=click.IntRange(min=1), default=None,
                     help="--ray: corpus lines per block, the unit of retry and resume; default: the "
                          "single-process chunk, so the batches (and weights) are the same."),
    ]):
        f = option(f)
    return f


def ray_options_from(address: str | None, actors: int | None, block_size: int | None, device: str | None) -> Any:
    """The library's RayOptions, or a ClickException naming the extra to install when Ray is missing."""
    from nail_os.distributed import RayOptions, import_ray
    from nail_os.encoders import MissingExtraError

    try:
        import_ray()
    except MissingExtraError as exc:
        raise click.ClickException(str(exc)) from exc
    return RayOptions(address=address, actors=actors, block_size=block_size, device=device)
