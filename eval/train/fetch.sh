#!/usr/bin/env bash
# Brings one finished job back from the device machine: its model folder (small files in $OUT/model-JOB.tgz,
# model.safetensors in <= 15 MB parts) and the five dev corpora encoded by it on the GPU
# ($OUT/enc-JOB.tar.xz.partNN: `nail-os encode` JSONL per corpus), so that `nail-os eval --features` can
# index them on the CPU machine without encoding there. Usage: bash eval/train/fetch.sh JOB
set -euo pipefail
ROOT=/tmp/nail
JOB=$1
MODEL=$ROOT/runs/$JOB
export PYTHONPATH=/tmp/site:$ROOT PYTHONUNBUFFERED=1
mkdir -p $ROOT/enc/$JOB
for ds in scifact nfcorpus cranfield cacm medline; do
  python3 -c 'from nail_os.cli.main import main; main()' encode $ROOT/data/$ds --model $MODEL \
    -o $ROOT/enc/$JOB/$ds.jsonl --batch-size 128 --precision bf16 --quiet
done
wc -l $ROOT/enc/$JOB/*.jsonl
tar cf - -C $ROOT/enc $JOB | xz -T8 -6 | split -b 15m -d - $OUT/enc-$JOB.tar.xz.part
tar czf $OUT/model-$JOB.tgz -C $MODEL config.json tokenizer.json query_weights.json provenance.json
split -b 15m -d $MODEL/model.safetensors $OUT/$JOB.safetensors.part
sha256sum $MODEL/model.safetensors
tar czf $OUT/logs.tgz -C $ROOT logs queue queue.log
ls -la $OUT
