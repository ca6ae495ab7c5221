#!/usr/bin/env bash
# Reports on the job queue launch.sh started and copies finished results to $OUT:
# $OUT/logs.tgz (every job's logs, results.json, loss.png) and, with a job name as argument, that job's
# model folder: small files in $OUT/model-NAME.tgz and model.safetensors split into <= 15 MB parts.
# Usage: bash eval/train/poll.sh [JOB_NAME_TO_FETCH]
ROOT=/tmp/nail
cat $ROOT/queue.log
for f in $ROOT/queue/*.out; do echo "== $f"; grep -E "dev |test |selection|saved|Error|error|Traceback" "$f" | tail -n 12; tail -n 2 "$f"; done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
if [ -n "${OUT:-}" ]; then
  tar czf $OUT/logs.tgz -C $ROOT logs queue queue.log 2>/dev/null
  if [ -n "${1:-}" ] && [ -f $ROOT/runs/$1/model.safetensors ]; then
    tar czf $OUT/model-$1.tgz -C $ROOT/runs/$1 config.json tokenizer.json query_weights.json provenance.json
    split -b 15m -d $ROOT/runs/$1/model.safetensors $OUT/$1.safetensors.part
    sha256sum $ROOT/runs/$1/model.safetensors
  fi
  ls -la $OUT
fi
