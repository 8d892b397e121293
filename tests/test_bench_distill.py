"""The pure helpers of benchmarks/distill.py (the benchmark itself needs trained models and minutes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_distill", ROOT / "benchmarks" / "distill.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_distill"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("bench_distill", None)


def test_seeds_and_splits(bench):
    assert bench.parse_seeds("0,1,2") == [0, 1, 2]
    with pytest.raises(ValueError):
        bench.parse_seeds("1,1")
    assert bench.split_even(200, 2) == [100, 100]
    assert bench.split_even(7, 2) == [4, 3]
    review = {bench.review_seed(9300, s, i) for s in range(10) for i in (0, 1)}
    unreviewed = {bench.unreviewed_seed(9300, s, i) for s in range(10) for i in (0, 1)}
    evals = {bench.eval_seed(9300, i) for i in (0, 1)}
    assert len(review) == len(unreviewed) == 20 and len(evals) == 2
    assert not review & evals and not unreviewed & (review | evals)
    assert min(review | unreviewed | evals) >= 1000  # never a training seed


def test_mean_std_is_sample_std(bench):
    assert bench.mean_std([0.5, 0.7]) == {"mean": 0.6, "std": pytest.approx(0.14142, abs=1e-5), "n": 2}
    assert bench.mean_std([0.5]) == {"mean": 0.5, "std": 0.0, "n": 1}
    assert bench.mean_std([])["mean"] is None


def _model(params, size, acc, median, cer=0.01):
    overall = {
        "field_exact_match": acc,
        "cer": cer,
        "latency_ms": {"median": median, "p90": median and median * 1.2},
    }
    return {"parameter_count": params, "file_size_bytes": size, "overall": overall}


def test_compare_goals(bench):
    c = bench.compare(_model(10_000, 100, 0.95, 100.0), _model(900, 9, 0.945, 18.0))
    assert c["params_ratio"] == 0.09 and c["speedup_median"] == pytest.approx(5.556, abs=1e-3)
    assert c["accuracy_gap_points"] == pytest.approx(0.5)
    assert c["goals"]["params_ratio_ok"] and c["goals"]["speedup_ok"] and c["goals"]["gap_ok"]
    c = bench.compare(_model(10_000, 100, 0.95, 100.0), _model(1_100, 11, 0.93, 25.0))
    assert not (c["goals"]["params_ratio_ok"] or c["goals"]["speedup_ok"] or c["goals"]["gap_ok"])
    assert c["network_speedup_median"] is None  # not timed
    t, st = _model(10_000, 100, 0.95, 100.0), _model(900, 9, 0.945, 40.0)
    t["overall"]["network_ms_median"], st["overall"]["network_ms_median"] = 80.0, 10.0
    c = bench.compare(t, st)
    assert c["network_speedup_median"] == 8.0 and c["speedup_median"] == 2.5 and not c["goals"]["speedup_ok"]
    assert c["speedup_ceiling_median"] is None  # the student's time outside its networks not measured
    st["overall"]["outside_network_ms_median"] = 25.0
    assert bench.compare(t, st)["speedup_ceiling_median"] == 4.0  # 100 / 25: even free networks fall short
    c = bench.compare(_model(10_000, 100, 0.95, 100.0), _model(900, 9, 0.0, None))  # everything rejected
    assert c["speedup_median"] is None and not c["goals"]["speedup_ok"]


def test_ordering_and_aggregate(bench):
    good = {"before": 0.5, "distill_only": 0.6, "reviews_only": 0.7, "both": 0.8}
    assert bench.ordering_ok(good)
    assert not bench.ordering_ok({**good, "both": 0.7})
    assert not bench.ordering_ok({**good, "distill_only": 0.5})
    assert not bench.ordering_ok({**good, "both": None})
    assert bench.ordering_ok({k: 1 - v for k, v in good.items()}, higher_is_better=False)

    run = {"field_exact_match": 0.8, "cer": 0.02, "per_field": {"a": 1.0}, "train": {"wall_seconds": 10.0}}
    agg = bench.aggregate([{"seed": 0, **run}, {"seed": 1, "error": "no lines"}])
    assert agg["failed"] == 1 and agg["field_exact_match"]["n"] == 1
    assert agg["per_field_mean"] == {"a": 1.0} and agg["train_seconds"]["mean"] == 10.0


def test_card_counts_must_be_whole_and_non_negative(bench, capsys):
    assert bench.parse_args(["--unreviewed-cards", "200"]).unreviewed_cards == 200
    for bad in (["--unreviewed-cards", "-5"], ["--review-cards", "x"], ["--count", "-1"]):
        with pytest.raises(SystemExit) as e:
            bench.parse_args(bad)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"error: argument {bad[0]}: " in err and ("must be >= 0" in err or "not a whole number" in err)


def test_condition_config_replays_the_same_data_in_every_condition(bench):
    args = bench.parse_args(
        ["--epochs", "2", "--synthetic", "20", "--synthetic-lines", "300", "--lr", "3e-4"]
    )
    cfgs = {
        cond: bench.condition_config(
            args, 1, w, Path("t.safetensors"), Path("s.safetensors"), "sqlite:///r.db"
        )
        for cond, w in bench.CONDITIONS.items()
        if w is not None
    }
    for cond, cfg in cfgs.items():
        assert (cfg.distill_weight, cfg.label_weight) == bench.CONDITIONS[cond]
        assert cfg.synthetic == 20 and cfg.synthetic_lines == 300 and cfg.seed == 1
        assert cfg.synthetic_lines_template == ["kr-rrc", "td1"]
        assert set(cfg.line_keys_per_template()["kr-rrc"]) == {"name", "address_1", "address_2", "issuer"}
        assert cfg.optim.lr == 3e-4 and cfg.trainer.max_epochs == 2 and cfg.reviews == "sqlite:///r.db"
    plain = bench.condition_config(
        bench.parse_args([]), 0, (0.3, 1.0), Path("t"), Path("s"), "sqlite:///r.db"
    )  # no replay unless asked for
    assert plain.synthetic == 0 and plain.synthetic_lines == 0


def test_teacher_from_reviews_trains_the_teacher_on_labels_alone(bench):
    args = bench.parse_args(["--teacher-from-reviews", "--epochs", "2"])
    assert args.teacher_from_reviews and not bench.parse_args([]).teacher_from_reviews
    cfg = bench.condition_config(
        args, 0, (0.0, 1.0), Path("t.safetensors"), Path("s.safetensors"), "sqlite:///r.db", "teacher"
    )
    assert cfg.trainee == "teacher" and (cfg.distill_weight, cfg.label_weight) == (0.0, 1.0)
    assert cfg.teacher == "t.safetensors" and cfg.reviews == "sqlite:///r.db"
    student = bench.condition_config(args, 0, (0.3, 1.0), Path("t2"), Path("s"), "sqlite:///r.db")
    assert student.trainee == "student"  # the default for the conditions


def test_conditions_option_names_only_trained_conditions(bench) -> None:
    assert bench.parse_args(["--conditions", "both"]).conditions == "both"
    with pytest.raises(SystemExit):
        bench.parse_args(["--conditions", "both,before"])


def test_preprocessing_overrides(bench):
    assert bench.parse_overrides(["line_warp=direct", "crop_pad=[0.3, 0.25]"]) == {
        "line_warp": "direct",
        "crop_pad": [0.3, 0.25],
    }
    with pytest.raises(ValueError, match="KEY=VALUE"):
        bench.parse_overrides(["line_warp"])
    assert bench.main(["--part", "teacher_vs_student", "--preprocessing", "line_wrap=direct"]) == 2
