"""Exceptions a user can hit. Library code raises these; only the CLI prints them.

Every message says what was wrong, the value received, what is valid and how to fix it.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class MiaBenchError(Exception):
    """Base class: an error whose message is meant for the user."""


class UnknownComponentError(MiaBenchError, KeyError):
    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if known else "(none registered)"
        super().__init__(
            f"Unknown {kind} {name!r}.{hint} Known {kind}s: {listing}. "
            f"Run `mia-bench ls {kind}s` to list them with descriptions."
        )
        self.kind, self.name, self.suggestions = kind, name, close

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class InvalidOptionsError(MiaBenchError, ValueError):
    pass


class IncompatibleError(MiaBenchError):
    """An attack needs a capability the target (or dataset) does not offer."""


class ThreatModelViolation(MiaBenchError):
    """An attack tried to use access its threat model does not grant."""


class CorruptCacheError(MiaBenchError):
    """A cache entry failed its integrity check."""


class MissingWeightsError(MiaBenchError, FileNotFoundError):
    pass


class PluginError(MiaBenchError):
    pass


class InvalidDataError(MiaBenchError, ValueError):
    """A user's dataset cannot be used as given (a missing column, an unreadable file, too few
    photos...); the message names the rows or values at fault and what to change."""
