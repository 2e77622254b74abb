"""Write case 2 of docs/own-data.md: a copy of FOLDER with a `member` column holding the split that
case 1 dealt (seed 0), and the trained-here checkpoint saved as a bare state dict.

    python docs/examples/known_membership.py faces faces-known ~/.cache/mia-bench/targets/clip-micro-vit-.../epoch_030.pt model.pt
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

SPEC = "hf:{}?identity_column=identity&text_column=caption&n_members=75&n_nonmembers=75&n_population=75"


def membership(split) -> dict[str, str]:
    labels = {i: "population" for i in split.world.pii.ids}  # population and null fillers: never trained on
    challenged = set(split.identities.samples.ids)
    for ident, row in zip(split.world.pii.identities, split.world.pii.ids):
        if ident in challenged:
            labels[row] = "non-member"
    for row in split.train.ids:
        if row in labels:
            labels[row] = "member"
    return labels


def main(src: Path, dst: Path, checkpoint: Path, out: Path) -> None:
    import torch

    from mia_bench.plan import build_plan

    provider = next(iter(build_plan(["csa"], ["clip-micro-vit"], [SPEC.format(src)]).datasets.values())).component
    labels = membership(provider.split(provider.build_world(), seed=0))
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    with open(src / "metadata.csv") as fh:
        rows = list(csv.DictReader(fh))
    with open(dst / "metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*rows[0], "member"])
        writer.writeheader()
        writer.writerows({**r, "member": labels.get(r["file_name"], "")} for r in rows)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    torch.save(state["state_dict"], out)
    print(json.dumps({k: sum(v == k for v in labels.values()) for k in ("member", "non-member", "population")}))


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:5]))
