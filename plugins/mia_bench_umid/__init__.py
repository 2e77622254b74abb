"""First-party plugin: identity-level audits: UMID (text-only), its text-geometry baseline, and IDIA."""

from __future__ import annotations

from mia_bench import hookimpl

from .attack import UMID, TextKNN
from .idia import IDIA


@hookimpl
def register_attacks(register):
    register(UMID)
    register(TextKNN)
    register(IDIA)


@hookimpl
def register_commands(cli):
    from .ablation import umid_ablation
    from .exposure import umid_exposure

    cli.add_command(umid_ablation)
    cli.add_command(umid_exposure)
