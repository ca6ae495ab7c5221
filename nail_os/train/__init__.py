"""Training NAIL models: stage-1 self-supervision, stage-2 contrastive + distillation, in-process eval.

Imports torch; the CLI imports this package only inside `nail-os train`.
"""

from __future__ import annotations

from nail_os.train.config import TrainConfig, TrainConfigError

__all__ = ["TrainConfig", "TrainConfigError", "train"]


def train(config: TrainConfig, show_progress: bool = True) -> dict:
    """Run the whole pipeline (see `nail_os.train.loop.train`)."""
    from nail_os.train.loop import train as _train

    return _train(config, show_progress=show_progress)
