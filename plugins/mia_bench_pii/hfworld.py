"""Turn a user's HF dataset into a World, so the shared split protocol applies to it.

Rows with an identity become PII photos of that identity; without an identity column,
each row is its own unit (pair-level membership; identity-level then equals pair-level,
with one photo per "identity" and no held-out evidence).
"""

from __future__ import annotations

from mia_bench.data import Identity, Samples, World
from mia_bench.errors import InvalidOptionsError


def world_from_dataset(ds, options, name: str) -> World:
    from mia_bench.hfdata import dataset_to_samples

    samples = dataset_to_samples(
        ds,
        image_column=options.image_column,
        text_column=options.text_column,
        identity_column=options.identity_column,
        image_size=options.image_size,
    )
    if options.identity_column is None:
        if options.train_photos != 1 or options.evidence_photos != 0:
            raise InvalidOptionsError(
                "dataset 'hf' without identity_column treats each row as its own unit: set train_photos=1 and "
                "evidence_photos=0, or name the identity column with identity_column=..."
            )
        ids = tuple(f"row{i:07d}" for i in range(len(samples)))
        samples = Samples(ids, ids, samples.texts, samples.images, samples.audio, samples.sample_rate)
        names = {i: t or i for i, t in zip(ids, samples.texts)}
    else:
        names = _names(ds, options, samples)
    order = sorted(range(len(samples)), key=lambda i: (samples.identities[i], i))  # rows grouped by identity
    samples = samples.subset(order)
    identities = tuple(Identity(i, names[i]) for i in dict.fromkeys(samples.identities))
    return World(
        name=name,
        identities=identities,
        pii=samples,
        background=Samples((), (), (), images=None),
        templates=(options.template,),
        card={"source": name, "rows": len(samples), "identity_column": options.identity_column},
    )


def _names(ds, options, samples: Samples) -> dict[str, str]:
    if options.name_column is None:
        return {i: i for i in samples.identities}
    if options.name_column not in ds.column_names:
        raise InvalidOptionsError(
            f"dataset 'hf': name_column={options.name_column!r} is not a column; columns: {', '.join(ds.column_names)}"
        )
    return {str(i): str(n) for i, n in zip(ds[options.identity_column], ds[options.name_column])}
