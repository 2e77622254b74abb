"""Attack outputs cached by content, so a warm run into a fresh results folder recomputes
no attack: only the metrics, the leaderboard and the plots.

An output is a function of what the attack saw and of the code that computed it, and the
key holds exactly those: the attack's name, version and resolved options (hence its random
stream), the unit, the run seed and the cross-fit folds; the target's fingerprint (a hash
of its weights, so a defense or a retrained model is another key) and the split's; and a
hash of the source of the packages involved (mia-bench's core, the attack's plugin, the
target's plugin), so editing an attack without bumping its version still recomputes it.
``mia-bench run --rerun`` bypasses the cache. Entries are ordinary cache entries: their
files are hashed in a manifest, and a damaged one is rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .attack import AttackOutput
from .cache import atomic_write_json, stable_hash

if TYPE_CHECKING:
    from .attack import Attack
    from .target import Target

KIND = "attack-outputs"
VERSION = "outputs/1"


@lru_cache(maxsize=None)
def package_fingerprint(package: str) -> str:
    """sha256 of every ``.py`` file of an imported top-level package (path and bytes)."""
    module = importlib.import_module(package)
    files = getattr(module, "__file__", None)
    if files is None:  # a namespace package: nothing to hash but its name
        return stable_hash({"namespace": package})
    root = Path(files).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _package(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def output_key(cell_key: str, attack: "Attack", target: "Target | None", split_fingerprint: str,
               folds: int) -> str:
    packages = sorted({"mia_bench", _package(attack), *([_package(target)] if target is not None else [])})
    return stable_hash({
        # the cell (attack spec, target spec and control, dataset, defense, seed, unit): a target
        # whose fingerprint failed to tell two models apart still cannot share an output
        "version": VERSION, "cell": cell_key, "attack": attack.name, "attack_version": attack.version,
        "options": attack.options.model_dump() if attack.options is not None else {},
        "target": None if target is None else target.fingerprint, "split": split_fingerprint,
        "folds": folds if attack.supervised else None,
        "code": {p: package_fingerprint(p) for p in packages},
    })


def output_arrays(output: AttackOutput) -> dict[str, np.ndarray]:
    """An output's arrays as a cell's score file holds them (``feature_`` prefixed)."""
    arrays = {"scores": np.asarray(output.scores)}
    if output.decisions is not None:
        arrays["decisions"] = np.asarray(output.decisions)
    arrays.update({f"feature_{k}": np.asarray(v) for k, v in output.features.items()})
    return arrays


def store(work: Path, output: AttackOutput, seconds: float, counts: dict[str, int]) -> None:
    np.savez(work / "output.npz", **output_arrays(output))
    atomic_write_json(work / "output.json", {"info": output.info, "seconds": seconds, "counts": counts,
                                             "features": list(output.features)})


def load(entry: Path) -> tuple[AttackOutput, float, dict[str, int]]:
    """``(output, the attack's original seconds, its target query counts)``."""
    meta = json.loads((entry / "output.json").read_text())
    with np.load(entry / "output.npz") as z:
        output = AttackOutput(scores=z["scores"], decisions=z["decisions"] if "decisions" in z.files else None,
                              features={k: z[f"feature_{k}"] for k in meta["features"]},
                              # the output is reused, so nothing was trained for it now
                              info={**meta["info"], "output_from_cache": True, "shadow_models_trained": 0})
    return output, float(meta["seconds"]), {k: int(v) for k, v in meta["counts"].items()}
