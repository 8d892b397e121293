"""Every shipped artifact: loads without pickle, its recorded parameter count, preprocessing,
provenance and metrics match the real model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from idsight import hub
from idsight.artifact import read_meta
from idsight.data.charset import CHARSET
from idsight.models.reader import ReaderModel, count_parameters
from idsight.ocr.predictor import DEFAULT_PREPROCESSING, LEGACY_PREPROCESSING, CardReader

SHIPPED = sorted(hub.shipped_dir().glob("*.safetensors"))
CARD_READERS = [p for p in SHIPPED if read_meta(p)["task"] == "card_reader"]
LINE_READERS = [p for p in SHIPPED if read_meta(p)["task"] == "line_reader"]
MAX_TOTAL_BYTES = 30 * 1024 * 1024


def test_something_is_shipped_and_default_resolves() -> None:
    assert SHIPPED, "no shipped models"
    default = hub.resolve("default")
    assert default in SHIPPED or default.parent != hub.shipped_dir()


def test_total_size_budget() -> None:
    assert sum(p.stat().st_size for p in SHIPPED) <= MAX_TOTAL_BYTES


@pytest.mark.parametrize("path", CARD_READERS, ids=lambda p: p.stem)
def test_recorded_metadata_matches_model(path: Path) -> None:
    model, meta = ReaderModel.from_artifact(path)
    assert meta["parameter_count"] == count_parameters(model)
    assert meta["parameters"] == model.part_parameters()
    assert meta["task"] == "card_reader" and meta["role"] in ("teacher", "student")
    assert meta["charset"] == CHARSET
    # every key but those added since, which load with their legacy value
    assert set(DEFAULT_PREPROCESSING) - set(LEGACY_PREPROCESSING) <= set(meta["preprocessing"])
    prov, config = meta["provenance"], meta["config"]
    synthetic = meta.get("data", {}).get("synthetic")
    if synthetic and synthetic["cards"] + synthetic.get("lines", 0) > 0:
        assert synthetic["seed"] < 1000  # generated data: training seeds only
    parent = meta.get("parent")
    # fine-tuned or pruned: follow the chain to the recipe
    while prov["command"].startswith(("idsight distill", "idsight models prune")):
        assert all(int(x) < 1000 for x in re.findall(r"synthetic_seed=(\d+)", prov["command"]))
        if prov["command"].startswith("idsight models prune"):
            assert config["prune"]["seed"] < 1000  # calibration lines: a training seed
            assert parent["relation"] == "localiser, classifier and detector from"
        else:
            assert parent["relation"] == "fine-tuned from"
        assert len(parent["sha256"]) == 64
        prov, config, parent = parent["provenance"], config["parent_config"], parent.get("parent")
    assert prov["command"].startswith("idsight train configs/")
    assert (Path(__file__).parents[1] / prov["command"].split()[2]).is_file()  # the recipe is in the repo
    assert isinstance(prov["data"]["seed"], int) and prov["data"]["seed"] < 1000
    assert config["name"] == path.stem
    val = meta["metrics"]["val"]
    assert 0.0 <= val["field_exact_match"] <= 1.0 and val["cards"] > 0


@pytest.mark.parametrize("path", CARD_READERS, ids=lambda p: p.stem)
def test_recorded_metrics_reproduce(path: Path, tmp_path: Path) -> None:
    """Regenerate the first cards of each validation folder and re-score them."""
    from idsight.data.synth import write_cards
    from idsight.train.evaluate import evaluate_reader

    meta = read_meta(path)
    head = meta["metrics"]["val_head"]
    dirs = []
    for name in head["folders"]:  # e.g. td1-photo-s3-train-n60
        template, kind, seed, pool, _ = name.rsplit("-", 4)
        write_cards(
            template,
            head["cards_per_folder"],
            tmp_path / name,
            photo=kind == "photo",
            seed=int(seed[1:]),
            font_pool=pool,
        )
        dirs.append(tmp_path / name)
    got = evaluate_reader(CardReader.load(path), dirs)
    assert got["field_exact_match"] == pytest.approx(head["field_exact_match"], abs=1e-4)
    assert got["cer"] == pytest.approx(head["cer"], abs=1e-4)


def test_models_list_reports_shipped() -> None:
    rows = {r["name"]: r for r in hub.list_models()}
    for p in SHIPPED:
        r = rows[p.stem]
        assert r["parameters"] == read_meta(p)["parameter_count"]
        assert r["file_size"] == p.stat().st_size
        json.dumps(r)


def test_the_default_reader_is_a_shipped_layout_free_student_with_its_lineage() -> None:
    from idsight import DEFAULT_READER
    from idsight.artifact import load_artifact
    from idsight.ocr.layoutfree import load_line_reader

    path = hub.resolve(DEFAULT_READER)
    assert path in LINE_READERS
    state, meta = load_artifact(path)
    assert meta["role"] == "student" and meta["parameter_count"] == sum(v.numel() for v in state.values())
    reader = load_line_reader(path)
    assert (
        reader.detector.localizer is not None
        and reader.detector.height_scale == meta["calibration"]["detector"]["height_scale"]
    )
    # every command that made it: assembly, calibration, and each network's training recipe
    assert meta["commands"][0].startswith("idsight models assemble")
    assert meta["commands"][-1].startswith("idsight models calibrate")
    trained = [meta["detector"]["provenance"], meta["recognizer"]["provenance"]]
    if "localizer_provenance" in meta["detector"]:
        trained.append(meta["detector"]["localizer_provenance"])

    def recipes(prov: dict) -> list[str]:  # a model soup's: every averaged input's
        if "averaged" in prov:
            assert prov["command"].startswith("idsight models average") and len(prov["averaged"]) >= 2
            return [r for a in prov["averaged"] for r in recipes(a["provenance"])]
        return [prov["commands"][0]["command"] if prov.get("commands") else prov["command"]]

    for recipe in (r for prov in trained for r in recipes(prov)):
        assert recipe.startswith("idsight train configs/")
        assert (Path(__file__).parents[1] / recipe.split()[2]).is_file()
