"""The cleanup must never raise, whatever the recogniser (or a peer engine) reads."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from idsight.data.charset import CHARSET
from idsight.ocr.cleanup import clean_card
from idsight.ocr.types import CharRead, LineRead
from idsight.templates import TEMPLATES

texts = st.text(alphabet=st.sampled_from(CHARSET + "<<<<0123456789"), max_size=36)


def _line(key: str, text: str, p: float) -> LineRead:
    chars = [CharRead(c, p, [(c, p), ("", 1 - p)]) for c in text]
    return LineRead(key=key, text=text, confidence=p, chars=chars, box=[0.0, 0.0, 10.0, 10.0])


@settings(max_examples=150, deadline=None)
@given(
    template=st.sampled_from(sorted(TEMPLATES)),
    data=st.data(),
    p=st.floats(0.05, 1.0),
)
def test_clean_card_never_raises(template: str, data: st.DataObject, p: float) -> None:
    keys = TEMPLATES[template].line_keys
    present = data.draw(st.lists(st.sampled_from(keys), unique=True))
    lines = {k: _line(k, data.draw(texts), p) for k in present}
    res = clean_card(template, lines)
    assert set(res.fields) == {f.name for f in TEMPLATES[template].fields}
    json.dumps(res.checks)
    for f in res.fields.values():
        assert 0.0 <= f.confidence <= 1.0


def test_misread_mrz_date_with_fillers_does_not_raise() -> None:
    """Regression: fillers read inside the MRZ birth date, too many for the VIZ-hint repair
    (seen in the benchmark with Tesseract's reads)."""
    lines = {
        "date_of_birth": _line("date_of_birth", "09 07 1958", 0.99),
        "mrz_1": _line("mrz_1", "IDIDNKP92822008<<<<<<<<<<<<<<<", 0.99),
        "mrz_2": _line("mrz_2", "58<<<<7M3302200IDN<<<<<<<<<<<2", 0.99),
        "mrz_3": _line("mrz_3", "COOK<<YUKI<JI<<<<<<<<<<<<<<<<<", 0.99),
    }
    res = clean_card("td1", lines)
    assert res.checks["mrz"]["date_of_birth"] is False
    assert res.fields["date_of_birth"].text == "1958-07-09"  # the printed date stands


def test_issuer_snaps_to_the_unique_nearest_lexicon_entry() -> None:
    from idsight.ocr.cleanup.lexicon import default_models, snap_issuer

    issuers = default_models().issuers
    assert "서울특별시 은평구청장" in issuers
    assert snap_issuer("서별보시 은평구청장", issuers) == "서울특별시 은평구청장"  # 2 edits, unique
    assert snap_issuer("서울특별시 은평구청장", issuers) is None  # already right
    assert snap_issuer("대시 서구청장", issuers) is None  # 대전/대구/인천... 서구: a tie, left alone
    assert snap_issuer("완전히 다른 글자들입니다", issuers) is None  # too far from everything
