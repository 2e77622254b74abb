"""First-party plugin: LiRA (online / offline, per-example or fixed variance) with a cached,
growing shadow-model pool, RMIA over the same pool, the global-threshold floor, and
leave-one-out evaluation with a shadow-count sweep."""

from __future__ import annotations

from mia_bench import hookimpl


@hookimpl
def register_attacks(register):
    from .attack import GlobalThreshold, LiRAOffline, LiRAOnline, RMIAOffline, RMIAOnline

    register(LiRAOnline)
    register(LiRAOffline)
    register(GlobalThreshold)
    register(RMIAOnline)
    register(RMIAOffline)


@hookimpl
def register_commands(cli):
    from .loo import lira_loo

    cli.add_command(lira_loo)
