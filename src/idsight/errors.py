"""User-facing errors: one clear line naming the file and the problem."""

from __future__ import annotations


class IdsightError(Exception):
    """An error caused by the user's input; the CLI prints it as one line and exits non-zero."""

    exit_code = 2

    def __init__(self, message: str, *, path: object | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class BadImageError(IdsightError):
    """The file is not a readable image, is too large, or holds no card."""


class NoCardError(BadImageError):
    """The image decodes but no ID card was found in it."""


class UnknownNameError(IdsightError):
    """An unknown template, model or component name."""


class BadModelError(IdsightError):
    """A model artifact that is missing, corrupt or incompatible."""


class BadConfigError(IdsightError):
    """A config file that does not parse or does not validate."""


class OutputError(IdsightError):
    """A file or folder the user asked to write cannot be written there."""


class BadDataError(IdsightError):
    """A data set file or folder that is missing, malformed or inconsistent."""


class MissingDependencyError(IdsightError):
    """An optional package that the chosen component needs is not installed."""
