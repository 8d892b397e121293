"""What the store knows of a document type: its fields, the line crops behind each, how a field's
lines join, and what kind of value each holds.

The card reader's types (``kr-rrc``, ``td1``) have their fixed templates (:mod:`idsight.templates`).
Any other type a layout-free reader reads (``td3``) is described by its spec file
(:mod:`idsight.ocr.content.spec`): a one-line field has one crop named after it, a field of n lines
the crops ``name_1`` .. ``name_n``, and the MRZ one crop per MRZ line joined by newlines.
"""

from __future__ import annotations

from functools import cache

from idsight.templates import TEMPLATES, FieldSpec, Template


@cache
def _spec_layouts() -> dict[str, Template]:
    from idsight.ocr.content.spec import builtin_specs

    out = {}
    for name, spec in builtin_specs().items():
        fields = []
        for f in spec.fields:
            n = spec.mrz.layout.lines if f.format_type == "mrz" and spec.mrz is not None else f.lines
            keys = (f.name,) if n == 1 else tuple(f"{f.name}_{i + 1}" for i in range(n))
            joiner = "\n" if f.format_type == "mrz" else " "
            fields.append(FieldSpec(f.name, keys, kind=f.format_type, joiner=joiner))
        out[name] = Template(name, spec.title, tuple(fields), layout={})
    return out


def doc_layout(name: str) -> Template | None:
    """The fields and line crops of document type ``name``, or None for a type idsight does not know."""
    return TEMPLATES.get(name) or _spec_layouts().get(name)


def known_doc_types() -> list[str]:
    return [*TEMPLATES, *(n for n in _spec_layouts() if n not in TEMPLATES)]
