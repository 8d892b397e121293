"""MXNet RecordIO, as InsightFace ships its face sets (``train.rec`` + ``train.idx``), without mxnet.

The ``.rec`` file is a sequence of records. Each record is the magic number ``0xced7230a`` (uint32,
little-endian), a uint32 whose low 29 bits are the payload length and whose high 3 bits the
continuation flag (0 whole, 1 first part, 2 middle, 3 last: a payload that contains the magic number is
split there, and the magic is restored when the parts are joined), the payload, then zero padding to 4
bytes. The ``.idx`` file has one line ``key<TAB>byte offset`` per record.

An InsightFace payload is an ``IRHeader`` (``flag`` uint32, ``label`` float32, ``id`` and ``id2``
uint64: struct ``<IfQQ``, 24 bytes), then ``flag`` float32 labels when ``flag > 0``, then the encoded
image. Record 0 of a face set has ``flag > 0`` and labels ``(first identity record, end)``: the
images are records ``1 .. first identity record - 1``, each labelled with its identity.

:class:`RecordReader` reads records by key, streaming (one seek and read each, nothing loaded up
front but the index); :func:`write_records` writes the same format.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from idsight.errors import BadDataError

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_HEADER = struct.Struct("<IfQQ")
_LEN_MASK = (1 << 29) - 1


def pack_header(label: float | list[float], payload: bytes, *, id_: int = 0, id2: int = 0) -> bytes:
    """An InsightFace record payload: the IRHeader (and label array) then ``payload``."""
    if isinstance(label, list):
        return _HEADER.pack(len(label), 0.0, id_, id2) + np.asarray(label, "<f4").tobytes() + payload
    return _HEADER.pack(0, float(label), id_, id2) + payload


def unpack_header(record: bytes, *, source: object = None) -> tuple[list[float], bytes]:
    """``(labels, rest)`` of an InsightFace payload: one label, or the ``flag`` labels of the array."""
    if len(record) < _HEADER.size:
        raise BadDataError(f"a record of {len(record)} bytes is shorter than its 24-byte header", path=source)
    flag, label, _, _ = _HEADER.unpack_from(record)
    rest = record[_HEADER.size :]
    if flag == 0:
        return [float(label)], rest
    if len(rest) < 4 * flag:
        raise BadDataError(f"a record's header announces {flag} labels that it does not hold", path=source)
    return np.frombuffer(rest, "<f4", count=flag).astype(float).tolist(), rest[4 * flag :]


def _frame(payload: bytes) -> bytes:
    """One record, split at any magic number the payload holds (as MXNet's writer does)."""
    parts = payload.split(_MAGIC_BYTES)
    out = bytearray()
    for i, part in enumerate(parts):
        flag = 0 if len(parts) == 1 else 1 if i == 0 else 3 if i == len(parts) - 1 else 2
        out += _MAGIC_BYTES + struct.pack("<I", (flag << 29) | len(part)) + part + b"\0" * (-len(part) % 4)
    return bytes(out)


def write_records(rec: str | Path, idx: str | Path, records: Iterable[tuple[int, bytes]]) -> int:
    """Write ``(key, payload)`` records to ``rec`` and their offsets to ``idx``; returns the count."""
    n = 0
    with Path(rec).open("wb") as fr, Path(idx).open("w", encoding="ascii") as fi:
        for key, payload in records:
            fi.write(f"{key}\t{fr.tell()}\n")
            fr.write(_frame(payload))
            n += 1
    return n


class RecordReader:
    """Random access to the records of a ``.rec`` file through its ``.idx``; safe to use from
    DataLoader workers (each process opens its own file handle on first use)."""

    def __init__(self, rec: str | Path, idx: str | Path | None = None) -> None:
        self.rec = Path(rec)
        self.idx = Path(idx) if idx is not None else self.rec.with_suffix(".idx")
        for p in (self.rec, self.idx):
            if not p.is_file():
                raise BadDataError("no such file", path=p)
        self.offsets: dict[int, int] = {}
        for n, line in enumerate(self.idx.read_text(encoding="ascii", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise BadDataError(f"line {n} is not `key<TAB>offset`: {line[:60]!r}", path=self.idx)
            self.offsets[int(parts[0])] = int(parts[1])
        self.size = self.rec.stat().st_size
        self._fh: BinaryIO | None = None
        self._pid = 0

    def keys(self) -> list[int]:
        return sorted(self.offsets)

    def _file(self) -> BinaryIO:
        import os

        if self._fh is None or self._pid != os.getpid():
            self._fh, self._pid = self.rec.open("rb"), os.getpid()
        return self._fh

    def read(self, key: int) -> bytes:
        """The payload of record ``key`` (its parts joined)."""
        if key not in self.offsets:
            raise BadDataError(f"no record {key} in the index", path=self.idx)
        fh, out = self._file(), bytearray()
        fh.seek(self.offsets[key])
        while True:
            head = fh.read(8)
            if len(head) < 8:
                raise BadDataError(f"record {key} is cut short at the end of the file", path=self.rec)
            magic, word = struct.unpack("<II", head)
            if magic != MAGIC:
                raise BadDataError(
                    f"record {key}: no RecordIO magic at offset {self.offsets[key]} (0x{magic:08x})",
                    path=self.rec,
                )
            flag, length = word >> 29, word & _LEN_MASK
            part = fh.read(length)
            if len(part) < length:
                raise BadDataError(f"record {key} is cut short at the end of the file", path=self.rec)
            fh.read(-length % 4)
            if flag in (2, 3):
                out += _MAGIC_BYTES
            out += part
            if flag in (0, 3):
                return bytes(out)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fh": None}
