#!/usr/bin/env bash
# Stashes the weight parts carried by this device call (.carry/mpnet-partNN) outside the working tree, where
# they stay while the machine is held: a teacher bigger than one call's 64 MiB arrives over several calls,
# and launch.sh joins the parts. Usage (one call per part, carry: [".carry/mpnet-partNN"]):
#   bash eval/train/carry_part.sh
set -euo pipefail
mkdir -p /tmp/nail-parts
cp .carry/mpnet-part* /tmp/nail-parts/
ls -la /tmp/nail-parts
