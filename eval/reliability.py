"""Run the reliability tests (faults, bad input, security, load, a node lost from a cluster) against real nodes
and write their table.

    python eval/reliability.py                      # all of them: about 6 minutes on 2 cores
    python eval/reliability.py -- -k "not load"     # extra arguments after -- go to pytest

Each scenario test records a row (scenario, what happened, documents lost) with `record_property`; this script
runs pytest in-process with a small plugin that collects those rows and each test's outcome, then writes
eval/results/reliability.md and eval/results/reliability.json. A failed test is a row marked FAILED: the table
never claims more than the run showed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/unit/test_bad_input.py",
    "tests/unit/test_properties.py",
    "tests/integration/test_faults.py",
    "tests/integration/test_security.py",
    "tests/integration/test_load.py",
    "tests/integration/test_cluster.py",
]


class Collector:
    """A pytest plugin: every test's outcome and duration, and the rows it recorded."""

    def __init__(self) -> None:
        self.tests: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            props = dict(report.user_properties)
            self.tests.append({
                "test": report.nodeid, "outcome": report.outcome, "seconds": round(report.duration, 1),
                "rows": [json.loads(v) for k, v in report.user_properties if k == "reliability"],
                "load": json.loads(props["load"]) if "load" in props else None,
            })


def render(tests: list[dict[str, Any]], command: str, seconds: float) -> str:
    rows = [(row, t) for t in tests for row in t["rows"]]
    lines = [
        "# Reliability: faults, bad input, security and load against the real node",
        "",
        f"Made by `{command}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d} in {seconds / 60:.1f} min "
        f"({os.cpu_count()} CPUs). Every row is a test that checks, against a real OpenSearch node, that the "
        f"documents sent are in the index exactly once (count, ids, and a checksum over (id, features) read back) "
        f"or are listed in the rejects file with their reason.",
        "",
        "| scenario | what happened | documents lost | test |",
        "|---|---|---|---|",
    ]
    for row, test in rows:
        result = "" if test["outcome"] == "passed" else f" **{test['outcome'].upper()}**"
        name = test["test"].split("::", 1)[1]
        lines.append(f"| {row['scenario']} | {row['happened']} | {row['lost']}{result} | `{name}` |")
    failed = [t for t in tests if t["outcome"] == "failed"]
    passed = sum(t["outcome"] == "passed" for t in tests)
    lines += ["", f"{passed} tests passed, {len(failed)} failed, {len(tests) - passed - len(failed)} skipped/xfailed."]
    lines += [f"- FAILED `{t['test']}`" for t in failed]
    load = next((t["load"] for t in tests if t["load"]), None)
    if load:
        lines += [
            "",
            f"## Latency under load ({load['threads']} search threads, {load['seconds']:.0f} s, ingest running)",
            "",
            f"{load['searches']} searches ({load['searches_per_second']}/s), {load['errors']} errors; "
            f"{load['docs_written_during_load']} documents written meanwhile ({load['write_retries']} retries). "
            f"Client time is the whole request as the Python client sees it (8 threads share one interpreter and "
            f"2 cores with the node); `took` is the engine's own time.",
            "",
            "| mode | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|",
        ]
        for mode, p in load["client_ms"].items():
            lines.append(f"| client, {mode} | {p['p50']} | {p['p95']} | {p['p99']} |")
        took = load["server_took_ms"]
        lines.append(f"| engine `took`, all | {took['p50']} | {took['p95']} | {took['p99']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "results", help="Folder for the results.")
    parser.add_argument("pytest_args", nargs="*", help="Extra pytest arguments (after --).")
    args = parser.parse_args()
    os.chdir(ROOT)
    collector = Collector()
    started = time.monotonic()
    code = pytest.main(["-q", "-p", "no:cacheprovider", *TESTS, *args.pytest_args], plugins=[collector])
    seconds = time.monotonic() - started
    command = "python eval/reliability.py" + "".join(f" {a}" for a in sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reliability.json").write_text(json.dumps({"command": command, "seconds": round(seconds),
                                                           "tests": collector.tests}, indent=1) + "\n")
    (args.out / "reliability.md").write_text(render(collector.tests, command, seconds))
    print(f"wrote {args.out / 'reliability.md'} ({len(collector.tests)} tests, exit {int(code)})")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
