"""Generated face identities and the near-infrared simulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from idsight.cli.main import app
from idsight.data.faces import FacePairs
from idsight.data.synth.faces import NIR_SETTINGS, identity_split, simulate_nir, source_faces, vary


def test_sources_and_the_identity_split() -> None:
    faces = source_faces()
    assert len(faces) == 101 and all(f.rgb.shape == (112, 112, 3) and f.rgb.dtype == np.uint8 for f in faces)
    train, held = identity_split(faces)
    assert len(train) == 80 and len(held) == 21 and not {f.name for f in train} & {f.name for f in held}
    assert "astronaut" in {f.name for f in held}


def test_views_vary_but_stay_the_face() -> None:
    face = source_faces()[100]
    rng = np.random.default_rng(0)
    views = [vary(face.rgb, rng) for _ in range(6)]
    assert all(v.shape == face.rgb.shape and v.dtype == np.uint8 for v in views)
    diffs = [float(np.abs(v.astype(int) - face.rgb.astype(int)).mean()) for v in views]
    assert min(diffs) > 3  # no near-copies
    other = source_faces()[0].rgb.astype(int)
    # on average a view is nearer its own source than another identity's photo is
    assert np.mean(diffs) < np.abs(other - face.rgb.astype(int)).mean()


def test_nir_simulation_follows_its_model() -> None:
    face = source_faces()[100]  # the colour photo
    eyes = face.eyes
    nir = simulate_nir(face.rgb, np.random.default_rng(1), eyes=eyes)
    assert (
        nir.shape == face.rgb.shape
        and (nir[..., 0] == nir[..., 1]).all()
        and (nir[..., 1] == nir[..., 2]).all()
    )
    luma = face.rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.corrcoef(nir[..., 0].ravel(), luma.ravel())[0, 1] < 0.99  # not the visible grey image
    s = face.rgb.shape[0]
    centre = nir[s // 2 - 8 : s // 2 + 8, s // 2 - 8 : s // 2 + 8, 0].mean()
    corners = np.mean([nir[:12, :12, 0].mean(), nir[:12, -12:, 0].mean()])
    assert centre > corners  # the active light falls off away from its axis
    x, y = round(eyes[0][0] * s), round(eyes[0][1] * s)
    assert nir[y, x, 0] < 0.5 * nir[y - 6 : y + 7, x - 6 : x + 7, 0].mean()  # a dark pupil


def test_heldout_settings_are_disjoint_from_training() -> None:
    a, b = NIR_SETTINGS["train"], NIR_SETTINGS["heldout"]
    for name in ("red", "falloff", "smooth", "noise", "gain"):
        lo, hi = getattr(a, name), getattr(b, name)
        assert lo[1] < hi[0] or hi[1] < lo[0], name


def test_synth_faces_command_writes_pairs(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["synth", "faces", "--out", str(tmp_path / "f"), "--views", "2", "--identities", "heldout"]
    )
    assert res.exit_code == 0, res.output
    pairs = FacePairs(root=tmp_path / "f")
    assert len(pairs.identities) == 21 and len(pairs) == 21 * 2 * 2
    again = CliRunner().invoke(
        app, ["synth", "faces", "--out", str(tmp_path / "g"), "--views", "2", "--identities", "heldout"]
    )
    assert again.exit_code == 0
    assert (tmp_path / "f/astronaut/nir/001.png").read_bytes() == (
        tmp_path / "g/astronaut/nir/001.png"
    ).read_bytes()
    bad = CliRunner().invoke(app, ["synth", "faces", "--out", str(tmp_path / "h"), "--nir-setting", "sunny"])
    assert bad.exit_code == 2 and "unknown NIR setting 'sunny'" in bad.output
