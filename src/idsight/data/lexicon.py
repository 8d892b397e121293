"""Word lists shipped with idsight (``idsight/assets/lexicon/<name>.txt``, UTF-8, one entry a line)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from idsight.errors import UnknownNameError


def assets_dir() -> Traversable:
    """The ``idsight/assets`` folder inside the installed package."""
    return resources.files("idsight") / "assets"


def wordlist_names() -> list[str]:
    """Names of the available word lists (file stems), sorted."""
    folder = assets_dir() / "lexicon"
    return sorted(p.name.removesuffix(".txt") for p in folder.iterdir() if p.name.endswith(".txt"))


@cache
def _load(name: str) -> tuple[str, ...]:
    path = assets_dir() / "lexicon" / f"{name}.txt"
    if not path.is_file():
        raise UnknownNameError(f"unknown word list {name!r} (known: {', '.join(wordlist_names())})")
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line)


def load_wordlist(name: str) -> list[str]:
    """Entries of word list ``name`` in file order (blank lines dropped)."""
    return list(_load(name))
