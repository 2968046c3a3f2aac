"""One registry pattern for generators, detectors and datasets.

Plug-ins are found through entry-point groups (``bench.generators``, ``bench.detectors``,
``bench.datasets``): the entry point names the plug-in and points at its class. The
built-in ones are declared in this project's ``pyproject.toml`` exactly like a third
party's, so the harness never imports a plug-in package by name and nothing depends
on how a module is spelled. An entry point is imported only when its name is looked
up (or when every plug-in is listed), so a run imports only the plug-ins it uses.
`register` stays for plug-ins that want a name in code (and for tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Callable, Generic, Iterable, TypeVar

T = TypeVar("T")

#: the distribution whose entry points are the built-in plug-ins
BUILTIN_DISTRIBUTION = "anomaly-aug-bench"


class UnknownNameError(KeyError):
    """A spec or command named a plug-in that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    summary: str
    origin: str  # "builtin" or the entry point's module:attribute


def _summary(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _origin(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = (dist.metadata["Name"] if dist is not None else "") or ""
    return "builtin" if name.replace("_", "-").lower() == BUILTIN_DISTRIBUTION else ep.value


class Registry(Generic[T]):
    """Name → plug-in class, filled from entry points (and `register`)."""

    def __init__(self, kind: str, *, group: str | None = None):
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry[T]] = {}
        self._points: dict[str, EntryPoint] | None = None  # not yet imported
        self._all_loaded = False

    def register(self, name: str, *, aliases: Iterable[str] = ()) -> Callable[[T], T]:
        """Decorator: ``@GENERATORS.register("cutpaste")``; the same class may be registered again."""

        def decorate(obj: T) -> T:
            for key in (name, *aliases):
                existing = self._entries.get(key)
                if existing is not None and existing.obj is not obj:
                    raise ValueError(
                        f"{self.kind} name '{key}' is registered twice "
                        f"({existing.obj!r} and {obj!r}); pick another name"
                    )
                if existing is None:
                    self._entries[key] = Entry(key, obj, _summary(obj), "builtin")
            return obj

        return decorate

    def _entry_points(self) -> dict[str, EntryPoint]:
        if self._points is None:
            self._points = {}
            for ep in entry_points(group=self.group) if self.group else ():
                # the first distribution to claim a name keeps it: one cannot shadow another silently
                self._points.setdefault(ep.name, ep)
        return self._points

    def _load_point(self, name: str) -> None:
        ep = self._entry_points().pop(name, None)
        if ep is None or name in self._entries:
            return
        obj = ep.load()  # importing the module may `register` it (and others) already
        existing = self._entries.get(name)
        if existing is None:
            self._entries[name] = Entry(name, obj, _summary(obj), _origin(ep))
        elif existing.obj is not obj:
            raise ValueError(f"{self.kind} name '{name}': entry point {ep.value} and {existing.obj!r} disagree")

    def _load_all(self) -> None:
        if not self._all_loaded:
            for name in list(self._entry_points()):
                self._load_point(name)
            self._all_loaded = True

    def names(self) -> list[str]:
        self._load_all()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        self._load_all()
        return [self._entries[n] for n in sorted(self._entries)]

    def get(self, name: str) -> T:
        if name not in self._entries:
            self._load_point(name)
        try:
            return self._entries[name].obj
        except KeyError:
            pass
        known = self.names()
        close = [n for n in known if n.startswith(name[:3])] if name else []
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        where = ", ".join(known) if known else (
            f"none (no '{self.group}' entry points: install the project, `pip install -e .`)")
        raise UnknownNameError(f"unknown {self.kind} '{name}'{hint}; registered: {where}") from None

    def __contains__(self, name: str) -> bool:
        if name not in self._entries:
            self._load_point(name)
        return name in self._entries


GENERATORS: Registry[Any] = Registry("generator", group="bench.generators")
DETECTORS: Registry[Any] = Registry("detector", group="bench.detectors")
DATASETS: Registry[Any] = Registry("dataset", group="bench.datasets")
