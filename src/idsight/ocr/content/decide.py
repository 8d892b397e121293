"""The document type, decided from content (title text, the MRZ and its document code, values only one
type prints, how many fields fit) together with look (an optional image classifier's probabilities).

``read_fields`` assigns the lines under every spec and keeps the best-supported type; when no type has
enough support the card is reported as ``unknown`` with every line it read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from idsight.ocr.content.assign import Assignment, TextLine, assign
from idsight.ocr.content.mrz import looks_like_mrz
from idsight.ocr.content.spec import DocSpec, builtin_specs

UNKNOWN = "unknown"
TITLE = 3.0
MRZ_FOUND = 4.0
MRZ_VALID = 1.0
MRZ_UNEXPECTED = -3.0
IDENTIFYING_FIELD = 3.0
FIELDS_FOUND = 2.0  # times the share of the type's required fields found
LOOK = 1.5  # times the classifier's probability for the type
MIN_EVIDENCE = 3.0


@dataclass
class TypeDecision:
    doc_type: str
    evidence: dict[str, float]  # per type: its total evidence
    assignment: Assignment | None  # the chosen type's fields; None for unknown


def evidence(lines: Sequence[TextLine], spec: DocSpec, a: Assignment, look: float | None) -> float:
    score = TITLE if a.titles else 0.0
    if spec.mrz is not None and a.mrz is not None:
        fits = 0.85 <= a.mrz.length_fit <= 1.2
        score += MRZ_FOUND * (1.0 if fits else 0.25) + (MRZ_VALID if a.mrz.valid else 0.0)
    elif spec.mrz is None and sum(looks_like_mrz(line.text) for line in lines) >= 2:
        score += MRZ_UNEXPECTED
    viz = {k for k, v in a.fields.items() if v.source == "viz"}
    score += IDENTIFYING_FIELD * any(r.identifies and r.name in viz for r in spec.fields)
    required = [r.name for r in spec.fields if r.required] or [r.name for r in spec.fields]
    score += FIELDS_FOUND * sum(n in a.fields for n in required) / len(required)
    if look is not None:
        score += LOOK * look
    return score


def read_fields(
    lines: Sequence[TextLine],
    *,
    specs: Mapping[str, DocSpec] | None = None,
    doc_type: str | None = None,
    look: Mapping[str, float] | None = None,
) -> TypeDecision:
    """Decide the type (or use ``doc_type``) and assign the lines to its fields."""
    specs = builtin_specs() if specs is None else specs
    if doc_type is not None:
        if doc_type not in specs:
            from idsight.errors import UnknownNameError

            raise UnknownNameError(f"unknown document type {doc_type!r} (known: {', '.join(specs)})")
        a = assign(lines, specs[doc_type])
        return TypeDecision(doc_type, {doc_type: evidence(lines, specs[doc_type], a, None)}, a)
    scored = {}
    for name, spec in specs.items():
        a = assign(lines, spec)
        scored[name] = (evidence(lines, spec, a, (look or {}).get(name)), a)
    best = max(scored, key=lambda k: scored[k][0], default=None)
    totals = {k: round(v[0], 3) for k, v in scored.items()}
    if best is None or scored[best][0] < MIN_EVIDENCE:
        return TypeDecision(UNKNOWN, totals, None)
    return TypeDecision(best, totals, scored[best][1])
