"""Turn a user's HF dataset into a World, so the shared split protocol applies to it.

Rows with an identity become PII photos (or clips) of that identity. Rows whose identity
is empty or missing (or whose ``background_column`` holds ``background_value``) are
background pairs: non-PII image-caption pairs that every target trained here, and its
null control, trains on (half of them, as for the embedded worlds: a quarter go to the
attacker as known non-members, a quarter to utility), and that no challenge contains.
Without an identity column each row is its own unit (pair-level membership; identity
level then equals pair level, with one photo per "identity" and no held-out evidence).

:func:`check_metadata` reads only the columns (no image or audio is decoded) and reports
every problem it can see before anything is trained; :func:`world_from_dataset` decodes
the media and reports unreadable files and duplicate rows.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mia_bench.data import Identity, Samples, World
from mia_bench.errors import InvalidDataError, InvalidOptionsError
from mia_bench.hfdata import dataset_to_samples, duplicate_groups, identity_value, row_ids
from mia_bench.splits import (MEMBERSHIP_VALUES, SplitConfig, identity_role, identity_shortfall, membership_value,
                              photo_shortfall)

DEFAULT_TEMPLATES = {"image": "a photo of {name}.", "audio": "This audio is from {name}."}


def modality(options) -> str:
    return "audio" if options.audio_column else "image"


def template(options) -> str:
    return options.template or DEFAULT_TEMPLATES[modality(options)]


def _columns(options) -> list[tuple[str | None, str]]:
    media = (options.audio_column, "audio_column") if options.audio_column else (options.image_column, "image_column")
    return [media, (options.text_column, "text_column"), (options.identity_column, "identity_column"),
            (options.name_column, "name_column"), (options.id_column, "id_column"),
            (options.background_column, "background_column"), (options.membership_column, "membership_column"),
            (options.sample_rate_column, "sample_rate_column")]


def background_mask(ds, options) -> list[bool]:
    """True for background rows: an empty identity cell, or ``background_value`` in ``background_column``."""
    column = options.background_column or options.identity_column
    if column is None:
        return [False] * len(ds)
    marks = [identity_value(x) for x in ds[column]]
    if options.background_value is not None:
        value = options.background_value.strip()
        return [m is None or m == value for m in marks] if column == options.identity_column else \
            [m == value for m in marks]
    return [m is None for m in marks]


def unit_ids(ds, options, base_dir: Path | None) -> tuple[list[str], list[str | None]]:
    """Row ids and the identity (unit) of each row; None for background rows."""
    ids = list(row_ids(ds, id_column=options.id_column, image_column=None if options.audio_column else
                       options.image_column, base_dir=base_dir))
    background = background_mask(ds, options)
    if options.identity_column is None:
        return ids, [None if bg else i for i, bg in zip(ids, background)]
    idents = [None if bg else identity_value(x) for x, bg in zip(ds[options.identity_column], background)]
    return ids, idents


# --- metadata checks (validate time) -------------------------------------------------
def check_metadata(ds, options, name: str, base_dir: Path | None = None) -> dict:
    """Check what can be checked from the columns alone; raise one InvalidDataError listing
    every problem, each with what to change. Returns a summary (rows, identities, ...)."""
    missing = [f"column {col!r} (option {opt}) is not in the dataset; columns: {', '.join(ds.column_names)}. "
               f"Set {opt}=<one of those>." for col, opt in _columns(options) if col and col not in ds.column_names]
    _raise(name, missing)
    ids, idents = unit_ids(ds, options, base_dir)
    problems = [_empty_captions(ds, options, ids), _duplicate_ids(ids, options)]
    photos = Counter(i for i in idents if i is not None)
    summary = {"rows": len(ds), "identities": len(photos), "pii_rows": sum(photos.values()),
               "background_rows": len(ds) - sum(photos.values())}
    if options.membership_column or options.members:
        labels, more = membership_by_id(ds, options, base_dir, ids=ids, idents=idents)
        problems += more
        if labels is not None:
            problems.append(_roles_problem(ids, idents, labels))
            summary["membership"] = dict(Counter(labels[i] for i, u in zip(ids, idents) if u is not None))
    else:
        cfg = SplitConfig(**{k: getattr(options, k) for k in SplitConfig.model_fields})
        need = cfg.train_photos + cfg.evidence_photos
        problems.append(photo_shortfall(dict(photos), need, f"train_photos + evidence_photos ({cfg.train_photos} + "
                                                            f"{cfg.evidence_photos})"))
        problems.append(identity_shortfall(len(photos), cfg, name))
    _raise(name, [p for p in problems if p])
    return summary


def _raise(name: str, problems: list[str]) -> None:
    if problems:
        raise InvalidDataError(f"dataset {name!r} cannot be used as given:\n  - " + "\n  - ".join(problems))


def _rows_named(rows: list[int], ids: list[str]) -> str:
    return ", ".join(f"{r} ({ids[r]})" for r in rows[:5]) + (", ..." if len(rows) > 5 else "")


def _empty_captions(ds, options, ids: list[str]) -> str | None:
    empty = [r for r, t in enumerate(ds[options.text_column]) if t is None or not str(t).strip()]
    if not empty:
        return None
    return (f"{len(empty)} rows have an empty caption (column {options.text_column!r}): rows {_rows_named(empty, ids)}. "
            "Write a caption for each, or remove those rows; a contrastive model trains on image-caption pairs.")


def _duplicate_ids(ids: list[str], options) -> str | None:
    dup = [i for i, n in Counter(ids).items() if n > 1]
    if not dup or options.on_duplicate != "error":
        return None
    where = f"column {options.id_column!r}" if options.id_column else "file names"
    return (f"{len(dup)} row ids appear more than once ({where}): {', '.join(map(repr, dup[:5]))}"
            f"{', ...' if len(dup) > 5 else ''}. Remove the repeated rows, or set on_duplicate=drop to keep the "
            "first of each.")


def membership_by_id(ds, options, base_dir: Path | None, ids: list[str] | None = None,
                     idents: list[str | None] | None = None) -> tuple[dict[str, str] | None, list[str]]:
    """row id -> member / non-member / population, from ``membership_column`` or the ``members``
    manifest (one member row id per line; every other row is a non-member); and the problems."""
    if ids is None:
        ids, idents = unit_ids(ds, options, base_dir)
    if options.members:
        return _manifest(Path(options.members).expanduser(), ids, options)
    values = [membership_value(x) for x in ds[options.membership_column]]
    bad = Counter("<empty>" if v is None else v for v, u in zip(values, idents)
                  if u is not None and v not in MEMBERSHIP_VALUES)  # background rows are dealt: any value goes
    if bad:
        listed = ", ".join(f"{v!r} ({n} rows)" for v, n in bad.most_common(5))
        return None, [f"membership column {options.membership_column!r} has values the split does not know: {listed}; "
                      f"valid: {', '.join(MEMBERSHIP_VALUES)}. Map each row to one of those (trained on / not "
                      "trained on and challenged / known to the attacker as outside the training set)."]
    return {i: v for i, v in zip(ids, values) if v is not None}, []


def _manifest(path: Path, ids: list[str], options) -> tuple[dict[str, str] | None, list[str]]:
    if not path.is_file():
        return None, [f"members={path}: no such file. Pass a text file with one member row id per line."]
    listed = {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}
    known = set(ids)
    if not listed & known:
        where = f"column {options.id_column!r}" if options.id_column else "the image file names (or row0000012)"
        return None, [f"members={path}: none of its {len(listed)} ids (e.g. {sorted(listed)[:3]}) is a row id of "
                      f"the dataset; row ids come from {where}, e.g. {ids[:3]}. Set id_column=COL to match."]
    return {i: "member" if i in listed else "non-member" for i in ids}, []


def _roles_problem(ids, idents, labels) -> str | None:
    by_identity: dict[str, list] = {}
    for i, u in zip(ids, idents):
        if u is not None:
            by_identity.setdefault(u, []).append(labels.get(i))
    try:
        roles = Counter(identity_role(u, ls) for u, ls in by_identity.items())
    except InvalidDataError as exc:
        return str(exc)
    if roles["member"] < 2 or roles["non-member"] < 2:
        return (f"the membership gives {roles['member']} member and {roles['non-member']} non-member identities; "
                "a membership-inference benchmark needs at least 2 of each. Label more rows.")
    return None


# --- building the world (load time) --------------------------------------------------
def world_from_dataset(ds, options, name: str, base_dir: Path | None = None) -> World:
    if options.identity_column is None and (options.train_photos != 1 or options.evidence_photos != 0):
        raise InvalidOptionsError(
            "dataset 'hf' without identity_column treats each row as its own unit: set train_photos=1 and "
            "evidence_photos=0, or name the identity column with identity_column=..."
        )
    audio = options.audio_column is not None
    samples = dataset_to_samples(
        ds, image_column=None if audio else options.image_column, text_column=options.text_column,
        id_column=options.id_column, image_size=None if audio else options.image_size,
        audio_column=options.audio_column, sample_rate_column=options.sample_rate_column,
        sample_rate=options.sample_rate, clip_seconds=options.clip_seconds, base_dir=base_dir,
    )
    ids, idents = unit_ids(ds, options, base_dir)
    samples = Samples(tuple(ids), tuple(idents), samples.texts, samples.images, samples.audio, samples.sample_rate)
    keep = _deduplicate(samples, options.on_duplicate, name)
    samples = samples.subset(keep)
    pii_rows = [i for i, u in enumerate(samples.identities) if u is not None]
    pii_rows.sort(key=lambda i: (samples.identities[i], i))  # rows grouped by identity, in dataset order
    pii = samples.subset(pii_rows)
    background = samples.subset([i for i, u in enumerate(samples.identities) if u is None])
    names = _names(ds, options, pii)
    return World(
        name=name,
        identities=tuple(Identity(i, names[i]) for i in dict.fromkeys(pii.identities)),
        pii=pii,
        background=background,
        templates=(template(options),),
        modality=modality(options),
        card={"source": name, "rows": len(ds), "pii_rows": len(pii), "background_rows": len(background),
              "identities": len(set(pii.identities)), "identity_column": options.identity_column,
              "duplicate_rows_dropped": len(ds) - len(keep)},
    )


def _deduplicate(samples: Samples, policy: str, name: str) -> list[int]:
    """Row indices to keep: all (``keep``), the first of each duplicate group (``drop``), or raise."""
    groups = duplicate_groups(samples) if policy != "keep" else []
    if groups and policy == "error":
        kind = "image" if samples.images is not None else "clip"
        shown = "; ".join(" = ".join(f"row {r} ({samples.ids[r]})" for r in g[:3]) for g in groups[:5])
        raise InvalidDataError(
            f"dataset {name!r}: {len(groups)} groups of rows hold the same {kind}: {shown}"
            f"{'; ...' if len(groups) > 5 else ''}. A photo listed twice can be a member and a non-member at once. "
            "Remove the repeated rows, or set on_duplicate=drop to keep the first of each (on_duplicate=keep to "
            "use them as they are)."
        )
    dropped = {r for g in groups for r in g[1:]}
    return [i for i in range(len(samples)) if i not in dropped]


def _names(ds, options, pii: Samples) -> dict[str, str]:
    if options.name_column is None or options.identity_column is None:
        return {i: (t or i) if options.identity_column is None else i for i, t in zip(pii.identities, pii.texts)}
    if options.name_column not in ds.column_names:
        raise InvalidOptionsError(
            f"dataset 'hf': name_column={options.name_column!r} is not a column; columns: {', '.join(ds.column_names)}"
        )
    names = {}
    for i, n in zip(ds[options.identity_column], ds[options.name_column]):
        ident = identity_value(i)
        if ident is not None and n is not None:
            names.setdefault(ident, str(n))
    return {i: names.get(i, i) for i in pii.identities}
