"""Export the embedded pii-faces world (300 people x 8 photos, 1,200 background photos) as a
user's imagefolder: metadata.csv with file_name, caption, identity (empty for background rows).

    python docs/examples/export_faces.py faces
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from PIL import Image

from mia_bench_pii.world import PiiWorldConfig, build_pii_world


def main(out: Path) -> None:
    world = build_pii_world(PiiWorldConfig(n_identities=300, photos_per_identity=8, n_background=1200,
                                           image_size=32, seed=0))
    rows = []
    for part, samples in (("people", world.pii), ("things", world.background)):
        (out / part).mkdir(parents=True, exist_ok=True)
        for i, (ident, text) in enumerate(zip(samples.identities, samples.texts)):
            name = f"{part}/{i:05d}.png"
            Image.fromarray(samples.images[i]).save(out / name)
            rows.append({"file_name": name, "caption": text,
                         "identity": world.identity(ident).name if ident else ""})
    with open(out / "metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file_name", "caption", "identity"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} rows written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
