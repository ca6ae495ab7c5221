"""What every eval/bench_*.py shares: the node, encoded corpora, index builds, and the results files.

Each benchmark writes `eval/results/bench_<name>.json` (numbers + the machine, versions and command that made
them), `.md` (the table a reader wants) and `.png`. Timing helpers live in `nail_os.evaluation.efficiency`; this file
only glues them to the bench's indices.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch

from nail_os.connection import ClusterConfig, make_client
from nail_os.corpus import Record, read_corpus
from nail_os.ingest import IngestOptions, IngestReport, ingest
from nail_os.mapping import create_index, index_body
from nail_os.tokens import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "results"
DATA = Path(os.environ.get("NAIL_OS_DATA", ROOT.parent / "shared" / "data"))
# Encoded corpora and profiles: reproducible from the commands in performance.md, too big for the repo.
CACHE = Path(os.environ.get("NAIL_OS_BENCH_CACHE", Path.home() / ".cache" / "nail-os" / "bench"))
# The bench node: not 9200, where a developer's own node usually runs.
DEFAULT_URL = os.environ.get("NAIL_OS_URL", "http://127.0.0.1:9250")
# Bulk requests of 1,000 pre-encoded documents are 1-3 MB: well under http.max_content_length (100 MB) and past
# the knee of the bulk-size curve (bench_ingest).
BUILD_CHUNK = 1000


def client(url: str = DEFAULT_URL) -> OpenSearch:
    """The bench's client; force merges and 1M-doc refreshes need more than the default 60 s."""
    return make_client(ClusterConfig(url=url, timeout=600))


def machine(os_client: OpenSearch | None = None) -> dict[str, Any]:
    """Where and with what a result was measured, and how loaded the machine was."""
    info: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)), "loadavg_1_5_15": os.getloadavg(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                           if line.startswith("model name"))
        info["git"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True).stdout.strip()
    except (OSError, StopIteration):
        pass
    import opensearchpy

    info["opensearch_py"] = opensearchpy.__version__ if isinstance(opensearchpy.__version__, str) else \
        ".".join(map(str, opensearchpy.__version__))
    if os_client is not None:
        root = os_client.info()
        nodes = os_client.nodes.info(metric="jvm")["nodes"]
        info["opensearch"] = root["version"]["number"]
        info["nodes"] = len(nodes)
        info["heap"] = sorted({n["jvm"]["mem"]["heap_max_in_bytes"] // 2**20 for n in nodes.values()})
    return info


def write_results(name: str, data: dict[str, Any], markdown: str, figure: Any | None = None) -> Path:
    """eval/results/bench_<name>.{json,md,png}; returns the JSON path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench_{name}.json"
    path.write_text(json.dumps(data, indent=2, default=float) + "\n", encoding="utf-8")
    env = data.get("machine", {})
    footer = (f"\n\nMachine: {env.get('cpu', '?')}, {env.get('cpus', '?')} CPUs (shared; load average at the "
              f"start {env.get('loadavg_1_5_15', '?')}), {env.get('memory_gb', '?')} GB; OpenSearch "
              f"{env.get('opensearch', '-')} ({env.get('nodes', '-')} node(s), heap MB {env.get('heap', '-')}); "
              f"Python {env.get('python', '?')}; git {env.get('git', '?')}.\nCommand: `{env.get('command', '?')}`\n")
    (RESULTS / f"bench_{name}.md").write_text(markdown.rstrip() + footer, encoding="utf-8")
    if figure is not None:
        figure.savefig(RESULTS / f"bench_{name}.png", dpi=110, bbox_inches="tight")
    return path


def encoded_records(corpus: str, model: str = "splade-tiny", path: Path | None = None) -> list[Record]:
    """The corpus's records with the features that `encode_corpus` wrote to `path` (default
    CACHE/<corpus>.<model>.jsonl)."""
    path = path or CACHE / f"{corpus}.{model}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: encode it first: python eval/bench_encode.py --corpus {corpus}")
    features = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            obj = json.loads(line)
            features[obj["id"]] = obj["features"]
    records = [r for r in read_corpus(DATA / corpus) if r.doc_id in features]
    for record in records:
        record.features = features[record.doc_id]
    return records


def build_index(os_client: OpenSearch, index: str, records: Iterable[Record], tokenizer: Tokenizer, *,
                shards: int = 1, text_only: bool = False, top_k: int | None = None, chunk_size: int = BUILD_CHUNK,
                total: int | None = None, source: bool = True, show_progress: bool = True) -> IngestReport:
    """(Re)create `index` and bulk-load `records` through `nail_os.ingest`; `text_only` drops the features
    (the BM25-only twin for size and ingest comparisons), `source=False` disables `_source` (index structures
    only)."""
    os_client.indices.delete(index=index, ignore_unavailable=True)
    if source:
        create_index(os_client, index, shards=shards)
    else:
        body = index_body(shards=shards)
        body["mappings"]["_source"] = {"enabled": False}
        os_client.indices.create(index=index, body=body)
    # Refresh off while loading: each refresh writes a segment, which only the force merge would undo.
    os_client.indices.put_settings(index=index, body={"index": {"refresh_interval": "-1"}})
    stream: Iterable[Record] = records
    if text_only:
        stream = (Record(source=r.source, line=r.line, doc_id=r.doc_id, title=r.title, text=r.text)
                  for r in records)
    options = IngestOptions(index=index, chunk_size=chunk_size, top_k=top_k, resume=False, state_path=None,
                            refresh=True)
    # Text only is what a BM25 user pays: without the tokenizer, ingest adds no token statistics either.
    report = ingest(os_client, stream, options, tokenizer=None if text_only else tokenizer, total=total,
                    show_progress=show_progress)
    os_client.indices.put_settings(index=index, body={"index": {"refresh_interval": "1s"}})
    return report
