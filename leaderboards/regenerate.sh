#!/usr/bin/env bash
# Regenerates every committed table and plot under leaderboards/ and the README's include blocks.
# Run it from a clean checkout (records carry the git revision; `-dirty` means uncommitted code).
# Leaderboard suites and report commands run the reporting seeds 0, 1, 2 (quick: 0-4); ablations run development
# seeds 100-102 (docs/seeds.md). CPU only; trained targets and shadow models come from the cache when
# present (cold on 2 cores: about two hours, most of it shadow models; warm: minutes).
# The two timing benchmarks at the end need an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
# Start the run folders empty: a record of an older attack version or of a seed no longer in the
# suite would otherwise stay in the folder and in `mia-bench leaderboard`.
for d in quick quick-audio controls-audio lira defenses-quick defenses-encodermi defenses-dp; do rm -rf "leaderboards/$d/cells"; done
rm -rf leaderboards/exposure/run  # umid-exposure resumes from its run folder too
mia-bench run --suite quick --seed 0 --seed 1 --seed 2 --seed 3 --seed 4 --out leaderboards/quick --no-progress
mia-bench run --suite quick-audio --out leaderboards/quick-audio --no-progress
mia-bench run --suite lira-quick --out leaderboards/lira --no-progress
# The CLAP null-target control on ten more seeds (3-12): is its low identity-level CSA on seeds 0-2 chance?
mia-bench run -a csa -a "csa-aug?aggregate=mean" -a blind -t "clap-micro?control=null" -d pii-voices-small \
  $(for s in $(seq 3 12); do echo --seed $s; done) --executor process --workers 2 --out leaderboards/controls-audio --no-progress
mia-bench lira-loo --n-shadows 34 --sweep 2,4,8,16,32 --no-progress  # 32 shadows per target, and the sweep
mia-bench lira-loo --n-shadows 34 --splits independent --sweep 2,4,8,16,32 --no-progress  # Carlini et al.'s masks
mia-bench run --suite defenses-quick --out leaderboards/defenses-quick --no-progress
mia-bench run --suite defenses-encodermi --out leaderboards/defenses-encodermi --no-progress
mia-bench run --suite defenses-dp --out leaderboards/defenses-dp --no-progress  # needs .[dp]
mia-bench umid-ablation --out leaderboards/umid  # development seeds 100, 101, 102: it chooses UMID's defaults
# its two closest candidates again, on development seeds no choice has seen (docs/seeds.md)
mia-bench umid-ablation --seed 103 --seed 104 --seed 105 --variant "space lowres:8" --variant "30 steps, S only" \
  --out leaderboards/umid/recheck
# UMID's inversion steps on CLAP, development seeds (docs/seeds.md)
rm -rf leaderboards/dev/umid-clap/cells
mia-bench run -a "umid?steps=100" -a "umid?steps=30" -a "umid?steps=100&score=ensemble" -a "umid?steps=30&score=ensemble" \
  -t clap-micro -d pii-voices-small --seed 100 --seed 101 --seed 102 --out leaderboards/dev/umid-clap --no-progress
mia-bench umid-exposure --out leaderboards/exposure
mia-bench encodermi-table --rerun --no-progress  # seeds 0, 1, 2
for d in quick quick-audio controls-audio lira defenses-quick defenses-encodermi defenses-dp dev/umid-clap; do
  mia-bench leaderboard --out "leaderboards/$d"  # re-render with the current renderer (runs also write it)
done
python benchmarks/umid_batching.py
python benchmarks/clap_configs.py --threads 2
python benchmarks/throughput.py --threads 1   # idle machine
python benchmarks/suite_time.py --suite quick # idle machine: cold (empty cache) and warm wall time
mia-bench site --out leaderboards/site leaderboards
mia-bench readme README.md                    # the README's include blocks, from the files above
mia-bench readme docs/seeds.md
