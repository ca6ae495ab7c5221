#!/usr/bin/env bash
# Averages finished runs on the device machine (`nail-os soup`) into /tmp/nail/soups/NAME; score it with a
# jobs line that has both stages off (eval/train/jobs-session4-soup.txt).
# Usage: bash eval/train/soup.sh NAME MODEL_DIR...
set -euo pipefail
ROOT=/tmp/nail
NAME=$1; shift
export PYTHONPATH=/tmp/site:$ROOT
cd $ROOT && python3 -c 'from nail_os.cli.main import main; main()' soup "$@" -o $ROOT/soups/$NAME
