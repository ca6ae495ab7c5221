#!/usr/bin/env bash
# First training command on a device machine (from the repo root, with .carry and .whl carried): installs the
# two eval wheels, unpacks data and weights to /tmp/nail, and starts the job queue in its own session
# (setsid) so it outlives this command; poll.sh reports on it.
# Usage: bash eval/train/launch.sh JOBS_FILE [PARALLEL]
set -euo pipefail
JOBS=$1
PARALLEL=${2:-3}
ROOT=/tmp/nail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
rm -rf $ROOT/logs $ROOT/queue $ROOT/runs
mkdir -p $ROOT/data
tar xJf .carry/data.tar.xz -C $ROOT/data
cp -r .carry/minilm .carry/splade-tiny $ROOT/
unxz $ROOT/minilm/model.safetensors.xz $ROOT/splade-tiny/model.safetensors.xz
if [ -d .carry/mpnet ]; then  # the mpnet teacher: its weights came in parts over earlier calls (carry_part.sh)
  cp -r .carry/mpnet $ROOT/
  cat /tmp/nail-parts/mpnet-part* | xz -d -T8 > $ROOT/mpnet/model.safetensors
fi
cp -r nail_os eval configs $ROOT/  # the code the queue runs, independent of later calls' working trees
cd $ROOT
export PYTHONPATH=/tmp/site:$ROOT PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
setsid nohup python3 eval/train/run_queue.py --jobs "$JOBS" --parallel "$PARALLEL" --root $ROOT \
  > $ROOT/queue.log 2>&1 < /dev/null &
sleep 45
python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'
cat $ROOT/queue.log
tail -n 3 $ROOT/queue/*.out
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
