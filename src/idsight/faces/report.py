"""The outcome of a curation and its files: :class:`Curation`, the manifest, the report and the plot.

A :class:`Curation` (from :func:`idsight.faces.curate.curate` or :func:`~idsight.faces.curate.recurate`) holds
one row per image: its source (:data:`SOURCES`), label, similarity to its class centre and stage
(:data:`STAGES`; the module docstring of :mod:`idsight.faces.curate` says what each stage means), and a
JSON-ready report. :meth:`Curation.write` writes ``manifest.jsonl``, ``report.json``, ``identities.json`` and
``similarity.png`` (:func:`plot_histograms`) into a directory; :func:`load_curation` reads them back, with
every row's similarity, so that :func:`~idsight.faces.curate.recurate` can redo the decisions without the
embeddings.
"""

from __future__ import annotations

import csv
import json
import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from idsight.errors import BadDataError, OutputError

STAGES = ("base_kept", "base_dropped", "augmented_kept", "augmented_dropped", "balanced")
BASE_KEPT, BASE_DROPPED, AUG_KEPT, AUG_DROPPED, BALANCED = range(len(STAGES))
SOURCES = ("base", "augmented")
MANIFEST, REPORT, IDENTITIES, PLOT = "manifest.jsonl", "report.json", "identities.json", "similarity.png"


class ManifestRow(TypedDict):
    """One row of a curation manifest."""

    path: str
    identity: str | int
    label: int
    source: str
    stage: str
    similarity: float


@dataclass(eq=False)
class Curation:
    """The outcome of :func:`~idsight.faces.curate.curate`: one row per image (base rows in store order,
    then augmented rows).

    Columns: ``source`` (int8 index into :data:`SOURCES`), ``label`` (int64), ``similarity`` (float32 cosine
    to the class centre), ``stage`` (int8 index into :data:`STAGES`); ``paths`` is iterated in the same
    order (streamed from the stores, or a list after :func:`load_curation`); ``report`` is a JSON-ready dict.
    """

    source: np.ndarray
    label: np.ndarray
    similarity: np.ndarray
    stage: np.ndarray
    report: dict[str, Any]
    identities: list[str] | None
    paths: Iterable[str]

    def __len__(self) -> int:
        return len(self.stage)

    @property
    def selected(self) -> np.ndarray:
        """Boolean mask of the training set: rows at ``base_kept`` or ``augmented_kept``."""
        return (self.stage == BASE_KEPT) | (self.stage == AUG_KEPT)

    def identity(self, label: int) -> str | int:
        """The identity name of ``label``, or the label itself when there are no names."""
        return self.identities[label] if self.identities is not None else int(label)

    def rows(self) -> Iterator[ManifestRow]:
        """The manifest rows in order; the paths are streamed, so this runs in constant memory."""
        names = self.identities
        try:
            for path, src, lab, stg, sim in zip(
                self.paths, self.source.tolist(), self.label.tolist(), self.stage.tolist(),
                self.similarity.tolist(), strict=True,
            ):  # fmt: skip
                yield {
                    "path": path,
                    "identity": names[lab] if names is not None else lab,
                    "label": lab,
                    "source": SOURCES[src],
                    "stage": STAGES[stg],
                    "similarity": sim,
                }
        except ValueError as e:
            if "zip()" not in str(e):
                raise
            raise BadDataError(
                f"the stores' paths.txt no longer match this curation's {len(self)} rows ({e})",
                path=self.report.get("inputs", {}).get("base"),
            ) from e

    def write_manifest(self, path: str | os.PathLike[str]) -> Path:
        """Write the manifest as ``.jsonl`` (one JSON object a line) or ``.csv`` (with a header), by suffix."""
        out = Path(path)
        kind = out.suffix.lower()
        if kind not in (".jsonl", ".csv"):
            raise ValueError(f"manifest path must end in .jsonl or .csv, got {out.name!r}")
        tmp = out.with_name(out.name + ".tmp")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8", newline="") as f:
                if kind == ".jsonl":
                    for row in self.rows():
                        f.write(json.dumps(row, ensure_ascii=False) + "\n")
                else:
                    w = csv.DictWriter(f, fieldnames=list(ManifestRow.__annotations__), lineterminator="\n")
                    w.writeheader()
                    for row in self.rows():
                        w.writerow({**row, "similarity": repr(row["similarity"])})
            os.replace(tmp, out)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write the manifest ({e.strerror or e})", path=out) from e
        return out

    def write(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``manifest.jsonl``, ``report.json``, ``identities.json`` and ``similarity.png`` into a directory."""
        root = Path(directory)
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.write_manifest(root / MANIFEST)
            (root / IDENTITIES).write_text(
                json.dumps(self.identities, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            (root / REPORT).write_text(
                json.dumps(self.report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        except OSError as e:
            raise OutputError(f"cannot write the curation ({e.strerror or e})", path=root) from e
        plot_histograms(self.report, root / PLOT)
        return root


def load_curation(directory: str | os.PathLike[str]) -> Curation:
    """Read back what :meth:`Curation.write` wrote; raises :class:`BadDataError` naming a bad file and line."""
    root = Path(directory)
    report_path, manifest_path = root / REPORT, root / MANIFEST
    report = _read_json(report_path)
    if not isinstance(report, dict) or not isinstance(report.get("num_classes"), int):
        raise BadDataError('not a curation report (no integer "num_classes")', path=report_path)
    k = report["num_classes"]
    identities: list[str] | None = None
    if (root / IDENTITIES).is_file():
        names = _read_json(root / IDENTITIES)
        if names is not None and (
            not isinstance(names, list) or len(names) != k or not all(isinstance(x, str) for x in names)
        ):
            raise BadDataError(f"must be null or a list of {k} names", path=root / IDENTITIES)
        identities = names
    paths: list[str] = []
    source, stage = array("b"), array("b")  # compact columns while reading millions of rows
    label, sim = array("q"), array("f")
    stage_code = {s: i for i, s in enumerate(STAGES)}
    source_code = {s: i for i, s in enumerate(SOURCES)}
    try:
        f = manifest_path.open(encoding="utf-8")
    except FileNotFoundError:
        raise BadDataError("missing from the curation directory", path=manifest_path) from None
    with f:
        for no, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                p, src, lab, stg, s = (row[key] for key in ("path", "source", "label", "stage", "similarity"))
                if not isinstance(p, str) or type(lab) is not int or not 0 <= lab < k:
                    raise ValueError(f"bad path or label (labels lie in [0, {k}))")
                if isinstance(s, bool) or not isinstance(s, int | float) or not -1.0 <= s <= 1.0:
                    raise ValueError(f"similarity must be a number in [-1, 1], got {s!r}")
                sc, gc = source_code[src], stage_code[stg]
                if stg != "balanced" and not stg.startswith(src):
                    raise ValueError(f"stage {stg!r} does not fit source {src!r}")
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise BadDataError(f"line {no}: not a manifest row ({e})", path=manifest_path) from e
            paths.append(p)
            source.append(sc)
            label.append(lab)
            stage.append(gc)
            sim.append(s)
    src_arr = np.frombuffer(source, dtype=np.int8).copy()
    if np.any(np.diff(src_arr) < 0):
        raise BadDataError("base rows must come before augmented rows", path=manifest_path)
    rows = report.get("rows", {})
    if isinstance(rows, dict) and rows.get("base", 0) + rows.get("augmented", 0) != len(paths):
        raise BadDataError(f"holds {len(paths)} rows but report.json counts {rows}", path=manifest_path)
    return Curation(
        src_arr,
        np.frombuffer(label, dtype=np.int64).copy(),
        np.frombuffer(sim, dtype=np.float32).copy(),
        np.frombuffer(stage, dtype=np.int8).copy(),
        report,
        identities,
        paths,
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadDataError("missing from the curation directory", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadDataError(f"cannot be read as JSON ({e})", path=path) from e


def plot_histograms(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """A PNG of the base and augmented similarity histograms with ``t``, ``a`` and ``b`` marked."""
    from matplotlib.figure import Figure  # the object API on the Agg canvas: no pyplot state, no display

    try:
        hist = report["histograms"]
        edges = np.asarray(hist["edges"], dtype=np.float64)
        base = np.asarray(hist["base"], dtype=np.float64)
        aug = np.asarray(hist["augmented"], dtype=np.float64)
        t = float(report["params"]["t"])
        a, b = (float(x) for x in report["params"]["band"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"not a curation report (no histograms or params: {e})") from e
    if not (len(edges) == len(base) + 1 == len(aug) + 1):
        raise ValueError("the report's histogram edges and counts do not match")
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    width = np.diff(edges)
    ax.bar(edges[:-1], base, width=width, align="edge", alpha=0.6, color="tab:blue",
           label=f"base ({int(base.sum())})")  # fmt: skip
    if aug.sum() > 0:
        ax.bar(edges[:-1], aug, width=width, align="edge", alpha=0.6, color="tab:orange",
               label=f"augmented ({int(aug.sum())})")  # fmt: skip
    ax.axvline(t, color="tab:red", linestyle="--", label=f"t = {t:g}")
    ax.axvline(a, color="tab:green", linestyle=":", label=f"a = {a:g}")
    ax.axvline(b, color="tab:purple", linestyle=":", label=f"b = {b:g}")
    ax.set_xlim(-1.0, 1.0)
    ax.set_xlabel("cosine to own class centre")
    ax.set_ylabel("images")
    ax.set_title("Similarity to class centre")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png", dpi=100)
    except OSError as e:
        raise OutputError(f"cannot write the plot ({e.strerror or e})", path=out) from e
    return out
