"""benchmarks/reader_profile.py: its timers see every part of a read and leave the reader as it was."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def prof(benchmark_script):
    return benchmark_script("reader_profile")


def test_profile_times_every_part_and_restores_the_reader(prof, tmp_path: Path) -> None:
    import idsight.ocr.localize as L
    import idsight.ocr.predictor as P
    from idsight.data.io import load_image
    from idsight.data.synth import write_cards

    write_cards("td1", 2, tmp_path, photo=True, seed=9501)
    images = [load_image(p) for p in sorted(tmp_path.glob("*.jpg")) + sorted(tmp_path.glob("*.png"))]
    assert len(images) == 2
    before = (L.refine_quad, P.fit_height, L.CardView.region, P.lut_planes)
    args = prof.parse_args(["--runtime", "torch"])
    res = prof.profile("default", images, args)
    assert (L.refine_quad, P.fit_height, L.CardView.region, P.lut_planes) == before  # restored
    parts = res["ms_per_card"]
    for label in (*[f"network: {p}" for p in prof.PARTS], *prof.SHARED):
        assert parts[label] > 0, label  # each wrapped part ran and was timed
    assert res["cards"] == 2 and res["networks_ms"] > 0
    assert res["networks_ms"] + res["outside_networks_ms"] == pytest.approx(res["mean_total_ms"], abs=1e-2)
