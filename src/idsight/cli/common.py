"""Shared CLI plumbing: one-line errors, consoles."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from idsight.errors import IdsightError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])
# the database URLs a review store option takes, for its help (rich markup: the bracket is escaped)
DB_URLS = "sqlite:///reviews.db, or postgresql://user@host/db (needs the driver: pip install 'idsight\\[pg]')"


def print_error(message: str) -> None:
    """One escaped line on stderr: ``error: MESSAGE``."""
    err.print(f"[bold red]error:[/] {escape_line(message)}", markup=True, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    print_error(message)
    raise typer.Exit(code)


def one_line_errors(fn: F) -> F:
    """Turn user errors into one line on stderr and a non-zero exit; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IdsightError as e:
            fail(str(e), e.exit_code)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as e:  # an internal error: still one line unless debugging
            if os.environ.get("IDSIGHT_DEBUG"):
                raise
            fail(f"internal error: {type(e).__name__}: {e} (set IDSIGHT_DEBUG=1 for details)", 1)

    return wrapper  # type: ignore[return-value]


def escape_line(s: str) -> str:
    """Whitespace collapsed to single spaces, rich markup escaped."""
    from rich.markup import escape

    return escape(" ".join(s.split()))


def isatty() -> bool:
    return sys.stdout.isatty()
