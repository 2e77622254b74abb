"""Writers of small user datasets for the own-data tests (an imagefolder with metadata.csv,
an audio folder, a saved HF dataset), shared by tests/test_own_data*.py."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def write_imagefolder(folder: Path, n_identities: int = 12, photos: int = 4, n_background: int = 10, size: int = 12,
                      seed: int = 0, extra: dict | None = None) -> list[dict]:
    """Noise 'photos' (all distinct) with metadata.csv: file_name, caption, identity ('' for the
    background rows), plus ``extra`` columns given as {name: function(row dict) -> value}."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_identities):
        for j in range(photos):
            rows.append({"file_name": f"p{i:03d}_{j}.png", "caption": f"a photo of Person{i} Name{i * 7 % 100}.",
                         "identity": f"person{i:03d}"})
    for k in range(n_background):
        rows.append({"file_name": f"bg{k:04d}.png", "caption": f"a pattern number {k}", "identity": ""})
    for row in rows:
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / row["file_name"])
    for name, fn in (extra or {}).items():
        for row in rows:
            row[name] = fn(row)
    write_metadata(folder, rows)
    return rows


def write_metadata(folder: Path, rows: list[dict]) -> None:
    with open(Path(folder) / "metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def hf_spec(folder: Path, **options) -> str:
    base = {"identity_column": "identity", "text_column": "caption", "image_size": 8, "n_members": 3,
            "n_nonmembers": 3, "n_population": 2, "train_photos": 2, "evidence_photos": 2}
    base.update(options)
    return f"hf:{folder}?" + "&".join(f"{k}={v}" for k, v in base.items() if v is not None)
