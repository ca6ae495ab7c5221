"""Regenerate eval/results/README.md, and each <dataset>/results.md, from every <dataset>/results.json.

    python eval/summarize.py eval/results                       # keep the recorded run time
    python eval/summarize.py eval/results --seconds 1234 --command "eval/run_all"   # what run_all calls
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from nail_os.evaluation.report import render_markdown, write_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path, nargs="?", default=Path("eval/results"))
    parser.add_argument("--seconds", type=float, default=None, help="Wall time of the run that made the results.")
    parser.add_argument("--command", default="eval/run_all", help="The command that made them.")
    args = parser.parse_args()
    # results.md is a view of results.json: re-rendering it picks up table changes without rerunning anything.
    for path in sorted(args.results_dir.glob("*/results.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        (path.parent / "results.md").write_text(render_markdown(results), encoding="utf-8")
    run_info = None
    if args.seconds is not None:
        import os

        from nail_os.evaluation.report import cpu_model

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        run_info = {"command": args.command, "seconds": args.seconds, "machine": f"{cpu_model()}, {cores} cores",
                    "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    print(write_summary(args.results_dir, run_info=run_info))


if __name__ == "__main__":
    main()
