"""Import laion_clap's model code without the traps of its package.

``import laion_clap`` (1.1.7) runs a package ``__init__`` that appends its own folder
to ``sys.path`` (a top-level ``training`` and a second ``clap_module`` appear) and
loads three hub tokenizers: offline it retries for minutes, and with
``HF_HUB_OFFLINE=1`` it returns broken 5-token tokenizers. The model code in
``laion_clap.clap_module`` needs none of that, so it is imported under a stand-in parent
package that is removed again afterwards: a later ``import laion_clap`` by the user
still runs the real package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings
from functools import lru_cache

from mia_bench.errors import MiaBenchError

INSTALL_HINT = 'pip install "mia-bench[clap]"  (installs laion-clap with a numpy/pyarrow set that imports cleanly)'


@lru_cache(maxsize=1)
def clap_module():
    """``laion_clap.clap_module``, imported without running ``laion_clap/__init__.py``."""
    if "laion_clap.clap_module" in sys.modules:
        return sys.modules["laion_clap.clap_module"]
    spec = importlib.util.find_spec("laion_clap")
    if spec is None or not spec.submodule_search_locations:
        raise MiaBenchError(f"CLAP targets need the laion-clap package, which is not installed. Fix: {INSTALL_HINT}")
    previous = sys.modules.get("laion_clap")
    if previous is None:
        parent = types.ModuleType("laion_clap")
        parent.__path__ = list(spec.submodule_search_locations)
        parent.__spec__ = spec
        sys.modules["laion_clap"] = parent
    path_before = list(sys.path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # timm's deprecated import path inside laion_clap
            module = importlib.import_module("laion_clap.clap_module")
    finally:
        if previous is None:
            del sys.modules["laion_clap"]
        sys.path[:] = path_before
    return module


def pann_blocks():
    """laion_clap's PANN building blocks (ConvBlock, init helpers) and torchlibrosa's front end."""
    clap_module()
    from laion_clap.clap_module import pann_model

    return pann_model
