#!/usr/bin/env bash
# Encodes the real-text scale corpus of eval/bench_scale.py on the device machine, in the background, with
# the shipped model (copied to /tmp/nail-carry/nail-minilm by an earlier call): the five debian-text files
# and debian-descriptions with the length-aware top-k (n x 2 tokens, at least 32: most are one-line glosses),
# the five test corpora with the full top-256 (bench_scale.py applies the same cut to them on the CPU side,
# and the uncut features also serve the validation check of the cut). Every corpus is timed end to end
# (`nail-os encode`: read, tokenize, encode, top-k, write). The JSONL goes out xz'd in 15 MB parts,
# /tmp/nail/scale/scale.tar.xz.partNN, which later calls bring back a few at a time.
# Usage (after launch.sh): setsid nohup bash eval/train/encode_scale.sh > /tmp/nail/scale.log 2>&1 &
# (TESTS=0: only the Debian text, when the test corpora were encoded elsewhere)
set -euo pipefail
ROOT=/tmp/nail
MODEL=${MODEL:-/tmp/nail-carry/nail-minilm}
OUT_DIR=$ROOT/scale
mkdir -p $OUT_DIR
export PYTHONPATH=/tmp/site:$ROOT PYTHONUNBUFFERED=1
cd $ROOT
encode() {  # CORPUS NAME [options]
  local start end
  start=$(date +%s.%N)
  python3 -m nail_os encode "$1" --model $MODEL -o $OUT_DIR/$2.jsonl --batch-size 256 --precision bf16 \
    --quiet --no-resume "${@:3}"
  end=$(date +%s.%N)
  echo "timing $2 $(wc -l < $OUT_DIR/$2.jsonl) docs $(awk "BEGIN {print $end - $start}") s"
}
for f in $ROOT/data/debian-text/*.jsonl.gz; do
  encode "$f" "debian-text-$(basename "$f" .jsonl.gz)" --top-k-per-token 2
done
encode $ROOT/data/debian-descriptions debian-descriptions --top-k-per-token 2
[ "${TESTS:-1}" = 1 ] && for ds in scifact nfcorpus cranfield cacm medline; do encode $ROOT/data/$ds $ds; done
nvidia-smi --query-gpu=name --format=csv,noheader
tar cf - -C $ROOT scale/*.jsonl | xz -T8 -6 | split -b 15m -d - $OUT_DIR/scale.tar.xz.part
ls -la $OUT_DIR
echo "scale encode done"
