"""The query side and the CLI's start-up must not import torch (the core install has none)."""

from __future__ import annotations

import subprocess
import sys


def test_query_side_and_cli_do_not_import_torch():
    code = (
        "import sys, nail_os, nail_os.cli.main, nail_os.queries, nail_os.search, nail_os.ingest, nail_os.tokens\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'safetensors', 'ray') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported on the query side: {out.stdout.strip()}"


def test_building_a_query_does_not_import_torch():
    code = (
        "import sys\n"
        "from nail_os import QueryOptions, Tokenizer, build_query, resolve_model_dir\n"
        "tok = Tokenizer.from_model_dir(resolve_model_dir('splade-tiny'))\n"
        "build_query('coffee', tok, QueryOptions(mode='hybrid'))\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
