"""Encryption at rest of the review store's crops and card images, with a key the operator holds.

The key is a Fernet key (AES-128-CBC + HMAC-SHA256, from ``cryptography``), given to every process
that opens the store in ``$IDSIGHT_REVIEW_CRYPT_KEY`` (or to ``ReviewStore(crypt_key=...)``). Make one:

    python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"

With a key, new crops and images are stored sealed (``MARK`` + a Fernet token); without one they are
stored as they are. Reading opens sealed bytes and passes plain ones through, so a store can be
switched to encryption at any time. Sealed bytes met without the key, or with another key, are an
error that says so: never garbage handed on as a PNG.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

from idsight.errors import IdsightError

if TYPE_CHECKING:
    from idsight.review.models import Read

KEY_ENV = "IDSIGHT_REVIEW_CRYPT_KEY"
MARK = b"idsight-fernet1:"


class Sealer:
    """Seals and opens byte strings with one key (or none: ``seal`` is then the identity)."""

    def __init__(self, key: str | None = None) -> None:
        key = os.environ.get(KEY_ENV) if key is None else key
        self._fernet = None
        if key is not None and key.strip():
            from cryptography.fernet import Fernet

            try:
                self._fernet = Fernet(key.strip().encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                raise IdsightError(
                    f"the review store's encryption key (${KEY_ENV}) is not a Fernet key "
                    "(32 url-safe base64 bytes; see idsight.review.sealing)"
                ) from None

    @property
    def active(self) -> bool:
        return self._fernet is not None

    def seal(self, data: bytes) -> bytes:
        return data if self._fernet is None else MARK + self._fernet.encrypt(data)

    def open(self, data: bytes) -> bytes:
        if not data.startswith(MARK):
            return data
        if self._fernet is None:
            raise IdsightError(f"the store's crops are encrypted: set ${KEY_ENV} to its key")
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(data[len(MARK) :])
        except InvalidToken:
            raise IdsightError(f"the store's crops were encrypted with another key than ${KEY_ENV}") from None

    def seal_read(self, read: Read) -> Read:
        if self._fernet is None:
            return read
        image = None if read.image_png is None else self.seal(read.image_png)
        return replace(read, crops={k: self.seal(v) for k, v in read.crops.items()}, image_png=image)

    def open_read(self, read: Read) -> Read:
        image = None if read.image_png is None else self.open(read.image_png)
        return replace(read, crops={k: self.open(v) for k, v in read.crops.items()}, image_png=image)
