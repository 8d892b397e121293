"""The reader recipe end to end on a tiny config: data generation, four fits, one artifact."""

from __future__ import annotations

from pathlib import Path

import pytest

from idsight.artifact import read_meta
from idsight.errors import BadConfigError
from idsight.models.reader import PARTS, ReaderModel, count_parameters
from idsight.train.recipes import load_recipe, train_reader

CONFIG = Path(__file__).parents[1] / "configs" / "reader_tiny.yaml"


def test_tiny_recipe_writes_one_complete_artifact(tmp_path: Path) -> None:
    sets = [f"data.root={tmp_path / 'data'}", f"out={tmp_path / 'models'}"]
    path = train_reader(CONFIG, overrides=sets)
    assert path.is_file() and path.suffix == ".safetensors"
    assert [p.name for p in path.parent.iterdir() if p.is_file()] == [path.name]  # one file
    model, meta = ReaderModel.from_artifact(path)
    assert meta["parameter_count"] == count_parameters(model)
    assert set(meta["arch"]) == set(PARTS)
    assert meta["config"]["name"] == "idsight-reader-tiny" and meta["config"]["data"]["root"] == str(
        tmp_path / "data"
    )
    assert (
        meta["provenance"]["command"].startswith("idsight train ")
        and "--set" in meta["provenance"]["command"]
    )
    assert meta["provenance"]["data"]["seed"] == 0
    assert set(meta["metrics"]["components"]) == set(PARTS)
    assert 0.0 <= meta["metrics"]["val"]["field_exact_match"] <= 1.0
    assert "crop_pad" in meta["preprocessing"]
    # a second run reuses every trained part (same config) and gives the same weights
    again = train_reader(CONFIG, overrides=sets, out=tmp_path / "again.safetensors")
    assert read_meta(again)["metrics"]["components"] == meta["metrics"]["components"]


def test_recipe_rejects_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(BadConfigError, match="reader_tiny.yaml"):
        load_recipe(CONFIG, ["classifier.optim.lrr=1"])
