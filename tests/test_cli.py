"""CLI contract: --help everywhere, one-line errors with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import struct
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
        ["models", "average"],
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
    assert "Traceback" not in r.stderr and "unknown document type 'bogus'" in r.stderr


# -- bad input never breaks anything: one line, exit 2, nothing stored is damaged -----------------------------


def _exit2(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    _one_line_error(code, err, *needles)


def _image(tmp_path: Path) -> Path:
    f = tmp_path / "x.png"
    Image.fromarray(np.zeros((100, 160, 3), np.uint8)).save(f)
    return f


def _crafted(path: Path, header: object) -> Path:
    """A file with a safetensors-style header that is valid JSON but not what an artifact holds."""
    data = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(data)) + data)
    return path


META = {"idsight.format": "idsight-artifact/1"}
CRAFTED = {
    "header-list": [1, 2],
    "metadata-list": {"__metadata__": ["idsight.format"]},
    "metadata-number": {"__metadata__": {**META, "idsight.meta": 5}},
    "meta-list": {"__metadata__": {**META, "idsight.meta": "[1, 2]"}},
    "meta-string": {"__metadata__": {**META, "idsight.meta": '"x"'}},
}


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_model_header(tmp_path: Path, idsight_home: Path, kind: str) -> None:
    bad = _crafted(tmp_path / f"{kind}.safetensors", CRAFTED[kind])
    code, _, err = run("read", str(_image(tmp_path)), "--model", str(bad))
    _exit2(code, err, f"{kind}.safetensors", "corrupt model")
    code, _, err = run("export", str(bad), "--out", str(tmp_path / "onnx"))
    _exit2(code, err, f"{kind}.safetensors", "corrupt model")
    assert not (tmp_path / "onnx").exists()


def _reader_with(tmp_path: Path, random_reader: Path, name: str, **meta: object) -> Path:
    from idsight.artifact import load_artifact, save_artifact

    state, base = load_artifact(random_reader)
    return save_artifact(tmp_path / f"{name}.safetensors", state, {**base, **meta})


@pytest.mark.parametrize("kind", ["short", "long", "not-text"])
def test_charset_that_does_not_fit_the_network(tmp_path: Path, random_reader: Path, kind: str) -> None:
    from idsight.data.charset import CHARSET

    n = len(CHARSET)
    charset, needle = {
        "short": (CHARSET[:-1], f"has {n - 1} characters but the recogniser has {n + 1} outputs"),
        "long": (CHARSET + "ß", f"has {n + 1} characters but the recogniser has {n + 1} outputs"),
        "not-text": (list(CHARSET), "the charset is a list, not a non-empty string"),
    }[kind]
    bad = _reader_with(tmp_path, random_reader, "mismatch", charset=charset)
    code, _, err = run("read", str(_image(tmp_path)), "--model", str(bad))
    _exit2(code, err, "mismatch.safetensors", needle)
    code, _, err = run("export", str(bad), "--out", str(tmp_path / "onnx"))
    _exit2(code, err, "mismatch.safetensors", needle)


def test_model_without_charset_must_fit_the_built_in_one(tmp_path: Path) -> None:
    from idsight.models import build_reader, student_arch

    path = build_reader(student_arch(10)).to_artifact(tmp_path / "tiny.safetensors", {"task": "card_reader"})
    code, _, err = run("read", str(_image(tmp_path)), "--model", str(path))
    _exit2(code, err, "tiny.safetensors", "recogniser has 10 outputs")


def test_inspect_into_a_file(tmp_path: Path, random_reader: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    code, _, err = run("read", str(_image(tmp_path)), "--model", str(random_reader), "--inspect", str(notes))
    _exit2(code, err, "notes.txt", "not a folder")
    code, _, err = run(
        "read", str(_image(tmp_path)), "--model", str(random_reader), "--inspect", str(notes / "sub")
    )
    _exit2(code, err, "notes.txt", "cannot make the folder")
    assert notes.read_text() == "keep me"


def _empty_store(tmp_path: Path) -> str:
    from idsight.review import ReviewStore

    url = f"sqlite:///{tmp_path / 'reviews.db'}"
    ReviewStore(url).close()
    return url


def test_export_into_a_missing_folder_or_onto_a_folder(tmp_path: Path) -> None:
    url = _empty_store(tmp_path)
    target = tmp_path / "missing" / "out.jsonl"
    code, _, err = run("review", "export", str(target), "--db", url)
    _exit2(code, err, str(target), "no such folder")
    assert not target.parent.exists()
    folder = tmp_path / "out.jsonl"
    folder.mkdir()
    code, _, err = run("review", "export", str(folder), "--db", url)
    _exit2(code, err, "out.jsonl", "cannot write the file")
    assert folder.is_dir() and not list(tmp_path.glob("*.tmp"))
    code, out, err = run("review", "export", str(tmp_path / "good.jsonl"), "--db", url)
    assert code == 0 and "wrote 0 reads" in out, err  # the store is as it was
    assert not list(tmp_path.glob("*.tmp"))


def test_review_purge(tmp_path: Path) -> None:
    url = _empty_store(tmp_path)
    code, out, err = run("review", "purge", "--db", url, "--older-than", "30", "--dry-run")
    assert code == 0 and "would delete 0 reads older than 30 days" in out, err
    code, out, err = run("review", "purge", "--db", url, "--older-than", "0")
    assert code == 0 and "deleted 0 reads" in out, err
    code, _, err = run("review", "purge", "--db", url, "--older-than", "-2")
    assert code == 2 and "greater than or equal to 0" in err
    missing = f"sqlite:///{tmp_path / 'typo.db'}"
    code, _, err = run("review", "purge", "--db", missing, "--older-than", "1")
    _exit2(code, err, "typo.db", "no such review store")
    assert not (tmp_path / "typo.db").exists()


def test_reading_commands_refuse_a_missing_store(tmp_path: Path, random_reader: Path) -> None:
    typo = tmp_path / "reveiws.db"
    url = f"sqlite:///{typo}"
    out_file = tmp_path / "out.jsonl"
    for cmd in (["export", str(out_file)], ["serve", "--port", "0"]):
        code, _, err = run("review", *cmd, "--db", url)
        _exit2(code, err, "reveiws.db", "no such review store", "idsight review import")
    m = str(random_reader)
    code, _, err = run(
        "distill", "--teacher", m, "--student", m, "--reviews", url, "--out", str(tmp_path / "n.safetensors")
    )
    _exit2(code, err, "reveiws.db", "no such review store")
    assert not typo.exists() and not out_file.exists()
    # a writing command creates it
    run("read", str(_image(tmp_path)), "--model", m, "--store", url)
    assert typo.is_file()
    code, out, err = run("review", "export", str(out_file), "--db", url)
    assert code == 0, err


def test_postgresql_without_a_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from idsight.review import migrations

    monkeypatch.setattr(migrations, "find_spec", lambda name: None)
    code, _, err = run(
        "review", "export", str(tmp_path / "o.jsonl"), "--db", "postgresql://ann:pw@db/reviews"
    )
    _exit2(code, err, "postgresql://ann:***@db/reviews", "pip install 'idsight[pg]'")
    for cmd in (["review", "export"], ["review", "serve"], ["review", "import"], ["read"], ["distill"]):
        r = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "300"})
        assert r.exit_code == 0 and "pip install 'idsight[pg]'" in r.stdout, cmd


def test_models_list_survives_a_crafted_file(idsight_home: Path, random_reader: Path) -> None:
    from idsight import hub

    models = idsight_home / "models"
    models.mkdir(parents=True)
    (models / "mine.safetensors").write_bytes(random_reader.read_bytes())
    (models / "DEFAULT").write_text("mine\n")
    _crafted(models / "evil.safetensors", [1, 2])
    (models / "dir.safetensors").mkdir()
    code, out, err = run("models", "list", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["mine"]["task"] == "card_reader" and rows["mine"]["default"]
    assert rows["idsight-reader-student"]["parameters"] > 0
    assert "evil.safetensors" in rows["evil"]["error"] and "corrupt model header" in rows["evil"]["error"]
    assert "a folder" in rows["dir"]["error"]
    r = runner.invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    code, out, err = r.exit_code, r.stdout, r.stderr
    assert code == 0 and "mine" in out and "idsight-reader-teacher" in out and "unreadable" in out
    assert "evil.safetensors" in err and "dir.safetensors" in err and "Traceback" not in err
    assert hub.resolve("default") == models / "mine.safetensors"


@pytest.mark.parametrize("name", ["sub/evil", "..", ".", "../up", "a b", "", "default", "x.safetensors"])
def test_promote_refuses_unsafe_names(
    tmp_path: Path, idsight_home: Path, random_reader: Path, name: str
) -> None:
    from idsight import hub

    shipped = hub.resolve("default")
    code, _, err = run("models", "promote", str(random_reader), "--name", name)
    _exit2(code, err, "invalid model name")
    assert not idsight_home.exists()  # nothing written anywhere
    assert hub.resolve("default") == shipped


def test_promote_refuses_an_unsafe_file_stem_before_scoring(
    tmp_path: Path, idsight_home: Path, random_reader: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import idsight.train.holdout as holdout

    def never(*_: object, **__: object) -> None:
        raise AssertionError("scored")

    monkeypatch.setattr(holdout, "score_holdout", never)
    cand = tmp_path / "my model.safetensors"
    cand.write_bytes(random_reader.read_bytes())
    code, _, err = run("models", "promote", str(cand))
    _exit2(code, err, "invalid model name 'my model'")
    assert not idsight_home.exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"../evil\n", "names '../evil', which is not a valid model name"),
        (b"sub/evil\n", "names 'sub/evil', which is not a valid model name"),
        (b"\n", "names '', which is not a valid model name"),
        (b"\xff\xfe\x00", "cannot read the default model's name"),
        (b"gone\n", "names model 'gone', which is not installed"),
    ],
)
def test_broken_default_file(tmp_path: Path, idsight_home: Path, content: bytes, needle: str) -> None:
    models = idsight_home / "models"
    models.mkdir(parents=True)
    (models / "DEFAULT").write_bytes(content)
    code, _, err = run("read", str(_image(tmp_path)), "--model", "default")
    _exit2(code, err, str(models / "DEFAULT"), needle)
    code, out, err = run("models", "list", "--json")
    assert code == 0 and not any(r["default"] for r in json.loads(out)), err


def test_demo_reads_unseen_designs_first(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["demo", "--no-loop", "--count", "1", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    first, second = (
        res.output.index("design and font families no training saw"),
        res.output.index("fixed template"),
    )
    assert first < second and "td3" in res.output
    labels = (tmp_path / "d" / "unseen" / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(labels) == 15 and all('"heldout"' in line for line in labels)


def test_read_defaults_to_the_layout_free_student_and_inspect_asks_for_the_card_reader(
    tmp_path: Path,
) -> None:
    from idsight import DEFAULT_READER
    from idsight.artifact import read_meta
    from idsight.hub import resolve
    from idsight.review.store import ReviewStore

    assert read_meta(resolve(DEFAULT_READER))["task"] == "line_reader"
    assert read_meta(resolve("default"))["task"] != "line_reader"  # the card reader that reviews train
    code, _, err = run("read", str(_image(tmp_path)), "--inspect", str(tmp_path / "out"))
    _exit2(code, err, DEFAULT_READER, "--model default", "layout-free")
    db = f"sqlite:///{tmp_path}/r.db"  # --store takes the layout-free reader's reads; a blank photo adds none
    code, _, err = run("read", str(_image(tmp_path)), "--store", db)
    _exit2(code, err, "x.png", "no ID card")
    assert ReviewStore(db).queue() == []


def test_models_average_writes_the_mean_and_refuses_other_architectures(tmp_path: Path) -> None:
    import torch

    from idsight.artifact import load_artifact, save_artifact

    meta = {"task": "line_recognition", "arch": {"name": "crnn_student", "kwargs": {}}, "charset": "ab"}
    a = save_artifact(
        tmp_path / "a.safetensors", {"w": torch.zeros(3), "n": torch.tensor([7])}, meta, dtype="float32"
    )
    b = save_artifact(
        tmp_path / "b.safetensors", {"w": torch.ones(3) * 2, "n": torch.tensor([7])}, meta, dtype="float32"
    )
    code, out, err = run("models", "average", str(a), str(b), "--out", str(tmp_path / "soup.safetensors"))
    assert code == 0, err
    state, got = load_artifact(tmp_path / "soup.safetensors")
    assert torch.equal(state["w"], torch.ones(3)) and torch.equal(state["n"], torch.tensor([7]))
    assert [x["path"] for x in got["provenance"]["averaged"]] == [str(a), str(b)]
    assert got["arch"] == meta["arch"] and got["charset"] == "ab"
    other = save_artifact(
        tmp_path / "c.safetensors", {"w": torch.zeros(4), "n": torch.tensor([7])}, meta, dtype="float32"
    )
    code, _, err = run("models", "average", str(a), str(other), "--out", str(tmp_path / "x.safetensors"))
    _one_line_error(code, err, "c.safetensors", "do not match")
    code, _, err = run("models", "average", str(a), "--out", str(tmp_path / "x.safetensors"))
    _one_line_error(code, err, "two or more")
    assert not (tmp_path / "x.safetensors").exists()
