"""Conformance checks for plugin authors: :func:`check_attack`, :func:`check_target`,
:func:`check_split`. Each raises AssertionError with a message naming the component and
the property that failed (pytest rewrites these asserts when the kit is imported under it).
"""

from __future__ import annotations

import tempfile

import numpy as np

from .toy import TOY_RECIPE, ToyTarget, toy_shadow, toy_split


def check_attack(attack, seed: int = 0, unit: str = "pair", strength: float = 1.0) -> dict:
    """Conformance checks for an attack instance on the toy target with a planted signal.

    Checks: one finite float64 score per row; determinism under a seed; the global RNG is
    untouched; scores follow rows when the challenge is permuted (order equivariance).
    Returns ``{"auc": ...}`` on the planted signal (40 members vs 40 non-members) for the
    caller to assert on. Supervised attacks are cross-fitted as the runner does (no row is
    scored by a model that saw its label); shadow model attacks get :func:`toy_shadow` as
    their shadow builder.
    """
    from ..attack import AttackContext
    from ..cache import Cache
    from ..metrics import auc
    from ..runner import challenge_subset, cross_fit, strip_challenge

    workdir = tempfile.TemporaryDirectory(prefix="mia-check-")
    split = toy_split(seed, n=20, n_identities=80)
    challenge, labels = split.challenge(unit)
    challenge = strip_challenge(challenge, attack)
    target = None if attack.model_free else ToyTarget(member_pairs=split.train, strength=strength, seed=seed)

    def run(ch, s):
        ctx = AttackContext(split.auxiliary, np.random.default_rng(s), s, Cache(workdir.name), "image",
                            target_recipe=dict(TOY_RECIPE), build_shadow=toy_shadow, progress=False)
        if attack.supervised:
            rows = [challenge.samples.ids.index(i) for i in ch.samples.ids]
            return cross_fit(attack, target, ch, labels[rows], ctx).scores
        return attack.run(target, ch, ctx).validated(len(ch), attack.name).scores

    # numpy's stub types get_state() as tuple | dict; with legacy=True (the default) it is the tuple
    state = np.random.get_state()[1].copy()  # type: ignore[index]
    a, b = run(challenge, seed), run(challenge, seed)
    after = np.random.get_state()[1]  # type: ignore[index]
    assert np.array_equal(after, state), f"{attack.name} touched the global numpy RNG"
    assert a.dtype == np.float64 and a.shape == (len(challenge),)
    assert np.allclose(a, b), f"{attack.name} is not deterministic under a fixed seed"
    assert np.ptp(a) > 0, f"{attack.name} gives every row the same score"
    if not attack.supervised:  # cross-fitting draws its folds by row order, so only unsupervised scores must follow rows
        perm = np.random.default_rng(1).permutation(len(challenge))
        c = run(challenge_subset(challenge, perm), seed)
        assert np.corrcoef(a[perm], c)[0, 1] > 0.9, f"{attack.name}: scores do not follow rows under permutation"
    value = auc(a, labels)
    workdir.cleanup()
    return {"auc": value}


def _unit_rows(x: np.ndarray, n: int, what: str) -> None:
    assert isinstance(x, np.ndarray) and x.dtype == np.float32, \
        f"{what}: want a float32 array, got {type(x)} {getattr(x, 'dtype', '')}"
    assert x.ndim == 2 and x.shape[0] == n, f"{what}: want shape ({n}, D), got {x.shape}"
    norms = np.linalg.norm(x, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3), f"{what}: rows are not L2-normalised (norms {norms.min():.4f}..{norms.max():.4f})"


def check_target(target, media: np.ndarray, texts: list[str], atol: float = 1e-4) -> None:
    """Conformance checks for a loaded :class:`~mia_bench.target.Target` on a few samples
    of its modality (``media``: uint8 images or float32 waveforms) and captions.

    Checks: ``(N, D)`` float32 L2-normalised text and media embeddings of one width;
    deterministic; batch-invariant (two halves encode like the whole); with capability
    ``"gradients"``, ``preprocess_media`` -> ``media_features`` matches ``encode_media``
    and its gradient reaches the input.
    """
    name = getattr(target, "name", type(target).__name__)
    assert target.modality in ("image", "audio"), f"{name}: modality {target.modality!r} is not image or audio"
    assert isinstance(target.fingerprint, str) and target.fingerprint, f"{name}: needs a non-empty fingerprint"
    n = len(texts)
    assert n >= 2 and len(media) == n, f"check_target needs >= 2 samples and as many texts as media, got {len(media)}/{n}"
    t, m = target.encode_text(texts), target.encode_media(media)
    _unit_rows(t, n, f"{name}.encode_text")
    _unit_rows(m, n, f"{name}.encode_media")
    assert t.shape[1] == m.shape[1], f"{name}: text width {t.shape[1]} != media width {m.shape[1]}"
    assert np.allclose(target.encode_text(texts), t, atol=atol), f"{name}.encode_text is not deterministic"
    half = n // 2
    parts = np.concatenate([target.encode_media(media[:half]), target.encode_media(media[half:])])
    assert np.allclose(parts, m, atol=atol), f"{name}.encode_media depends on how rows are batched"
    if "gradients" not in target.capabilities:
        return
    import torch

    x = target.preprocess_media(media).detach().requires_grad_(True)
    assert tuple(x.shape[1:]) == tuple(target.media_input_shape), (
        f"{name}: preprocess_media gives {tuple(x.shape[1:])}, media_input_shape says {target.media_input_shape}")
    feats = target.media_features(x)
    assert np.allclose(feats.detach().cpu().numpy(), m, atol=1e-3), f"{name}: media_features != encode_media"
    (feats * torch.from_numpy(t).to(feats.device)).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0, f"{name}: no gradient reaches the model input"


def check_split(split) -> None:
    """Conformance checks for a :class:`~mia_bench.data.MembershipSplit`: the membership
    labels are what the training set says, no identity is on both sides, the attacker's
    population and the null control's training set never contain a member, and every
    challenge row has a label."""
    train_ids = set(split.train.ids)
    null_ids = set(split.null_train.ids)
    pairs, pair_labels = split.challenge("pair")
    assert len(pair_labels) == len(pairs.samples), "pair labels and pair challenge differ in length"
    for row, label in zip(pairs.samples.ids, pair_labels.astype(bool)):
        assert (row in train_ids) == label, f"pair {row!r} is labelled {'member' if label else 'non-member'} " \
                                            f"but is {'' if row in train_ids else 'not '}in the training set"
    idents, ident_labels = split.challenge("identity")
    members = {i for i, lab in zip(idents.samples.identities, ident_labels.astype(bool)) if lab}
    nonmembers = {i for i, lab in zip(idents.samples.identities, ident_labels.astype(bool)) if not lab}
    assert not members & nonmembers, f"identities on both sides: {sorted(members & nonmembers)[:5]}"
    trained = {i for i in split.train.identities if i is not None}
    assert members <= trained, f"member identities never trained on: {sorted(members - trained)[:5]}"
    assert not nonmembers & trained, f"non-member identities in the training set: {sorted(nonmembers & trained)[:5]}"
    population = {i for i in split.auxiliary.population.identities if i is not None}
    assert not population & (members | nonmembers), "the attacker's population overlaps the challenge identities"
    null_trained = {i for i in split.null_train.identities if i is not None}
    assert not null_trained & members, f"the null control trains on members: {sorted(null_trained & members)[:5]}"
    assert not null_ids & {r for r, lab in zip(pairs.samples.ids, pair_labels.astype(bool)) if lab}, \
        "the null control trains on member pairs"
    if idents.evidence is not None:
        leaked = set(idents.evidence.ids) & train_ids
        assert not leaked, f"evidence photos are training photos: {sorted(leaked)[:5]}"
