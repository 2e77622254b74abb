"""mia-bench: a plugin-based benchmark for membership inference on contrastive models.

The core is small and imports no plugin; attacks, targets, datasets and defenses are
plugins registered through the ``mia_bench`` entry-point group. Plugin authors need
``hookimpl`` from here and the base classes in ``mia_bench.attack`` / ``.target`` /
``.dataset`` / ``.defense``.
"""

from __future__ import annotations

from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
