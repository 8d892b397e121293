"""CLI contract: --help everywhere, one-line errors with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from idsight.cli.main import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["read"],
        ["synth"],
        ["synth", "cards"],
        ["train"],
        ["export"],
        ["models"],
        ["models", "list"],
        ["demo"],
        ["distill"],
        ["models", "promote"],
        ["review"],
        ["review", "serve"],
    ],
)
def test_help_everywhere(cmd: list[str]) -> None:
    code, out, _ = run(*cmd, "--help")
    assert code == 0
    assert "Usage" in out


def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]


def test_non_image_file(tmp_path: Path, random_reader: Path) -> None:
    f = tmp_path / "notes.jpg"
    f.write_text("hello, not an image")
    code, _, err = run("read", str(f), "--model", str(random_reader))
    _one_line_error(code, err, "notes.jpg", "not an image")


def test_empty_and_truncated(tmp_path: Path, random_reader: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    Image.fromarray(np.full((200, 300, 3), 200, np.uint8)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    for name, needle in (("empty.png", "empty"), ("cut.jpg", "truncated")):
        code, _, err = run("read", str(tmp_path / name), "--model", str(random_reader))
        _one_line_error(code, err, name, needle)


def test_decompression_bomb(tmp_path: Path, random_reader: Path) -> None:
    big = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(big)
    code, _, err = run("read", str(big), "--model", str(random_reader))
    _one_line_error(code, err, "bomb.png", "pixels")


def test_unknown_template(tmp_path: Path, random_reader: Path) -> None:
    f = tmp_path / "x.png"
    Image.fromarray(np.zeros((100, 160, 3), np.uint8)).save(f)
    code, _, err = run("read", str(f), "--template", "passport-xx", "--model", str(random_reader))
    _one_line_error(code, err, "unknown template", "passport-xx")


def test_unknown_runtime(tmp_path: Path, random_reader: Path) -> None:
    f = tmp_path / "x.png"
    Image.fromarray(np.zeros((100, 160, 3), np.uint8)).save(f)
    code, _, err = run("read", str(f), "--runtime", "tensorrt", "--model", str(random_reader))
    _one_line_error(code, err, "unknown runtime", "tensorrt")


def test_corrupt_model(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    f = tmp_path / "x.png"
    Image.fromarray(np.zeros((100, 160, 3), np.uint8)).save(f)
    code, _, err = run("read", str(f), "--model", str(bad))
    _one_line_error(code, err, "bad.safetensors", "corrupt")


def test_unknown_model_name(tmp_path: Path, idsight_home: Path) -> None:
    f = tmp_path / "x.png"
    Image.fromarray(np.zeros((100, 160, 3), np.uint8)).save(f)
    code, _, err = run("read", str(f), "--model", "no-such-model")
    _one_line_error(code, err, "unknown model", "no-such-model")


def test_bad_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text("name: x\nrole: teacher\nbogus_key: 1\n")
    code, _, err = run("train", str(cfg))
    _one_line_error(code, err, "r.yaml")


def test_synth_cards_writes_jsonl(tmp_path: Path) -> None:
    code, out, err = run(
        "synth", "cards", "--template", "td1", "--count", "2", "--out", str(tmp_path / "c"), "--seed", "3"
    )
    assert code == 0, err
    recs = [json.loads(x) for x in (tmp_path / "c" / "labels.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all((tmp_path / "c" / r["image"]).is_file() for r in recs)
    assert {"fields", "lines", "corners", "field_boxes"} <= set(recs[0])
    code, _, err = run("synth", "cards", "--template", "nope", "--count", "1", "--out", str(tmp_path / "d"))
    _one_line_error(code, err, "unknown template")


def test_models_list_json(idsight_home: Path, random_reader: Path) -> None:
    (idsight_home / "models").mkdir(parents=True)
    (idsight_home / "models" / "mine.safetensors").write_bytes(random_reader.read_bytes())
    code, out, err = run("models", "list", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    mine = rows["mine"]
    assert mine["source"] == "installed" and mine["task"] == "card_reader"
    assert mine["parameters"] > 0 and mine["file_size"] == random_reader.stat().st_size
    assert len(mine["sha256"]) == 64 and "metrics" in mine


def test_real_entry_point_no_traceback(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("x")
    r = subprocess.run(
        [sys.executable, "-m", "idsight", "read", str(f), "--template", "bogus"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "unknown template" in r.stderr
