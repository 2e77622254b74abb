"""The harness's training machinery, shared by every target plugin that trains models here.

A plugin supplies the model and one function, ``step(batch_indices, generator) -> loss``
(its algorithm's loss on a batch of the training set it holds in memory); this module
runs the rest the same way for CLIP, CLAP and shadow models: AdamW with a cosine
schedule and warm-up, per-epoch checkpoints for early stopping, and ``resume.pt``
rewritten at the end of an epoch (at most every ``RESUME_EVERY_SECONDS``) so a killed
training resumes where it stopped. Checkpoints are written on a background thread from a
copy of the weights, so the loop does not wait on serialisation.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, Field, model_serializer

from .errors import IncompatibleError, InvalidOptionsError
from .target import BuildRequest, Target, TargetBuilder


class TrainingRecipe(BaseModel):
    """How a model is trained. Every field is part of the model's cache key."""

    epochs: int = Field(30, ge=1, description="training epochs")
    batch_size: int = Field(128, ge=2, description="pairs per batch")
    lr: float = Field(2e-3, gt=0, description="peak AdamW learning rate")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay")
    warmup_steps: int = Field(30, ge=0, description="linear warm-up steps")
    checkpoint_every: int = Field(1, ge=1, description="save a checkpoint every k epochs (and the last); "
                                                       "1 = every epoch, for early stopping")
    dp: dict | None = Field(None, description="DP-SGD settings, set by the dp-sgd defense (None: ordinary training)")

    @model_serializer(mode="wrap")
    def _omit_unset_dp(self, handler):
        # Without DP the dump (hence every cache key) is what it was before the field existed.
        data = handler(self)
        if isinstance(data, dict) and data.get("dp") is None:
            data.pop("dp", None)
        return data


def checkpoint_epochs(recipe: TrainingRecipe) -> list[int]:
    """The epochs (1-based) that get a released checkpoint."""
    epochs = [e for e in range(1, recipe.epochs + 1) if e % recipe.checkpoint_every == 0]
    return sorted(set(epochs) | {recipe.epochs})


def lr_at(step: int, total: int, recipe: TrainingRecipe) -> float:
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, total - recipe.warmup_steps)
    return 0.5 * recipe.lr * (1 + math.cos(math.pi * progress))


def save_atomic(obj: dict, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


# A killed training redoes at most this much work; writing resume.pt after every epoch of a
# micro model (about a second) cost a tenth of the loop. Tests set 0 to resume after every epoch.
RESUME_EVERY_SECONDS = 30.0


def _snapshot(obj):
    """A copy of ``obj`` whose tensors are CPU copies (checkpoint files load on any device)."""
    import copy

    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _snapshot(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_snapshot(v) for v in obj)
    return copy.deepcopy(obj)


class CheckpointWriter:
    """Writes checkpoints in order on one background thread; :meth:`close` waits for them all
    and re-raises the first error. ``save`` takes a snapshot (tensors copied) so training can
    go on changing the weights while the file is written."""

    def __init__(self) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mia-bench-checkpoint")
        self._pending: list[Future] = []

    def save(self, obj: dict, path: Path) -> None:
        self._pending.append(self._pool.submit(save_atomic, _snapshot(obj), path))

    def close(self) -> None:
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pending.clear()
            self._pool.shutdown(wait=True)


def training_compute(device="auto") -> dict:
    """What besides code, data, recipe and seed decides the weights a training run ends with,
    for cache keys and records. Float sums split over another number of threads round
    differently, and over tens of epochs those last-bit differences grow into a different
    (equally valid) model: the micro CLAP trained on 1 and on 2 threads ends with weights
    that differ by more than their own size. A cached model is therefore only reused by a run
    that would have trained the same one (a serial run trains on all cores, a worker on one)."""
    import torch

    from .target import pick_device

    dev = pick_device(device) if isinstance(device, str) else torch.device(device)
    out: dict = {"device": dev.type, "torch_threads": torch.get_num_threads()}
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(dev)
    return out


LOGIT_SCALES = ("logit_scale", "logit_scale_a", "logit_scale_t")  # CLIP's, and CLAP's two
MAX_LOGIT_SCALE = math.log(100)


def train_loop(model, n: int, recipe: TrainingRecipe, seed: int, work_dir: Path, device, meta: dict,
               step: Callable, progress: Callable[[int, int, float], None] | None = None,
               unused: tuple[str, ...] = ()) -> dict:
    """Train ``model`` in place on ``n`` in-memory examples; returns training facts.

    ``step(indices, generator) -> loss`` is the algorithm's loss on one batch; the
    generator (seeded by ``seed``, saved in ``resume.pt``) drives shuffling and any
    augmentation, so a resumed run continues the same random stream. Layers that draw
    from torch's global generator (dropout, SpecAugment) get it seeded too, inside a
    forked RNG state: a model depends on its seed, not on what the process ran before.

    ``unused`` names parameters (or module prefixes) that ``step``'s loss never uses; they get
    no gradient either way, and under DP-SGD they are held fixed (opacus needs a per-sample
    gradient for every trainable parameter).
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _loop(model, n, recipe, seed, work_dir, device, meta, step, progress, unused)


def _loop(model, n, recipe, seed, work_dir, device, meta, step, progress, unused=()) -> dict:
    import torch

    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    steps_per_epoch = max(1, n // recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    private = _private(model, recipe, n, steps_per_epoch, unused)  # DP-SGD swaps layers: before the optimizer sees them
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay,
                            **fused_if_supported(model, device))
    if private:
        opt = private.wrap_optimizer(opt)
    start_epoch, facts = _resume(work_dir, model, opt, gen)
    keep = set(checkpoint_epochs(recipe))
    scales = [getattr(model, name) for name in LOGIT_SCALES if hasattr(model, name)]
    writer = CheckpointWriter()
    t0, seen = time.perf_counter(), 0
    last_resume = t0
    try:
        for epoch in range(start_epoch, recipe.epochs):
            order = torch.randperm(n, generator=gen)
            running = 0.0
            for b in range(steps_per_epoch):
                idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size] if not private else private.batch(gen)
                for g in opt.param_groups:
                    g["lr"] = lr_at(epoch * steps_per_epoch + b, total, recipe)
                if private and len(idx) < 2:  # nothing to learn from (a 1-pair contrastive loss is 0): see dp_sgd
                    continue
                loss = step(idx, gen)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    for scale in scales:
                        scale.clamp_(0, MAX_LOGIT_SCALE)
                running += loss.item()
                seen += len(idx)
            facts = {"epoch": epoch + 1, "loss": running / steps_per_epoch}
            state = model.state_dict()  # the writer copies what it keeps
            if private:  # checkpoints hold the original architecture, and each epoch's own epsilon
                facts["dp"] = private.facts(epoch + 1)
            if epoch + 1 in keep:
                released = private.export_state(model) if private else state
                writer.save({**meta, "epoch": epoch + 1, "state_dict": released,
                             **({"dp": facts["dp"]} if private else {})}, work_dir / f"epoch_{epoch + 1:03d}.pt")
            now = time.perf_counter()
            # the last epoch's checkpoint is the result: nothing left to resume
            if epoch + 1 < recipe.epochs and now - last_resume >= RESUME_EVERY_SECONDS:
                writer.save({"epoch": epoch + 1, "state_dict": state, "optimizer": opt.state_dict(),
                             "generator": gen.get_state(), "global_rng": torch.get_rng_state(), "facts": facts},
                            work_dir / "resume.pt")
                last_resume = now
            if progress:
                progress(epoch + 1, recipe.epochs, facts["loss"])
    finally:
        writer.close()  # also on an interrupt: a resume file being written is finished, not torn
    elapsed = time.perf_counter() - t0
    (work_dir / "resume.pt").unlink(missing_ok=True)
    if private:
        private.restore(model)
    model.eval()
    facts.update({"pairs_per_second": seen / elapsed if elapsed > 0 and seen else None,
                  "train_pairs": n, "resumed_from_epoch": start_epoch, "compute": training_compute(device)})
    (work_dir / "training.json").write_text(json.dumps(facts, indent=2))
    return facts


def fused_if_supported(model, device) -> dict:
    """``fused=True`` for AdamW where torch has the kernel (float weights on the CPU or CUDA).

    The fused step is the same update in one kernel per tensor group instead of a Python loop
    over tensors: it trained a micro CLIP 20-25% faster on the CPU here
    (``benchmarks/throughput.py``)."""
    import torch

    kind = torch.device(device).type
    floating = all(p.is_floating_point() for p in model.parameters())
    return {"fused": True} if kind in ("cpu", "cuda") and floating else {}


def _private(model, recipe: TrainingRecipe, n: int, steps_per_epoch: int, unused: tuple[str, ...] = ()):
    """The DP-SGD engine when the recipe asks for it (the dp-sgd defense), else None.

    The engine (opacus-based) lives in the first-party defenses plugin; it is imported only
    when a recipe has ``dp`` set, so ordinary training never needs opacus.
    """
    if recipe.dp is None:
        return None
    from mia_bench_defenses.dp_sgd import PrivateTraining

    return PrivateTraining(model, recipe.dp, n=n, batch_size=recipe.batch_size, steps_per_epoch=steps_per_epoch,
                           epochs=recipe.epochs, unused=unused)


def _resume(work_dir: Path, model, opt, gen) -> tuple[int, dict]:
    import torch

    path = work_dir / "resume.pt"
    if not path.exists():
        return 0, {}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a half-written resume file: start over
        path.unlink(missing_ok=True)
        return 0, {}
    model.load_state_dict(state["state_dict"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    if "global_rng" in state:
        torch.set_rng_state(state["global_rng"])
    return int(state["epoch"]), dict(state.get("facts", {}))


def training_bar(label: str, epochs: int) -> Callable[[int, int, float], None]:
    """A progress callback for :func:`train_loop` that draws an epoch bar with the loss."""
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, desc=f"training {label}", unit="epoch", leave=False, dynamic_ncols=True)

    def update(epoch: int, total: int, loss: float) -> None:
        bar.n = epoch
        bar.set_postfix(loss=f"{loss:.3f}")
        bar.refresh()
        if epoch == total:
            bar.close()

    return update


class TrainedTargetBuilder(TargetBuilder):
    """Base of builders whose targets are trained here, on the split's training pairs.

    It holds the flow every such plugin shares: options checks, the recorded recipe,
    training through the cache (a hit trains nothing), the epoch a defense releases, and
    shadow models (this recipe on other data, last epoch only). A plugin sets the class
    attributes and implements the four hooks below; see the CLIP and CLAP plugins.
    """

    arch: ClassVar[str]
    trains_on_split = True
    Recipe: ClassVar[type[TrainingRecipe]]  # the plugin's recipe; its fields key the cache
    algorithms: ClassVar[dict[str, str]]  # option value -> the name recorded with results
    augmentations: ClassVar[tuple[str, ...]]
    media: ClassVar[str]  # "image" or "audio": what the split must hold
    media_capabilities: ClassVar[frozenset[str]]
    NOT_RECIPE: ClassVar[set[str]] = {"device", "algorithm"}  # options, not recipe fields
    # The plugin's Options: its Recipe's fields plus ``algorithm`` and ``device``. Each plugin
    # declares its own pydantic class, so the core cannot name a narrower type.
    options: Any

    # --- the plugin's hooks -------------------------------------------------------
    def architectures(self) -> tuple[str, ...]:
        """Architectures this plugin can train (shadow models may use any of them)."""
        raise NotImplementedError

    def model_config(self, arch: str) -> dict:
        raise NotImplementedError

    def train_cached(self, arch: str, algorithm: str, samples, recipe: TrainingRecipe, seed: int, cache, kind: str,
                     label: str | None) -> tuple[Path, str, bool]:
        """Train (or fetch) a model; (cache entry path, key, whether it trained now)."""
        raise NotImplementedError

    def load(self, path: Path, epoch: int, arch: str, seed: int, name: str) -> Target:
        raise NotImplementedError

    def check_data(self, samples) -> None:
        """Raise when the training pairs cannot train this model (e.g. a wrong sample rate)."""

    # --- shared flow ----------------------------------------------------------------
    def capabilities(self, modality: str) -> frozenset[str]:
        # other algorithms train the media tower only: the text tower keeps its random init
        caps = self.media_capabilities
        return caps if self.options.algorithm == "clip" else caps - {"text"}

    def check(self) -> None:
        for option, valid in (("algorithm", self.algorithms), ("augment", self.augmentations)):
            value = getattr(self.options, option)
            if value not in valid:
                raise InvalidOptionsError(f"target {self.name!r}: {option}={value!r} is not valid; "
                                          f"valid: {', '.join(valid)}")

    def recipe(self) -> dict:
        return {"name": self.name, "arch": self.arch, "model_cfg": self.model_config(self.arch),
                "recipe": self.options.model_dump(exclude=self.NOT_RECIPE),
                "algorithm": self.algorithms[self.options.algorithm]}

    def build(self, request: BuildRequest) -> Target:
        if request.train is None or request.train.media(self.media) is None:
            raise IncompatibleError(f"target {self.name!r} trains on {self.media}-text pairs, but the split has no "
                                    f"{self.media}; use a dataset with {self.media}")
        self.check_data(request.train)
        recipe = self.Recipe(**request.defense.apply_recipe(self.options.model_dump(exclude=self.NOT_RECIPE)))
        if recipe.dp is not None and self.options.algorithm != "clip":
            # SimCLR's batch holds two views per image: each would be clipped as its own sample
            raise IncompatibleError(f"defense {request.defense.name!r} needs algorithm=clip (one example per "
                                    f"batch row); target {self.name!r} has algorithm={self.options.algorithm!r}")
        label = self.name + (" (null)" if request.control == "null" else "")
        path, key, _ = self.train_cached(self.arch, self.options.algorithm, request.train, recipe, request.seed,
                                         request.cache, "targets", label if request.progress else None)
        epoch = request.defense.release_epoch(recipe.epochs) or recipe.epochs
        available = checkpoint_epochs(recipe)
        if epoch not in available:
            raise InvalidOptionsError(
                f"defense {request.defense.name!r} asks for epoch {epoch}, but target {self.name!r} keeps "
                f"checkpoints at epochs {available}. Pick one of those or set checkpoint_every.")
        target = self.load(path, epoch, self.arch, request.seed, f"{self.name}@{epoch}")
        target.info.update({"cache_key": key, "control": request.control, "checkpoint_epochs": available,
                            "algorithm": self.options.algorithm})
        dp = target.info.get("training", {}).get("dp")
        if dp:  # the released epoch's own epsilon (an early-stopped DP target spent less)
            per_epoch = dp["steps"] // max(1, target.info["training"].get("epoch", recipe.epochs))
            target.info["dp"] = {**{k: v for k, v in dp.items() if k != "epsilon_by_epoch"},
                                 "steps": per_epoch * epoch, "epsilon": dp["epsilon_by_epoch"].get(str(epoch))}
        target.capabilities = self.capabilities(self.media)
        return target

    def shadow_architectures(self) -> tuple[str, ...]:
        return self.architectures()

    def build_shadow(self, samples, seed: int, cache, *, arch: str | None = None, algorithm: str = "clip",
                     recipe: dict | None = None, progress: bool = False) -> Target:
        """A shadow model: this target's recipe (or ``recipe`` overrides), ``arch`` and ``algorithm``,
        trained on ``samples`` and cached by content hash like targets."""
        arch = arch or self.arch
        if arch not in self.architectures():
            raise InvalidOptionsError(f"shadow arch {arch!r} is unknown; valid: {', '.join(self.architectures())}")
        full = self.Recipe(**{**self.options.model_dump(exclude=self.NOT_RECIPE), **(recipe or {})})
        # A shadow is only ever used at its last epoch: per-epoch checkpoints would cost GBs per pool.
        full = full.model_copy(update={"checkpoint_every": full.epochs})
        path, key, trained = self.train_cached(arch, algorithm, samples, full, seed, cache, "shadows",
                                               f"shadow {arch}/{algorithm}" if progress else None)
        target = self.load(path, full.epochs, arch, seed, f"shadow:{arch}/{algorithm}")
        target.info.update({"cache_key": key, "trained_now": trained, "algorithm": algorithm})
        if algorithm != "clip":
            target.capabilities = self.media_capabilities - {"text"}
        return target
