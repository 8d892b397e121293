"""Fields from content: text lines (text, box, confidence) -> a document type's field values.

Layout-free. Each line is matched against the spec by
- printed labels in the spec's vocabularies, inline (``Surname: KIM``) or as anchors
  (a label line with its value below or beside it);
- value formats (dates in any print style, RRNs, codes, names) and lexicons;
- relative geometry (near a label; ``after`` order when nothing is labelled);
then fields are assigned greedily, best evidence first, one line per field (plus continuation lines
for multi-line fields). The MRZ is read on its own and cross-checked against the visual zone; a field
the visual zone lacks is taken from a valid MRZ. Lines that fit no field are returned as unassigned.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from idsight.metrics import bounded_edit_distance, edit_distance
from idsight.ocr.cleanup.lexicon import default_models, snap_first_word
from idsight.ocr.cleanup.lm import beam_correct
from idsight.ocr.cleanup.seq import Slot, is_hangul
from idsight.ocr.content.checks import CHECKS, CROSS_CHECKS
from idsight.ocr.content.formats import fold, fold_char
from idsight.ocr.content.mrz import MrzRead, find_mrz, mrz_name_form, mrz_spelling
from idsight.ocr.content.spec import DocSpec, FieldRule

Box = tuple[float, float, float, float]
LABEL_INLINE = 2.0  # evidence weights, in units of a perfect format match
LABEL_ANCHOR = 1.5
OTHER_ANCHOR = -1.0
LEXICON_HIT = 0.2
MIN_SCORE = 0.5
_SEPARATORS = " :/|.,-"


@dataclass(frozen=True)
class TextLine:
    text: str
    box: Box  # x0, y0, x1, y1 in the rectified card frame
    confidence: float = 1.0
    chars: tuple[Slot, ...] | None = None  # per character: the recogniser's top alternatives

    @property
    def height(self) -> float:
        return max(1.0, self.box[3] - self.box[1])

    @property
    def cy(self) -> float:
        return (self.box[1] + self.box[3]) / 2


@dataclass
class FieldValue:
    value: str
    confidence: float
    box: Box | None
    source: str  # viz | mrz
    lines: list[int] = field(default_factory=list)


@dataclass
class Assignment:
    doc_type: str
    fields: dict[str, FieldValue]
    unassigned: list[int]  # indices of lines that fit no field
    checks: dict[str, bool]
    mrz: MrzRead | None
    titles: list[int]
    labels: dict[int, str]  # label lines (anchors and inline) -> field


def _key(text: str) -> str:
    return "".join(fold(text).split())


def strip_label(text: str, labels: Sequence[str]) -> tuple[int, str] | None:
    """If ``text`` starts with one or more of ``labels`` (bilingual ``Surname / Nom``), the number of
    label characters matched and the rest of the line; None if it does not start with a label."""
    norm = " ".join(text.split())
    pieces = [(f, i) for i, c in enumerate(norm) for f in fold_char(c)]
    folded = "".join(f for f, _ in pieces)
    pos, matched = 0, 0
    while True:
        rest = folded[pos:].lstrip(_SEPARATORS)
        hit = max((lab for lab in labels if _starts_with(rest, lab)), key=len, default=None)
        if hit is None:
            break
        pos += len(folded) - pos - len(rest) + _prefix_length(rest, hit)
        matched += len(hit)
    if matched == 0:
        return _fuzzy_label_line(folded, labels)
    cut = pieces[pos][1] if pos < len(pieces) else len(norm)
    rest = norm[cut:].strip(_SEPARATORS)
    if rest and _fuzzy_label_line(folded[pos:], labels) is not None:  # ``이름/GNVEN NAME``: all label
        return matched, ""
    return matched, rest


def _fuzzy_label_line(folded: str, labels: Sequence[str]) -> tuple[int, str] | None:
    """A line that is only labels, one or two characters misread (``APELLIOS``): every part between
    ``/`` is within a small edit distance of a label (1 from 5 characters on, 2 from 10)."""
    parts = [p.strip(_SEPARATORS) for p in folded.split("/")]
    parts = [p for p in parts if p]
    if not parts:
        return None
    keyed, longest, digits = _label_keys(tuple(labels))
    matched = 0
    for part in parts:
        key = part.replace(" ", "")
        if len(key) > longest + 2 or (not digits and any(c.isdigit() for c in key)):
            return None  # longer than any label, or a number: a value, not a label
        best = None
        for lab, lk, allowed in keyed:
            if allowed and bounded_edit_distance(key, lk, allowed) <= allowed:
                best = max(best or 0, len(lab))
            elif _hangul_near(key, lk):
                best = max(best or 0, len(lab))
        if best is None:
            return None
        matched += best - 1  # an exact label of the same length wins over a near one (ISSUER, ISSUED)
    return matched, ""


@lru_cache(maxsize=256)
def _label_keys(labels: tuple[str, ...]) -> tuple[tuple[tuple[str, str, int], ...], int, bool]:
    """Per label: itself, without spaces, the edits allowed; the longest key; whether any has a digit."""
    keyed = []
    for lab in labels:
        lk = lab.replace(" ", "")
        keyed.append((lab, lk, 2 if len(lk) >= 10 else 1 if len(lk) >= 5 else 0))
    longest = max((len(k) for _, k, _ in keyed), default=0)
    return tuple(keyed), longest, any(c.isdigit() for lab in labels for c in lab)


def _hangul_near(key: str, label: str) -> bool:
    """A Hangul label of two or more syllables with one letter (jamo) misread: ``이를`` for ``이름``."""
    if len(key) != len(label) or len(label) < 2 or not all("\uac00" <= c <= "\ud7a3" for c in key + label):
        return False
    return bounded_edit_distance(_jamo(key), _jamo(label), 1) <= 1


def _starts_with(text: str, label: str) -> bool:
    """``text`` starts with ``label`` (spaces ignored for Hangul), ending at a word boundary."""
    n = _prefix_length(text, label)
    return n > 0 and (n == len(text) or not text[n].isalnum() or not label[-1].isascii())


def _prefix_length(text: str, label: str) -> int:
    """Characters of ``text`` that spell ``label`` (inner spaces of text skipped); 0 if they don't."""
    i = 0
    for c in label:
        if c == " ":
            while i < len(text) and text[i] == " ":
                i += 1
            continue
        while i < len(text) and text[i] == " " and not c.isascii():
            i += 1
        if i >= len(text) or text[i] != c:
            return 0
        i += 1
    return i


def _below_or_beside(line: TextLine, anchor: TextLine) -> float:
    """1 for a value right below or right of its label, falling to 0 with distance."""
    h = anchor.height
    dy = line.box[1] - anchor.box[3]
    dx = line.box[0] - anchor.box[0]
    below = -0.5 * h <= dy <= 2.5 * h and abs(dx) <= 4 * h
    beside = (
        abs(line.cy - anchor.cy) <= 0.7 * max(h, line.height) and 0 <= line.box[0] - anchor.box[2] <= 12 * h
    )
    if beside:
        return 1.0
    if below:
        return 1.0 - max(0.0, dy) / (5 * h) - abs(dx) / (12 * h)
    return 0.0


def _same_row(line: TextLine, anchor: TextLine) -> bool:
    return abs(line.cy - anchor.cy) <= 0.7 * max(anchor.height, line.height)


def _gap(line: TextLine, anchor: TextLine) -> float:
    """How far ``line`` starts from its label: right of it on the same row, or below it."""
    if _same_row(line, anchor):
        return max(0.0, line.box[0] - anchor.box[2])
    return max(0.0, line.box[1] - anchor.box[3]) + 0.5 * abs(line.box[0] - anchor.box[0])


def _value_score(rule: FieldRule, text: str) -> tuple[str, float] | None:
    parsed = rule.format.parse(text)
    if parsed is None:
        return None
    value = parsed.value if rule.first_word is None else snap_first_word(parsed.value, rule.first_word)
    bonus = LEXICON_HIT if rule.lexicon is not None and rule.lexicon.hit(value) else 0.0
    return value, parsed.score + bonus


def rescored(line: TextLine, model: str | None, *, hangul_only: bool = False) -> str:
    """The line's text with its doubtful Hangul syllables chosen again by the field's character LM
    (``model``) among the recogniser's alternatives: ``김활`` -> ``김환``. The LM only reorders what
    the recogniser offers; a line without alternatives, or a field without an LM, keeps its text.
    For a field printed in Hangul only (a name), a character read as a Latin letter or digit that
    the recogniser also offered as a syllable (``선AA``, ``7인훈``: ``시``, ``기``) branches into its
    syllables instead."""
    if model is None or line.chars is None or not any(is_hangul(s.char) for s in line.chars):
        return line.text
    lm = default_models().lm_for(model)
    if lm is None:
        return line.text
    fixed = [_as_hangul(s) if hangul_only else s for s in line.chars]
    fixed = [s if is_hangul(s.char) else Slot(s.char, 1.0) for s in fixed]  # only Hangul branches
    return "".join(s.char for s in beam_correct(fixed, lm, allowed=is_hangul))


def _as_hangul(slot: Slot) -> Slot:
    """A non-Hangul slot as its likeliest Hangul alternative (with the other Hangul ones), if any."""
    if is_hangul(slot.char) or slot.char.isspace():
        return slot
    alts = sorted(((a, p) for a, p in slot.alts if len(a) == 1 and is_hangul(a)), key=lambda t: -t[1])
    return Slot(alts[0][0], alts[0][1], alts) if alts else slot


def _is_title(line: TextLine, spec: DocSpec) -> bool:
    """The document's title, exactly or with about one letter in five misread (``주민등륵중``:
    Hangul is compared letter by letter, its syllables decomposed into jamo, and a syllable the
    recogniser offered as an alternative counts as read)."""
    key = _key(line.text)
    if not key:
        return False
    for t in map(_key, spec.titles):
        if t == key or (len(t) > 6 and t in key):
            return True
        allowed = -(-len(_jamo(t)) // 5) if len(t) >= 4 else 0
        if allowed and _title_distance(line, key, t, allowed) <= allowed:
            return True
    return False


def _jamo(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _title_distance(line: TextLine, key: str, title: str, limit: int) -> int:
    """Edit distance in letters (jamo) of ``key`` to ``title``, each character at its nearest
    alternative where the recogniser gave them; anything over ``limit`` is ``limit + 1``."""
    if line.chars is not None:
        slots = [s for s in line.chars if not s.char.isspace()]
        if len(slots) == len(title) and "".join(s.char for s in slots) == key:
            return sum(
                min(edit_distance(_jamo(c), _jamo(want)) for c in {s.char, *(a for a, _ in s.alts if a)})
                for s, want in zip(slots, title, strict=True)
            )
    return bounded_edit_distance(_jamo(key), _jamo(title), limit)


def _is_heading(text: str, spec: DocSpec) -> bool:
    """A line made only of the spec's heading words (``NATIONAL ID CARD``, ``REPUBLIC OF KOREA``)."""
    words = [w.strip(".,:;/") for w in fold(text).replace("/", " ").split()]
    if bool(words) and all(w in spec.header_words for w in words if w):
        return True
    return spec.header_names is not None and _key(text) in spec.header_names


def _continuation(lines: Sequence[TextLine], first: int, free: set[int], labelled: set[int]) -> int | None:
    """An unlabelled free line right below line ``first``, left-aligned or centred with it."""
    a = lines[first]
    best = None
    for i in free - labelled:
        b = lines[i]
        gap = b.box[1] - a.box[3]
        aligned = (
            abs(b.box[0] - a.box[0]) <= 2 * a.height  # left-aligned
            or abs((b.box[0] + b.box[2]) - (a.box[0] + a.box[2])) <= 4 * a.height  # centred
        )
        if -0.3 * a.height <= gap <= 1.2 * a.height and aligned:
            if 0.6 <= b.height / a.height <= 1.6 and (best is None or b.box[1] < lines[best].box[1]):
                best = i
    return best


def assign(lines: Sequence[TextLine], spec: DocSpec) -> Assignment:
    """Assign ``lines`` to ``spec``'s fields by content; see the module docstring."""
    n = len(lines)
    titles = [i for i, line in enumerate(lines) if _is_title(line, spec)]
    mrz = None
    if spec.mrz is not None:
        mrz = find_mrz([line.text for line in lines], [line.cy for line in lines], spec.mrz)
    headings = {i for i, line in enumerate(lines) if i not in titles and _is_heading(line.text, spec)}
    used = set(titles) | headings | set(mrz.line_indices if mrz else [])

    # labels: anchors (a label alone) and inline labels (label + value)
    inline: dict[int, tuple[str, str]] = {}  # line -> (field, value text)
    weak: set[int] = set()  # inline labels whose rest does not read as the field's format
    anchors: dict[str, list[int]] = {}
    labels: dict[int, str] = {}
    for i, line in enumerate(lines):
        if i in used:
            continue
        best: tuple[int, str, str] | None = None
        for rule in spec.fields:
            hit = strip_label(line.text, rule.labels) if rule.labels else None
            if hit is not None and (best is None or hit[0] > best[0]):
                best = (hit[0], rule.name, hit[1])
        if best is None:
            continue
        _, name, rest = best
        labels[i] = name
        if rest and rule_accepts(spec, name, rest, lines, i):
            inline[i] = (name, rest)
            if spec.field(name).format.parse(rest) is None:
                # ``Name / 01``: the rest is more likely a misread second label than the value, which
                # may lie below: the line is also an anchor, and its own text a weak candidate
                anchors.setdefault(name, []).append(i)
                weak.add(i)
        else:
            anchors.setdefault(name, []).append(i)
    anchor_lines = {i for ids in anchors.values() for i in ids} - weak

    # each label's nearest line below or beside it
    nearest: dict[int, int] = {}
    for a in {i for ids in anchors.values() for i in ids}:
        by_gap = [
            (_gap(lines[k], lines[a]), k)
            for k in range(n)
            if k != a and k not in used and k not in anchor_lines and _below_or_beside(lines[k], lines[a]) > 0
        ]
        if by_gap:
            nearest[a] = min(by_gap)[1]

    # candidates: (score, field order, reading order, field, line, value)
    reading = {i: r for r, i in enumerate(sorted(range(n), key=lambda i: (lines[i].cy, lines[i].box[0])))}
    cands = []
    for i, line in enumerate(lines):
        if i in used or i in anchor_lines:
            continue
        for order, rule in enumerate(spec.fields):
            if i in inline and inline[i][0] != rule.name:
                continue
            text = (
                inline[i][1]
                if i in inline
                else rescored(line, rule.language_model, hangul_only=rule.format_type == "hangul_name")
            )
            scored = _value_score(rule, text)
            if scored is None:
                if i not in inline:
                    continue
                scored = (" ".join(text.split()), 0.1)  # labelled but unreadable as the format
            value, score = scored
            if i in inline:
                score += LABEL_INLINE if i not in weak else LABEL_INLINE / 2
            near = max((_below_or_beside(line, lines[a]) for a in anchors.get(rule.name, [])), default=0.0)
            score += LABEL_ANCHOR * near
            others = max(
                (
                    _below_or_beside(line, lines[a])
                    for f, ids in anchors.items()
                    if f != rule.name
                    for a in ids
                    # another field's label on the same row counts against its nearest line only
                    if nearest.get(a) == i or not _same_row(line, lines[a])
                ),
                default=0.0,
            )
            if others > near:
                score += OTHER_ANCHOR * others
            if score >= MIN_SCORE:
                cands.append((-score, order, reading[i], rule.name, i, value))
    cands.sort()

    fields: dict[str, FieldValue] = {}
    taken: set[int] = set()
    for neg, _, _, name, i, value in cands:
        if name in fields or i in taken:
            continue
        line = lines[i]
        fields[name] = FieldValue(value, round(line.confidence * min(1.0, -neg), 4), line.box, "viz", [i])
        taken.add(i)
    _order_unlabelled(spec, fields, lines, inline, anchors)

    free = set(range(n)) - used - anchor_lines - taken
    for rule in spec.fields:
        fv = fields.get(rule.name)
        for _ in range(rule.lines - 1):
            if fv is None:
                break
            nxt = _continuation(lines, fv.lines[-1], free, set(inline))
            if nxt is None:
                break
            fv.value = f"{fv.value} {' '.join(rescored(lines[nxt], rule.language_model).split())}"
            fv.lines.append(nxt)
            fv.box = _union(fv.box, lines[nxt].box)
            fv.confidence = round(min(fv.confidence, lines[nxt].confidence), 4)
            free.discard(nxt)
        finish = getattr(rule.format, "finish", None)  # a format's last word on the whole value
        if fv is not None and finish is not None:
            fv.value = finish(fv.value)

    checks: dict[str, bool] = {}
    printed = {k: v.value for k, v in fields.items()}  # the visual zone, before the MRZ fills in
    if mrz is not None:
        _merge_mrz(spec, fields, mrz, lines)
        printed.update({k: v.value for k, v in fields.items() if v.source == "viz"})  # names re-chosen
        checks.update(mrz.checks)
    for rule in spec.fields:
        fv = fields.get(rule.name)
        if rule.check is not None and fv is not None:
            checks[f"{rule.name}_{rule.check}"] = CHECKS.get(rule.check)(fv.value)
    values = {**{k: v.value for k, v in fields.items()}, **printed}
    mrz_values = _mrz_values(spec, mrz) if mrz is not None else {}
    for cc in spec.cross_checks:
        checks.update(CROSS_CHECKS.get(cc.rule)(values, mrz_values, cc.fields))
    placed = {i for fv in fields.values() for i in fv.lines}
    unassigned = sorted(set(range(n)) - set(titles) - anchor_lines - placed)
    return Assignment(spec.name, fields, unassigned, checks, mrz, titles, labels)


def rule_accepts(spec: DocSpec, name: str, rest: str, lines: Sequence[TextLine], i: int) -> bool:
    """A label followed by text: inline value unless the text is itself only labels."""
    return not any(
        strip_label(rest, r.labels) is not None and r.labels for r in spec.fields if r.name != name
    ) or (spec.field(name).format.parse(rest) is not None)


def _union(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _order_unlabelled(
    spec: DocSpec,
    fields: dict[str, FieldValue],
    lines: Sequence[TextLine],
    inline: Mapping[int, tuple[str, str]],
    anchors: Mapping[str, list[int]],
) -> None:
    """``after: g``: when neither field is labelled and f was given the line above g's, swap them."""
    for rule in spec.fields:
        if rule.after is None or rule.name not in fields or rule.after not in fields:
            continue
        f, g = fields[rule.name], fields[rule.after]
        if any(i in inline for i in f.lines + g.lines) or rule.name in anchors or rule.after in anchors:
            continue
        lf, lg = lines[f.lines[0]], lines[g.lines[0]]
        if (lf.cy, lf.box[0]) < (lg.cy, lg.box[0]) and spec.field(rule.after).format.parse(
            lf.text
        ) is not None:
            if rule.format.parse(lg.text) is not None:
                fields[rule.name], fields[rule.after] = g, f


def _mrz_values(spec: DocSpec, mrz: MrzRead) -> dict[str, str]:
    return {r.name: mrz.values[r.mrz] for r in spec.fields if r.mrz is not None and r.mrz in mrz.values}


def _merge_mrz(spec: DocSpec, fields: dict[str, FieldValue], mrz: MrzRead, lines: Sequence[TextLine]) -> None:
    """The MRZ field itself; fields the visual zone lacks come from the MRZ when its checks allow."""
    conf = min((lines[i].confidence for i in mrz.line_indices), default=1.0)
    box = None
    for i in mrz.line_indices:
        box = _union(box, lines[i].box)
    for rule in spec.fields:
        if rule.format_type == "mrz":
            fields[rule.name] = FieldValue(mrz.text, round(conf, 4), box, "mrz", list(mrz.line_indices))
    for name, value in _mrz_values(spec, mrz).items():
        rule = spec.field(name)
        trusted = mrz.checks.get(f"mrz_check_{rule.mrz}", mrz.checks.get("mrz_check_composite", False))
        viz = fields.get(name)
        if viz is None:
            if trusted or mrz.valid:
                fields[name] = FieldValue(value, round(conf, 4), box, "mrz", list(mrz.line_indices))
        elif mrz_name_form(viz.value) == mrz_name_form(value):
            continue
        elif trusted and rule.format_type != "latin_name":
            fields[name] = FieldValue(value, round(conf, 4), viz.box, "mrz", viz.lines)
        elif rule.format_type == "latin_name" and mrz.valid:
            # the MRZ's name line carries no check digit, but a visual-zone line that spells the MRZ's
            # name is the name, whichever line the labels and geometry chose
            taken = {i for f in fields.values() for i in f.lines} | set(mrz.line_indices)
            same = [
                i
                for i, line in enumerate(lines)
                if i not in taken and mrz_name_form(line.text) == mrz_name_form(value)
            ]
            if same:
                i = same[0]
                fields[name] = FieldValue(
                    " ".join(lines[i].text.split()), lines[i].confidence, lines[i].box, "viz", [i]
                )
            elif mrz.raw.get("name", "<").endswith("<"):  # a name the MRZ did not cut short
                # no line spells it: the OCR-B letters of a valid MRZ are the likelier ones; the visual
                # zone keeps its accents and hyphens where the two agree
                merged = mrz_spelling(viz.value, value)
                fields[name] = FieldValue(merged, min(viz.confidence, conf), viz.box, "mrz", viz.lines)
