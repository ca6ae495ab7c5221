#!/usr/bin/env bash
# Training on a device machine, from the repo root. What .carry/ holds this call (any of data.tar.xz,
# debian-text.tar, minilm/, splade-tiny/, mpnet/) is first copied to /tmp/nail-carry, which outlives the call:
# the working tree that travels is limited to 64 MiB, so the inputs can come over several calls
# (`launch.sh stage` in the first ones). With a jobs file, the last call installs the carried wheels, unpacks
# data and weights to /tmp/nail and starts the job queue in its own session (setsid) so that it outlives this
# command; poll.sh reports on it.
# Usage: bash eval/train/launch.sh stage | JOBS_FILE [PARALLEL]
set -euo pipefail
CARRY=/tmp/nail-carry
mkdir -p $CARRY
[ -d .carry ] && cp -r .carry/. $CARRY/
[ -d .whl ] && mkdir -p $CARRY/whl && cp .whl/*.whl $CARRY/whl/ 2>/dev/null || true
if [ "$1" = stage ]; then ls -la $CARRY; exit 0; fi
JOBS=$1
PARALLEL=${2:-3}
ROOT=/tmp/nail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $CARRY/whl/*.whl
rm -rf $ROOT/logs $ROOT/queue $ROOT/runs
mkdir -p $ROOT/data
tar xJf $CARRY/data.tar.xz -C $ROOT/data
[ -f $CARRY/debian-text.tar ] && tar xf $CARRY/debian-text.tar -C $ROOT/data
cp -r $CARRY/minilm $CARRY/splade-tiny $ROOT/
unxz -f $ROOT/minilm/model.safetensors.xz $ROOT/splade-tiny/model.safetensors.xz
if [ -d $CARRY/mpnet ]; then  # the mpnet teacher: its weights came in parts over earlier calls (carry_part.sh)
  cp -r $CARRY/mpnet $ROOT/
  cat /tmp/nail-parts/mpnet-part* | xz -d -T8 > $ROOT/mpnet/model.safetensors
fi
cp -r nail_os eval configs $ROOT/  # the code the queue runs, independent of later calls' working trees
cd $ROOT
export PYTHONPATH=/tmp/site:$ROOT PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
setsid nohup python3 eval/train/run_queue.py --jobs "$JOBS" --parallel "$PARALLEL" --root $ROOT \
  > $ROOT/queue.log 2>&1 < /dev/null &
sleep 60
python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'
cat $ROOT/queue.log
tail -n 3 $ROOT/queue/*.out
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
