export PYTHONPATH=/tmp/site:/tmp/nail PYTHONUNBUFFERED=1
cd /tmp/nail
T='teacher_paths={"minilm": "/tmp/nail/minilm", "splade-tiny": "/tmp/nail/splade-tiny"}'
for ds in cacm cranfield medline; do
  s=$(date +%s)
  python3 -m nail_os adapt /tmp/nail/data/$ds -o /tmp/nail/runs/adapt-$ds --model /tmp/nail/runs/zs-sup --set "$T" --set "test_sets=[\"$ds/test\"]" --set 'hybrid_weights=[0.3,0.5,0.7]'
  echo "adapt $ds $(( $(date +%s) - s )) s"
  grep -h "test " /tmp/nail/runs/adapt-$ds/logs/*/train.log /tmp/nail/runs/adapt-$ds/logs/train.log 2>/dev/null | tail -2
done
echo adapt done
