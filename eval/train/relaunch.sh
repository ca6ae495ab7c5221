#!/usr/bin/env bash
# Replace the queue launch.sh started (its running jobs go on) with a new jobs file; optionally stop jobs
# by name first. Usage: bash eval/train/relaunch.sh JOBS_FILE PARALLEL [JOB_TO_STOP ...]
ROOT=/tmp/nail
JOBS=$1; PARALLEL=$2; shift 2
for pid in $(pgrep -f "run_queue.py --jobs"); do kill "$pid"; done
for name in "$@"; do for pid in $(pgrep -f "name=$name "); do kill "$pid"; done; done
cp -r nail_os eval configs $ROOT/
cd $ROOT
export PYTHONPATH=/tmp/site:$ROOT PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
setsid nohup python3 eval/train/run_queue.py --jobs "$JOBS" --parallel "$PARALLEL" --root $ROOT \
  >> $ROOT/queue.log 2>&1 < /dev/null &
sleep 20
tail -n 4 $ROOT/queue.log
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
