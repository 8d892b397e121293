"""One registry per component kind, in the manner of torchvision/timm.

Builders are registered under a unique name; registering the same name twice is an error.
Builders take keyword arguments only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from idsight.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named map from names to keyword-only builders of one component kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., T]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(fn: Callable[..., T]) -> Callable[..., T]:
            key = name or fn.__name__
            if key in self._builders:
                raise ValueError(f"duplicate {self.kind} name {key!r}")
            self._builders[key] = fn
            return fn

        return deco

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._builders[name]
        except KeyError:
            known = ", ".join(sorted(self._builders)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def build(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        return name in self._builders


MODELS: Registry[Any] = Registry("model")
TASKS: Registry[Any] = Registry("task")
LOCALIZERS: Registry[Any] = Registry("localizer")
DATASETS: Registry[Any] = Registry("dataset")
RUNTIMES: Registry[Any] = Registry("runtime")
EMBEDDERS: Registry[Any] = Registry("face embedder")
