"""Dataset providers: build a benchmark world and cut it into membership splits.

A provider is registered by a plugin. ``build_world()`` makes the world (it may take a
while: the runner caches it on disk as a HF dataset, keyed by ``world_key()``), and
``split(world, seed)`` cuts it with the shared protocol of :mod:`mia_bench.splits`
unless the provider overrides it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from .splits import SplitConfig, identity_split

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .cache import Cache
    from .data import MembershipSplit, World


class DatasetProvider(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type["BaseModel"] | None] = None
    modality: ClassVar[str] = "image"

    def __init__(self, arg: str | None, options: "BaseModel"):
        self.arg = arg
        self.options = options

    def world_key(self) -> dict:
        """Everything that determines the world (its cache key). Split options excluded."""
        opts = self.options.model_dump() if self.options is not None else {}
        split_fields = set(SplitConfig.model_fields)
        return {"name": self.name, "arg": self.arg, **{k: v for k, v in opts.items() if k not in split_fields}}

    def cacheable(self) -> bool:
        """False for worlds that are cheap to load from their own files (no copy needed)."""
        return True

    @abstractmethod
    def build_world(self) -> "World":
        """Make the world from scratch (or from the user's files)."""

    def split_config(self) -> SplitConfig:
        opts = self.options.model_dump() if self.options is not None else {}
        return SplitConfig(**{k: v for k, v in opts.items() if k in SplitConfig.model_fields})

    def split(self, world: "World", seed: int) -> "MembershipSplit":
        return identity_split(world, self.split_config(), seed, dataset=self.name)

    def input_fingerprint(self) -> str | None:
        """A content hash of the local files the spec names (a dataset folder), or None when
        the spec alone determines the world. It joins the cell keys (and may join
        ``world_key``), so data edited in place is recomputed, never resumed."""
        return None

    def check(self) -> None:
        """Validate the spec cheaply, without reading the data (runs whenever a plan is built)."""

    def check_data(self) -> dict:
        """Read the dataset's metadata only (columns, identities, captions, membership labels;
        no image or audio decoded, no world built) and raise one :class:`~mia_bench.errors.InvalidDataError`
        listing every problem the split would hit, each with what to change. Returns a short
        summary (e.g. rows, identities, background rows) for ``mia-bench validate`` to show.
        Called by ``validate`` and before a run trains anything; embedded worlds need nothing here."""
        return {}

    def load_world(self, cache: "Cache") -> "World":
        """The world, from the cache when present (verified), else built and cached."""
        if not self.cacheable():
            return self.build_world()
        from .cache import stable_hash
        from .errors import CorruptCacheError
        from .hfdata import load_world, save_world

        key = f"{self.name}-{stable_hash(self.world_key())}"

        def build(work):
            save_world(self.build_world(), work / "world")
            return {"world_key": self.world_key()}

        for _attempt in range(2):
            path = cache.get_or_build("worlds", key, build)
            try:
                return load_world(path / "world")
            except CorruptCacheError:
                import shutil

                shutil.rmtree(path)  # manifest fine but content inconsistent: rebuild once
        raise CorruptCacheError(f"world cache {path} is corrupt after a rebuild")
