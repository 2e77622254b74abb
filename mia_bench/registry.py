"""Named components (attacks, targets, datasets, defenses) and which plugin gave each.

Components are classes with a ``name`` class attribute, a one-line ``description`` and
an ``Options`` pydantic model. A spec string names one with optional argument and
options: ``NAME[:ARG][?key=value&key=value]``, e.g. ``open_clip:ViT-B-32/laion400m_e32``
or ``csa-aug?n_views=8``. Values are parsed as JSON when they parse, else kept as strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Generic, Iterator, Mapping, TypeVar
from urllib.parse import unquote

from pydantic import BaseModel, ValidationError

from .errors import InvalidOptionsError, MiaBenchError, UnknownComponentError

KINDS = ("attack", "target", "dataset", "defense", "report")
T = TypeVar("T")


@dataclass(frozen=True)
class ComponentSpec:
    """A parsed ``NAME[:ARG][?k=v&...]`` string."""

    name: str
    arg: str | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def parse(cls, text: str | dict) -> "ComponentSpec":
        if isinstance(text, dict):  # from a suite file: {name=..., arg=..., options={...}}
            unknown = set(text) - {"name", "arg", "options"}
            if unknown or "name" not in text:
                raise MiaBenchError(
                    f"A component table needs 'name' and may have 'arg' and 'options'; got keys {sorted(text)}."
                )
            return cls(text["name"], text.get("arg"), dict(text.get("options") or {}))
        head, _, query = text.partition("?")
        name, _, arg = head.partition(":")
        options = {}
        for part in query.split("&") if query else ():
            key, _, value = part.partition("=")
            # percent-decoding only: ``+`` is a plus (``queries=original+flip``), not a space
            options[unquote(key)] = _parse_value(unquote(value))
        return cls(name.strip(), arg or None, options)

    def __str__(self) -> str:
        """The spec string; ``parse(str(spec)) == spec`` exactly, so a process or Ray worker
        that rebuilds a plan from spec strings gets the very same options."""
        out = self.name + (f":{self.arg}" if self.arg else "")
        if self.options:
            out += "?" + "&".join(f"{_escape(k, '=')}={_escape(_format_value(v))}"
                                  for k, v in sorted(self.options.items()))
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "arg": self.arg, "options": dict(self.options)}


def _parse_value(v: str) -> Any:
    """JSON scalars/lists (``3``, ``0.5``, ``true``, ``[1,2]``); anything else, and ``null``, stays a string."""
    try:
        value = json.loads(v)
        return v if value is None else value
    except json.JSONDecodeError:
        return v


def _format_value(v: Any) -> str:
    if isinstance(v, str):  # a string that would parse back as a number/list/bool is written as JSON
        return v if _parse_value(v) == v else json.dumps(v)
    return json.dumps(v, separators=(",", ":"))


def _escape(text: str, also: str = "") -> str:
    """Percent-encode only what would change the parse (``%``, ``&``; ``=`` in keys): every
    other spec prints as it always did, so existing cell keys stay the same."""
    for ch in "%&" + also:
        text = text.replace(ch, f"%{ord(ch):02X}")
    return text


@dataclass(frozen=True)
class Entry(Generic[T]):
    component: T
    plugin: str


class Registry(Generic[T]):
    """Components of one kind, by name, with did-you-mean errors."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, component: T, plugin: str = "?") -> None:
        name = getattr(component, "name", None)
        if not isinstance(name, str) or not name:
            raise MiaBenchError(f"Plugin {plugin!r} registered a {self.kind} without a string 'name': {component!r}")
        if name in self._entries and self._entries[name].component is not component:
            other = self._entries[name].plugin
            raise MiaBenchError(
                f"{self.kind} {name!r} is registered twice: by plugin {other!r} and by {plugin!r}. "
                "Rename one of them or disable a plugin with MIA_BENCH_LOAD_PLUGINS."
            )
        self._entries[name] = Entry(component, plugin)

    def get(self, name: str) -> T:
        return self.entry(name).component

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, self._entries) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def _list_hint(error: Mapping[str, Any]) -> str:
    """A spec string writes a list as JSON: say so when a bare word was given for a list."""
    if error.get("type") == "list_type" and isinstance(error.get("input"), str):
        return f" (write a list in JSON, e.g. {error['loc'][0]}=[\"{error['input']}\"])"
    return ""


def validate_options(component: Any, kind: str, options: dict[str, Any]) -> BaseModel:
    """Validate options against ``component.Options``; errors name the option, value and valid choices."""
    model: type[BaseModel] = getattr(component, "Options", None) or _NoOptions
    known = set(model.model_fields)
    unknown = [k for k in options if k not in known]
    if unknown:
        valid = ", ".join(sorted(known)) or "(none)"
        raise InvalidOptionsError(
            f"{kind} {component.name!r} has no option {', '.join(map(repr, unknown))}. Valid options: {valid}."
        )
    try:
        return model(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}{_list_hint(e)}" for e in exc.errors()
        )
        raise InvalidOptionsError(f"Invalid options for {kind} {component.name!r}: {problems}.") from None


class _NoOptions(BaseModel):
    model_config = {"extra": "forbid"}


def describe_options(component: Any) -> list[dict]:
    model: type[BaseModel] = getattr(component, "Options", None) or _NoOptions
    return [
        {"name": n, "default": f.default if f.default is not None else None, "description": f.description or ""}
        for n, f in model.model_fields.items()
    ]
