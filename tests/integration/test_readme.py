"""The README's Python example runs as written (against the test node, into a fresh index) and finds the sample's
vitamin D abstract first."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "README.md has no ```python block"
    return blocks[0]


def test_the_readme_python_example_runs(node_url, index_name, monkeypatch):
    code = readme_python()
    assert 'url="http://127.0.0.1:9200"' in code and '"sample"' in code
    code = code.replace("http://127.0.0.1:9200", node_url).replace('"sample"', repr(index_name))
    monkeypatch.chdir(ROOT)  # the example reads ingest/samples/beir from the repository's root
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own code
    lines = out.getvalue().splitlines()
    assert lines and lines[0].startswith("d1 "), out.getvalue()
