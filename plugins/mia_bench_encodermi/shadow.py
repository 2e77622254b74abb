"""Shadow encoders under EncoderMI's background-knowledge settings.

Three dimensions, each known or not (8 settings). Known: the attacker copies the
target's. Unknown: it substitutes an assumed one:

- data: shadow data from the target's distribution (the attacker's population data)
  or from a second, different distribution (another dataset, ``pii-avatars`` by default);
- architecture: the target's, or another registered one;
- training algorithm: CLIP image-text contrastive, or SimCLR-style image-only.

The shadow set mirrors the target's protocol: half the shadow identities are shadow
members (their first ``train_photos`` photos are trained on, with half the background
pairs), the other half are shadow non-members. Shadow encoders are trained by the target
plugin's ``build_shadow`` and cached by content hash, so a second run trains nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mia_bench.attack import AttackContext
from mia_bench.cache import stable_hash
from mia_bench.data import Samples
from mia_bench.errors import IncompatibleError, InvalidOptionsError

SETTINGS = tuple((d, a, t) for d in (True, False) for a in (True, False) for t in (True, False))


def setting_label(know_data: bool, know_arch: bool, know_algorithm: bool) -> str:
    known = [n for n, k in (("data", know_data), ("arch", know_arch), ("algorithm", know_algorithm)) if k]
    return "+".join(known) if known else "none"


@dataclass
class ShadowSet:
    train: Samples  # what the shadow encoder is trained on
    rows: Samples  # labelled rows for the inference classifier
    labels: np.ndarray
    source: str


def shadow_pool(context: AttackContext, know_data: bool, alt_data: str) -> tuple[Samples, Samples, str]:
    """(identity photos, background pairs, source name) the shadow set is drawn from."""
    aux = context.auxiliary
    if aux.population is None or len(aux.population) == 0:
        raise InvalidOptionsError("EncoderMI needs population data for shadow training; the split gives the attacker "
                                  "none. Set n_population > 0 in the dataset options.")
    if know_data:
        background = aux.population_background
        return aux.population, background if background is not None else aux.population.subset([]), "target distribution"
    from mia_bench.api import resolve

    world = resolve("dataset", alt_data).load_world(context.cache)
    if world.modality != context.modality:
        raise IncompatibleError(f"alt_data={alt_data!r} is {world.modality} data, but the target is {context.modality}: "
                                f"set alt_data to a {context.modality} dataset of another distribution (mia-bench ships "
                                "one second distribution, pii-avatars, for images only)")
    # Same amounts as the attacker's own-distribution data, so only the distribution differs.
    rng = np.random.default_rng([context.seed, 0xA17])
    n_ident = len(set(aux.population.identities))
    idents = sorted(set(world.pii.identities))
    if len(idents) < n_ident:
        raise InvalidOptionsError(f"alt_data={alt_data!r} has {len(idents)} identities; {n_ident} are needed")
    chosen = set(rng.choice(idents, n_ident, replace=False).tolist())
    pii = world.pii.subset([i for i, x in enumerate(world.pii.identities) if x in chosen])
    n_bg = min(len(world.background), len(aux.population_background) if aux.population_background is not None else 0)
    background = world.background.subset(np.sort(rng.choice(len(world.background), n_bg, replace=False)))
    return pii, background, alt_data


def shadow_set(pii: Samples, background: Samples, train_photos: int, seed: int, source: str) -> ShadowSet:
    """Split the pool into shadow members / non-members (by identity) and the shadow training set."""
    rng = np.random.default_rng([seed, 0x5AD0])
    idents = sorted(set(pii.identities))
    order = [idents[i] for i in rng.permutation(len(idents))]
    members, nonmembers = order[: len(order) // 2], order[len(order) // 2 :]
    head = {}
    for i, ident in enumerate(pii.identities):
        head.setdefault(ident, []).append(i)
    mem_rows = [r for x in members for r in head[x][:train_photos]]
    non_rows = [r for x in nonmembers for r in head[x][:train_photos]]
    bg = rng.permutation(len(background))[: len(background) // 2]
    train = Samples.concat([pii.subset(mem_rows), background.subset(np.sort(bg))])
    labels = np.array([True] * len(mem_rows) + [False] * len(non_rows))
    return ShadowSet(train, pii.subset(mem_rows + non_rows), labels, source)


def shadow_seed(seed: int) -> int:
    """Shadow training seed from the run seed: the same for V, S and T, so they share shadows."""
    return int(stable_hash(["encodermi-shadow", seed], 8), 16)


def shadow_builder(context: AttackContext, shadow_target: str | None):
    """``build_shadow`` of the target's plugin, or of ``shadow_target`` when given."""
    build = context.build_shadow
    if shadow_target is not None:
        from mia_bench.api import resolve

        build = getattr(resolve("target", shadow_target), "build_shadow", None)
    if build is None:
        raise IncompatibleError(
            "EncoderMI trains shadow encoders, but this target's plugin cannot build shadow models (e.g. a pretrained "
            "model). Set shadow_target to a target trained here, e.g. shadow_target=\"clip-micro-vit\"."
        )
    return build


def pick_arch(context: AttackContext, know_arch: bool, alt_arch: str | None, build) -> str:
    """The target's architecture when known; else ``alt_arch``, or another architecture of
    the same size class the shadow builder offers (e.g. micro ViT -> micro ResNet)."""
    target_arch = context.target_recipe.get("arch")
    if know_arch:
        if target_arch is None:
            raise IncompatibleError(
                f"the target's architecture is unknown to mia-bench (target {context.target_recipe.get('name')!r}); "
                "set know_arch=false (and alt_arch) to attack it with shadows of another architecture"
            )
        return target_arch
    if alt_arch:
        return alt_arch
    offered = list(getattr(getattr(build, "__self__", None), "shadow_architectures", lambda: ())())
    size = (target_arch or "").split("-")[1:2]
    others = sorted((a for a in offered if a != target_arch), key=lambda a: a.split("-")[1:2] != size)
    if not others:
        raise InvalidOptionsError(f"no architecture other than {target_arch!r} is offered for shadows; set alt_arch")
    return others[0]


def build_shadow_encoder(context: AttackContext, shadow: ShadowSet, build, arch: str, algorithm: str):
    """The shadow encoder (a Target), trained now or loaded from the cache."""
    return build(shadow.train, shadow_seed(context.seed), context.cache, arch=arch, algorithm=algorithm,
                 progress=context.progress)
