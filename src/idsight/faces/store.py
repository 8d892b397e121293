"""The on-disk embedding store: :class:`EmbeddingStore` (read back memory-mapped, checked on opening) and
:class:`EmbeddingWriter` (written chunk by chunk, ``meta.json`` last).

A store holds the embeddings a pre-trained face embedder computed for one set of images (the base images,
or their offline-augmented copies), each row with its identity label and its image path;
:class:`EmbeddingStore` describes the files. Rows are read back one chunk at a time
(:meth:`EmbeddingStore.chunks`) and the paths streamed from ``paths.txt`` (:meth:`EmbeddingStore.iter_paths`),
so millions of rows never need to fit in memory.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from idsight.errors import BadDataError, OutputError

FORMAT = "idsight-embeddings"
FORMAT_VERSION = 1
META, LABELS, PATHS = "meta.json", "labels.i64", "paths.txt"
DTYPES: dict[str, tuple[str, str]] = {
    "float16": ("<f2", "embeddings.f16"),
    "float32": ("<f4", "embeddings.f32"),
}


class EmbeddingWriter:
    """Writes an :class:`EmbeddingStore` chunk by chunk; ``meta.json`` is written last, by :meth:`close`.

    A store whose writer was not closed (a crash, an exception inside ``with``) has no ``meta.json`` and is
    refused by :meth:`EmbeddingStore.open`.
    """

    def __init__(
        self,
        root: Path,
        dim: int,
        dtype: str,
        identities: list[str] | None,
        num_classes: int | None,
    ) -> None:
        self.root = root
        self.dim = dim
        self.dtype = dtype
        self.identities = identities
        self.num_classes = num_classes
        self.n = 0
        self._np_dtype = np.dtype(DTYPES[dtype][0])
        self._max_label = -1
        self._closed = False
        self._emb = (root / DTYPES[dtype][1]).open("wb")
        self._labels = (root / LABELS).open("wb")
        self._paths = (root / PATHS).open("w", encoding="utf-8", newline="\n")

    def append(
        self, embeddings: np.ndarray, labels: np.ndarray | Sequence[int], paths: Sequence[str]
    ) -> None:
        """Append one chunk: ``embeddings`` (n, dim), ``labels`` (n,) identity indices, ``paths`` (n image paths).

        Raises ValueError (nothing written) on mismatched lengths, a wrong shape, non-integer or out-of-range
        labels, non-finite embeddings (also after casting to float16) or a path that is empty or holds a
        line break.
        """
        if self._closed:
            raise ValueError(f"{self.root}: append() after close()")
        emb = np.asarray(embeddings)
        lab = np.asarray(labels)
        if isinstance(paths, str):
            raise ValueError("paths must be a sequence of strings, not one string")
        paths = list(paths)
        if emb.ndim != 2 or emb.shape[1] != self.dim:
            raise ValueError(f"embeddings must have shape (n, {self.dim}), got {emb.shape}")
        if lab.ndim != 1:
            raise ValueError(f"labels must have shape (n,), got {lab.shape}")
        if not (len(emb) == len(lab) == len(paths)):
            raise ValueError(
                f"mismatched lengths: {len(emb)} embeddings, {len(lab)} labels, {len(paths)} paths"
            )
        if len(lab) and not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"labels must be integers, got dtype {lab.dtype}")
        lab = lab.astype("<i8", copy=False)
        if len(lab):
            lo, hi = int(lab.min()), int(lab.max())
            if lo < 0:
                raise ValueError(f"labels must be >= 0, got {lo}")
            if self.num_classes is not None and hi >= self.num_classes:
                raise ValueError(f"label {hi} out of range: the store has {self.num_classes} identities")
            self._max_label = max(self._max_label, hi)
        for i, p in enumerate(paths):
            if not isinstance(p, str) or not p or "\n" in p or "\r" in p:
                raise ValueError(f"paths[{i}] must be a non-empty string without line breaks, got {p!r}")
        if not np.issubdtype(emb.dtype, np.number) or np.iscomplexobj(emb):
            raise ValueError(f"embeddings must be real numbers, got dtype {emb.dtype}")
        with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is reported just below
            out = np.ascontiguousarray(emb, dtype=self._np_dtype)
        finite = np.isfinite(out).all(axis=1)
        if not finite.all():
            row = int(np.flatnonzero(~finite)[0])
            cast = f" after casting to {self.dtype}" if self.dtype == "float16" else ""
            raise ValueError(f"embeddings row {row} of this chunk is not finite (NaN or inf{cast})")
        out.tofile(self._emb)
        lab.tofile(self._labels)
        self._paths.write("".join(p + "\n" for p in paths))
        self.n += len(lab)

    def close(self) -> EmbeddingStore:
        """Flush the files, write ``meta.json`` (atomically) and return the store opened for reading."""
        if not self._closed:
            self._close_files()
            num_classes = self.num_classes if self.num_classes is not None else self._max_label + 1
            meta = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "n": self.n,
                "dim": self.dim,
                "dtype": self.dtype,
                "num_classes": num_classes,
                "identities": self.identities,
            }
            tmp = self.root / (META + ".tmp")
            tmp.write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")
            os.replace(tmp, self.root / META)
        return EmbeddingStore.open(self.root)

    def abort(self) -> None:
        """Close the files without ``meta.json``: the directory is left as an incomplete store."""
        if not self._closed:
            self._close_files()

    def _close_files(self) -> None:
        self._closed = True
        for f in (self._emb, self._labels, self._paths):
            f.close()

    def __enter__(self) -> EmbeddingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class EmbeddingStore:
    """Embeddings on disk, read back memory-mapped: a directory holding

    * ``embeddings.f16`` or ``embeddings.f32``: a raw little-endian ``(N, D)`` array (no header);
    * ``labels.i64``: ``N`` little-endian int64 identity indices in ``[0, num_classes)``;
    * ``paths.txt``: one image path per line (UTF-8, ``\\n``-terminated), row order;
    * ``meta.json``: ``{"format", "version", "n", "dim", "dtype", "num_classes", "identities"}``, where
      ``identities`` is the list of identity names (index = label) or null (then only the count is known).

    Write one with :meth:`create`, read one with :meth:`open`. Opening checks that the files exist and agree
    with ``meta.json`` (sizes, line count); labels are range-checked chunk by chunk as they are read (by
    :mod:`idsight.faces.centres`).
    """

    def __init__(
        self,
        root: Path,
        n: int,
        dim: int,
        dtype: str,
        num_classes: int,
        identities: list[str] | None,
    ) -> None:
        self.root = root
        self.n = n
        self.dim = dim
        self.dtype = dtype
        self.num_classes = num_classes
        self.identities = identities
        self.embeddings_path = root / DTYPES[dtype][1]
        self.labels_path = root / LABELS
        self.paths_path = root / PATHS
        self.embeddings: np.ndarray
        self.labels: np.ndarray
        if n == 0:  # a zero-length file cannot be memory-mapped
            self.embeddings = np.zeros((0, dim), dtype=DTYPES[dtype][0])
            self.labels = np.zeros(0, dtype="<i8")
        else:
            self.embeddings = np.memmap(
                self.embeddings_path, dtype=DTYPES[dtype][0], mode="r", shape=(n, dim)
            )
            self.labels = np.memmap(self.labels_path, dtype="<i8", mode="r", shape=(n,))

    @staticmethod
    def create(
        directory: str | os.PathLike[str],
        dim: int,
        dtype: str = "float16",
        *,
        identities: Sequence[str] | int | None = None,
        overwrite: bool = False,
    ) -> EmbeddingWriter:
        """A writer for a new store in ``directory`` (created if needed).

        ``identities``: the identity names (index = label), or their count, or None (the count is then the
        largest label + 1). Refuses a directory that already holds a store unless ``overwrite``.
        """
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        names: list[str] | None = None
        num_classes: int | None = None
        if isinstance(identities, numbers.Integral) and not isinstance(identities, bool):
            if identities < 0:
                raise ValueError(f"the number of identities must be >= 0, got {identities}")
            num_classes = int(identities)
        elif identities is not None and not isinstance(identities, bool | str):
            names = list(identities)
            bad = [x for x in names if not isinstance(x, str)]
            if bad:
                raise ValueError(f"identity names must be strings, got {bad[0]!r}")
            if len(set(names)) != len(names):
                raise ValueError("identity names must be unique")
            num_classes = len(names)
        elif identities is not None:
            raise ValueError(f"identities must be a list of names, a count or None, got {identities!r}")
        root = Path(directory)
        if root.exists() and not root.is_dir():
            raise OutputError("not a directory", path=root)
        store_files = [META, LABELS, PATHS, *(f for _, f in DTYPES.values())]
        if any((root / f).exists() for f in store_files):
            if not overwrite:
                raise OutputError(
                    "already holds an embedding store (pass overwrite=True to replace it)", path=root
                )
            for f in store_files:  # meta.json first: an interrupted rewrite stays detectable
                (root / f).unlink(missing_ok=True)
        try:
            root.mkdir(parents=True, exist_ok=True)
            return EmbeddingWriter(root, int(dim), dtype, names, num_classes)
        except OSError as e:
            raise OutputError(f"cannot write an embedding store here ({e.strerror or e})", path=root) from e

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> EmbeddingStore:
        """Open a store for reading; raises :class:`BadDataError` naming the file that is missing or wrong."""
        root = Path(directory)
        if not root.is_dir():
            raise BadDataError("not a directory (expected an embedding store)", path=root)
        meta_path = root / META
        try:
            text = meta_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BadDataError(
                "missing: not an embedding store, or its writer was never closed", path=meta_path
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise BadDataError(f"cannot be read ({e})", path=meta_path) from e
        try:
            meta = json.loads(text)
        except json.JSONDecodeError as e:
            raise BadDataError(f"not valid JSON ({e})", path=meta_path) from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise BadDataError(
                f'not an embedding store\'s meta (expected "format": "{FORMAT}")', path=meta_path
            )
        if meta.get("version") != FORMAT_VERSION:
            raise BadDataError(
                f"unsupported version {meta.get('version')!r} (expected {FORMAT_VERSION})", path=meta_path
            )
        n, dim, k = meta.get("n"), meta.get("dim"), meta.get("num_classes")
        for key, value, least in (("n", n, 0), ("dim", dim, 1), ("num_classes", k, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise BadDataError(f'"{key}" must be an integer >= {least}, got {value!r}', path=meta_path)
        dtype = meta.get("dtype")
        if dtype not in DTYPES:
            raise BadDataError(f'"dtype" must be one of {", ".join(DTYPES)}, got {dtype!r}', path=meta_path)
        identities = meta.get("identities")
        if identities is not None and (
            not isinstance(identities, list) or not all(isinstance(x, str) for x in identities)
        ):
            raise BadDataError('"identities" must be a list of names or null', path=meta_path)
        if identities is not None and len(identities) != k:
            raise BadDataError(
                f'"identities" lists {len(identities)} names but "num_classes" is {k}', path=meta_path
            )
        assert isinstance(n, int) and isinstance(dim, int) and isinstance(k, int)
        itemsize = np.dtype(DTYPES[dtype][0]).itemsize
        for name, expected in ((DTYPES[dtype][1], n * dim * itemsize), (LABELS, n * 8)):
            path = root / name
            if not path.is_file():
                raise BadDataError("missing from the embedding store", path=path)
            size = path.stat().st_size
            if size != expected:
                raise BadDataError(
                    f"holds {size} bytes but meta.json (n={n}, dim={dim}, {dtype}) implies {expected}",
                    path=path,
                )
        paths_path = root / PATHS
        if not paths_path.is_file():
            raise BadDataError("missing from the embedding store", path=paths_path)
        lines, last = _count_lines(paths_path)
        if lines != n or (last is not None and last != b"\n"):
            raise BadDataError(f"holds {lines} complete lines but meta.json says n={n}", path=paths_path)
        return cls(root, n, dim, dtype, k, identities)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"EmbeddingStore({str(self.root)!r}, n={self.n}, dim={self.dim}, {self.dtype}, K={self.num_classes})"

    def chunks(
        self, size: int, *, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(start, embeddings[start:end], labels[start:end])`` for rows ``[start, stop)`` in chunks of ``size``.

        Each chunk is read from the files into its own arrays (in the store's dtype), so a pass over
        the store keeps one chunk resident, not the pages of a memory map (which count towards RSS).
        """
        _check_chunk(size)
        stop = self.n if stop is None else stop
        if not 0 <= start <= stop <= self.n:
            raise ValueError(f"rows [{start}, {stop}) are not inside [0, {self.n})")
        if start == stop:
            return
        dtype = np.dtype(DTYPES[self.dtype][0])
        row = dtype.itemsize * self.dim
        with self.embeddings_path.open("rb") as fe, self.labels_path.open("rb") as fl:
            fe.seek(start * row)
            fl.seek(start * 8)
            for s in range(start, stop, size):
                e = min(s + size, stop)
                emb = np.fromfile(fe, dtype=dtype, count=(e - s) * self.dim).reshape(e - s, self.dim)
                yield s, emb, np.fromfile(fl, dtype="<i8", count=e - s)

    def iter_paths(self) -> Iterator[str]:
        """The image paths in row order, streamed from ``paths.txt`` (nothing held in memory)."""
        try:
            with self.paths_path.open(encoding="utf-8", newline="\n") as f:
                for line in f:
                    yield line[:-1] if line.endswith("\n") else line
        except UnicodeDecodeError as e:
            raise BadDataError(f"not UTF-8 ({e})", path=self.paths_path) from e

    @property
    def paths(self) -> list[str]:
        """All image paths in row order (read on each access; prefer :meth:`iter_paths` for big stores)."""
        return list(self.iter_paths())

    def name(self, label: int) -> str:
        """The identity name of ``label`` (its index as a string when the store has no names)."""
        return self.identities[label] if self.identities is not None else str(label)


def _count_lines(path: Path) -> tuple[int, bytes | None]:
    """The number of ``\\n`` in a file and its last byte (None when empty), read in 1 MiB blocks."""
    count, last = 0, None
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count, last


def _check_chunk(chunk: int) -> None:
    """Raise ValueError unless ``chunk`` (rows per chunk) is a positive integer; shared by every reader."""
    if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
