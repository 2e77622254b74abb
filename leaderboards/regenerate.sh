#!/usr/bin/env bash
# Regenerates every committed table and plot under leaderboards/ and the README block.
# CPU only; trained targets come from the cache when present (cold: roughly 15 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
mia-bench run --suite quick --out leaderboards/quick --rerun --no-progress
mia-bench leaderboard --out leaderboards/quick --readme README.md
mia-bench umid-ablation --out leaderboards/umid
mia-bench umid-exposure --out leaderboards/exposure
mia-bench run --suite defenses-quick --out leaderboards/defenses-quick --rerun --no-progress
mia-bench privacy-utility --out leaderboards/defenses-quick
python benchmarks/umid_batching.py
