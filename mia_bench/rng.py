"""Randomness discipline: library code draws from named generators, never the global RNG."""

from __future__ import annotations

import contextlib
import random
from typing import Iterator

import numpy as np


@contextlib.contextmanager
def preserve_global_rng() -> Iterator[None]:
    """Restore numpy's and Python's global RNG state after third-party code that draws from
    it (e.g. sklearn's OneClassSVM seeds libsvm from ``np.random``)."""
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
