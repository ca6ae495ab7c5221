"""Run several `nail-os train` jobs on one GPU, `--parallel` at a time (small models leave the GPU idle).

Each line of the jobs file is a config path followed by `--set KEY=VALUE` overrides, exactly as given to
`nail-os train`. On the device machine the packaged names "minilm"/"splade-tiny" map to the folders that
eval/train/pack.sh carried, and logs/outputs go to /tmp (copied back by eval/train/poll.sh).

    python eval/train/run_queue.py --jobs eval/train/jobs-round1.txt --parallel 3
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path


def device_overrides(root: str) -> list[str]:
    teachers = json.dumps({n: f"{root}/{n}" for n in ("minilm", "splade-tiny", "mpnet")})
    return [
        "--set", f"teacher_paths={teachers}",
        "--set", f"data_dir={root}/data",
        "--set", f"output_dir={root}/runs/{{name}}",
        "--set", f"log_dir={root}/logs/{{name}}",
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", required=True)
    ap.add_argument("--parallel", type=int, default=3)
    ap.add_argument("--root", default="/tmp/nail")
    args = ap.parse_args()
    jobs = [shlex.split(line) for line in Path(args.jobs).read_text().splitlines() if line.strip()
            and not line.startswith("#")]
    running: list[tuple[subprocess.Popen, str]] = []
    Path(args.root, "queue").mkdir(parents=True, exist_ok=True)
    while jobs or running:
        running = [(p, n) for p, n in running if p.poll() is None or print(f"done {n} rc={p.returncode}", flush=True)]
        while jobs and len(running) < args.parallel:
            job = jobs.pop(0)
            init = next((a.split("=", 1)[1] for a in job if a.startswith("init=")), None)
            name = next((a.split("=", 1)[1] for a in job if a.startswith("name=")), Path(job[0]).stem)
            extra = list(device_overrides(args.root))
            if init in (None, "minilm", "splade-tiny"):
                cfg_init = init or json.loads(Path(job[0]).read_text()).get("init", "minilm")
                extra += ["--set", f"init={args.root}/{cfg_init}"]
            cmd = [sys.executable, "-c", "from nail_os.cli.train import train; train()", "--config", *job, *extra]
            out = open(Path(args.root, "queue", f"{name}.out"), "w")  # noqa: SIM115 - lives as long as the child
            print(f"start {name}: {shlex.join(cmd)}", flush=True)
            running.append((subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), name))
        time.sleep(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
