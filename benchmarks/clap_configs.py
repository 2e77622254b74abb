"""Which CLAP configuration trains on this machine in minutes: training and embedding
throughput of every registered CLAP architecture, the cost of a UMID inversion step in
each inversion space, and the time to render the default voices world.

    HF_HUB_OFFLINE=1 python benchmarks/clap_configs.py [--pairs 256] [--epochs 2] [--threads 2]

Writes leaderboards/benchmarks/clap.{json,md}. Not a test: timings depend on the machine
and on what else shares its CPU. Models are random (weights do not change the cost);
audio and captions come from the embedded voices world (pii-voices, default size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=256, help="training pairs per epoch")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up epoch)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "leaderboards" / "benchmarks")
    args = ap.parse_args()

    import numpy as np
    import torch

    from mia_bench.api import resolve
    from mia_bench_clap.builders import ClapRecipe
    from mia_bench_clap.model import ClapTarget, architectures, create_random_model
    from mia_bench_clap.training import train_clap
    from mia_bench_umid.inversion import invert

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    world = resolve("dataset", "pii-voices").build_world()
    world_seconds = time.perf_counter() - t0
    samples = world.pii.subset(range(args.pairs))
    rows = []
    for arch in architectures():
        model = create_random_model(arch, 0)
        params = sum(p.numel() for p in model.audio_branch.parameters())
        with tempfile.TemporaryDirectory() as work:
            train_clap(model, samples, ClapRecipe(epochs=1, checkpoint_every=1), 0, Path(work), torch.device("cpu"), {})
        with tempfile.TemporaryDirectory() as work:  # timed: the harness loop, checkpoints included
            facts = train_clap(model, samples, ClapRecipe(epochs=args.epochs, checkpoint_every=args.epochs), 0,
                               Path(work), torch.device("cpu"), {})
        target = ClapTarget(model, arch, torch.device("cpu"))
        t0 = time.perf_counter()
        target.encode_audio(samples.audio)
        embed_rate = len(samples) / (time.perf_counter() - t0)
        text = target.encode_text(list(samples.texts[:16]))
        inversion = {}
        for space in ("input", "waveform"):
            t0 = time.perf_counter()
            invert(target, text, k=4, steps=5, lr=0.05, space=space, query_seeds=list(range(16)))
            inversion[space] = 16 * 4 * 5 / (time.perf_counter() - t0)
        rows.append({"arch": arch, "audio_params": params, "train_pairs_per_s": facts["pairs_per_second"],
                     "embed_clips_per_s": embed_rate, "inversion_rows_per_s": inversion,
                     "minutes_per_60_epochs_of_500_pairs": 60 * 500 / facts["pairs_per_second"] / 60})
        print(json.dumps(rows[-1]), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"world_seconds": world_seconds, "world_clips": len(world.pii) + len(world.background),
            "threads": args.threads, "pairs": args.pairs, "epochs": args.epochs, "cpu": platform.processor() or
            platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__, "numpy": np.__version__}
    (args.out / "clap.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = ["# CLAP configurations on this machine", "",
             f"`python benchmarks/clap_configs.py --threads {args.threads}`: {meta['cores']} cores, torch "
             f"{meta['torch']}, {args.pairs} pii-voices pairs (16 kHz, 1 s), {args.epochs} timed epochs after a "
             "warm-up epoch, harness loop with checkpoints. Inversion: UMID rows (queries x restarts) per second, "
             f"forward + backward. Rendering the default pii-voices world ({meta['world_clips']} clips of 1 s) "
             f"took {world_seconds:.1f} s.", "",
             "| architecture | audio tower params | train pairs/s | 60 epochs x 500 pairs | embed clips/s | "
             "inversion rows/s (input / waveform) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['arch']}` | {r['audio_params'] / 1e6:.2f} M | {r['train_pairs_per_s']:.0f} | "
                     f"{r['minutes_per_60_epochs_of_500_pairs']:.1f} min | {r['embed_clips_per_s']:.0f} | "
                     f"{r['inversion_rows_per_s']['input']:.0f} / {r['inversion_rows_per_s']['waveform']:.0f} |")
    (args.out / "clap.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
