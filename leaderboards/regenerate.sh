#!/usr/bin/env bash
# Regenerates every committed table and plot under leaderboards/ and the README block.
# Leaderboard suites run the reporting seeds 0, 1, 2 (see docs/seeds.md).
# CPU only; trained targets and shadow models come from the cache when present (cold: about an hour
# per seed on 2 cores, most of it shadow models; warm: minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
# Start the run folders empty: a record of an older attack version or of a seed no longer in the
# suite would otherwise stay in the folder and in `mia-bench leaderboard`.
for d in quick quick-audio lira defenses-quick defenses-encodermi defenses-dp; do rm -rf "leaderboards/$d/cells"; done
mia-bench run --suite quick --out leaderboards/quick --rerun --no-progress
mia-bench leaderboard --out leaderboards/quick --readme README.md
mia-bench umid-ablation --out leaderboards/umid  # development seed 100: it chooses UMID's defaults (docs/seeds.md)
mia-bench umid-exposure --out leaderboards/exposure
mia-bench run --suite defenses-quick --out leaderboards/defenses-quick --rerun --no-progress
mia-bench privacy-utility --out leaderboards/defenses-quick
mia-bench run --suite defenses-encodermi --out leaderboards/defenses-encodermi --rerun --no-progress
mia-bench encodermi-table --rerun --no-progress
mia-bench run --suite lira-quick --out leaderboards/lira --rerun --no-progress
mia-bench lira-loo --n-shadows 34 --sweep 2,4,8,16,32 --no-progress  # 32 shadows per target, and the sweep
mia-bench run --suite quick-audio --out leaderboards/quick-audio --rerun --no-progress
mia-bench run --suite defenses-dp --out leaderboards/defenses-dp --rerun --no-progress  # needs .[dp]
python benchmarks/umid_batching.py
python benchmarks/throughput.py --threads 1
python benchmarks/clap_configs.py --threads 2
mia-bench site --out leaderboards/site leaderboards
