"""Training NAIL models: stage-1 self-supervision, stage-2 contrastive + distillation, in-process eval, and the
unsupervised adaptation of a trained model to a user's corpus (`adapt`).

Importing this package is light; torch loads when `train` or `adapt` runs. The CLI imports it only inside
`nail-os train` and `nail-os adapt`.
"""

from __future__ import annotations

from nail_os.train.adaptation import AdaptError, adapt
from nail_os.train.config import TrainConfig, TrainConfigError

__all__ = ["AdaptError", "TrainConfig", "TrainConfigError", "adapt", "train"]


def train(config: TrainConfig, show_progress: bool = True) -> dict:
    """Run the whole pipeline (see `nail_os.train.loop.train`)."""
    from nail_os.train.loop import train as _train

    return _train(config, show_progress=show_progress)
