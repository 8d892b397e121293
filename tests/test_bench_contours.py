"""benchmarks/contours.py: both networks train on the same budget and are scored on unseen data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("contours")


def test_contour_benchmark_reports_each_model_on_both_unseen_sets(bench, tmp_path: Path) -> None:
    out = tmp_path / "contours.json"
    argv = ["--steps", "2", "--batch", "2", "--eval", "3", "--size", "32", "--out", str(out)]
    assert bench.main([*argv, "--models", "idsight contour_small"]) == 0
    doc = json.loads(out.read_text())
    entry = doc["models"]["idsight contour_small"]
    assert entry["parameters"] == 344437 and entry["images_per_s_1_thread"] > 0
    for name in ("heldout_shapes (generated)", "fashion_mnist_test"):
        assert 0.0 <= entry[name]["ods_f"] <= 1.0 and 0.0 <= entry[name]["ap"] <= 1.0
    with pytest.raises(SystemExit) as err:
        bench.main([*argv, "--models", "no-such-model"])
    assert err.value.code == 2
