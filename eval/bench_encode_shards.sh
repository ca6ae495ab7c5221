#!/usr/bin/env bash
# Encode throughput of the whole `nail-os encode` path (read JSONL -> tokenize -> GPU -> top-k -> write JSONL)
# with 1, 2, 4 and 8 worker processes sharing one GPU through `--shard i/n`. One process is bound by its host
# work (tokenizing, building {token: weight} dicts, JSON); n processes put n hosts' worth of it in parallel.
# Usage (on the GPU machine): bash eval/bench_encode_shards.sh CORPUS.jsonl MODEL OUT.json
set -euo pipefail
CORPUS=$1; MODEL=$2; RESULT=$3
DOCS=$(wc -l < "$CORPUS")
WORK=$(mktemp -d)
echo '{"corpus": "'"$CORPUS"'", "docs": '"$DOCS"', "model": "'"$MODEL"'", "rows": [' > "$RESULT"
sep=""
for n in 1 2 4 8; do
  start=$(date +%s.%N)
  for i in $(seq 0 $((n - 1))); do
    python3 -c 'from nail_os.cli.main import main; main()' encode "$CORPUS" -m "$MODEL" -o "$WORK/enc-$n-$i.jsonl" \
      --shard "$i/$n" --batch-size 512 --precision bf16 --quiet --no-resume &
  done
  wait
  seconds=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
  written=$(cat "$WORK"/enc-$n-*.jsonl | wc -l)
  echo "$n workers: $written docs in $seconds s" >&2
  echo "$sep{\"workers\": $n, \"written\": $written, \"seconds\": $seconds, \"docs_per_s\": $(python3 -c "print(round($written / $seconds, 1))")}" >> "$RESULT"
  sep=","
  rm -f "$WORK"/enc-$n-*.jsonl
done
echo '], "gpu": "'"$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"'", "cpus": '"$(nproc)"'}' >> "$RESULT"
cat "$RESULT"
