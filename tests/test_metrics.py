from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idsight.metrics import bounded_edit_distance, cer, edit_distance, field_accuracy, latency_summary

texts = st.text(alphabet="ab가나<0", max_size=12)


@pytest.mark.parametrize(
    "a,b,d",
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("홍길동", "홍길순", 1),
        ("P<KOR", "P<K0R", 1),
        ("abc", "abc", 0),
    ],
)
def test_edit_distance_examples(a, b, d):
    assert edit_distance(a, b) == d


@settings(max_examples=200, deadline=None)
@given(texts, texts)
def test_distance_symmetric_and_zero_iff_equal(a, b):
    d = edit_distance(a, b)
    assert d == edit_distance(b, a)
    assert (d == 0) == (a == b)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))


@settings(max_examples=200, deadline=None)
@given(texts, texts, texts)
def test_triangle_inequality(a, b, c):
    assert edit_distance(a, c) <= edit_distance(a, b) + edit_distance(b, c)


def test_cer():
    assert cer("abcd", "abcd") == 0.0
    assert cer("abce", "abcd") == 0.25
    assert cer(["ab", None], ["ab", "cd"]) == 0.5  # None = nothing read
    assert cer(["x", "yz"], ["xy", "yz"]) == pytest.approx(1 / 4)
    assert cer("", "") == 0.0 and cer("a", "") == 1.0
    with pytest.raises(ValueError):
        cer(["a"], ["a", "b"])


def test_field_accuracy():
    gts = [{"name": "홍길동", "rrn": "900101-1234568"}, {"name": "김철수", "rrn": "010203-3456789"}]
    preds = [{"name": "홍길동", "rrn": "900101-1234568"}, {"name": "김철수", "rrn": "010203-3456780"}]
    r = field_accuracy(preds, gts)
    assert r["overall"] == 0.75 and r["per_field"] == {"name": 1.0, "rrn": 0.5}
    assert r["n_fields"] == 4 and r["n_cards"] == 2 and r["cards_all_correct"] == 0.5
    r = field_accuracy([None, {"name": "김철수"}], gts)  # no read / missing field = wrong
    assert r["overall"] == 0.25 and r["per_field"] == {"name": 0.5, "rrn": 0.0}


def test_latency_summary():
    s = latency_summary([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    assert s["n"] == 10 and s["median"] == 55.0 and s["p90"] == pytest.approx(91.0)
    assert s["min"] == 10 and s["max"] == 100 and s["mean"] == 55.0
    assert latency_summary([])["median"] is None


def test_stage_latency_medians_per_stage_and_inside_the_networks() -> None:
    from idsight.metrics import READ_STAGES, stage_latency

    timings = [
        {"localize": 1.0, "detect": 4.0, "networks": 3.0, "total": 10.0},
        {"localize": 3.0, "detect": 2.0, "networks": 5.0, "total": 9.0},
        {"localize": 2.0, "detect": 3.0, "networks": 1.0, "total": 2.0},
    ]
    s = stage_latency(timings)
    assert set(s["stage_ms_median"]) == set(READ_STAGES)
    assert s["stage_ms_median"]["localize"] == 2.0 and s["stage_ms_median"]["detect"] == 3.0
    assert s["stage_ms_median"]["cleanup"] == 0.0 and s["network_ms_median"] == 3.0
    assert s["outside_network_ms_median"] == 4.0  # the median of 7, 4 and 1, not 9.0 - 3.0


@pytest.mark.parametrize(
    "name,got,want,same",
    [
        ("name", "홍 길동", "홍 길동", True),
        ("name", " 홍  길동 ", "홍 길동", True),
        ("name", "홍길동", "홍 길동", False),  # a lost space is an error outside the MRZ
        ("name", "\u1112\u1169\u11bc", "홍", True),  # NFD jamo == the NFC syllable
        ("mrz", "I<UTO 123<<\nABC<<D \n", "I<UTO123<<\nABC<<D", True),
        ("mrz", "I<UTO123<<ABC<<D", "I<UTO123<<\nABC<<D", False),  # lines are kept apart
        ("sex", None, "", True),
        ("sex", None, "F", False),
    ],
)
def test_field_match_is_the_one_exact_rule(name, got, want, same):
    from idsight.metrics import field_match

    assert field_match(name, got, want) is same


@settings(max_examples=300, deadline=None)
@given(texts, texts, st.integers(min_value=0, max_value=4))
def test_bounded_distance_is_the_distance_capped_at_limit_plus_one(a, b, limit):
    assert bounded_edit_distance(a, b, limit) == min(edit_distance(a, b), limit + 1)
