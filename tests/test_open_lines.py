"""The open charset, generated open-text lines, and single-network training that resumes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from idsight.data.charset import CHARSET, OPEN_CHARSET, Charset, ks_x_1001_hangul
from idsight.data.lines import OpenTextLines
from idsight.data.synth.textlines import KINDS, covers, font_for, sample_text


def test_open_charset_covers_what_cards_print() -> None:
    hangul = ks_x_1001_hangul()
    assert len(hangul) == 2350 and "똠" not in hangul and "가" in hangul and "힝" in hangul
    assert set(CHARSET) <= set(OPEN_CHARSET)  # everything the card models read
    for text in ("Müller-Lüdenscheidt", "Ærøskøbing", "Łódź", "2024. 1. 31.", "Date d'expiration:", "(자이)"):
        assert all(c in OPEN_CHARSET for c in text), text
    cs = Charset.named("open")
    assert cs.encode("가A") == [cs.index["가"], cs.index["A"]] and min(cs.index.values()) == 1
    with pytest.raises(ValueError, match="not in charset"):
        cs.encode("€")


def test_sampled_texts_are_in_the_charset_and_cover_every_kind() -> None:
    rng = np.random.default_rng(5)
    kinds = set()
    hangul = set()
    for _ in range(600):
        text, kind = sample_text(rng)
        kinds.add(kind)
        assert text and text == text.strip() and all(c in OPEN_CHARSET for c in text), (kind, text)
        hangul |= {c for c in text if "가" <= c <= "힣"}
    assert kinds == set(KINDS)
    assert len(hangul) > 500  # random syllables reach far beyond the word lists


def test_fonts_cover_the_text_they_draw() -> None:
    rng = np.random.default_rng(0)
    path = font_for(rng, "꿇닭", "hangul", "train")
    assert covers(path, "꿇닭")
    assert font_for(rng, "P<UTO", "mrz", "train").endswith("OCRB.otf")


def test_open_lines_dataset_is_deterministic_and_batches() -> None:
    ds = OpenTextLines(count=50, seed=3)
    a, b = ds[7], ds[7]
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    assert a[0].shape[1] == 32 and a[0].shape[2] % 4 == 0
    batch = OpenTextLines.collate([ds[i] for i in range(6)])
    assert sum(len(c["target_lengths"]) for c in batch["chunks"]) == 6


def test_single_network_training_resumes_and_records_its_commands(tmp_path: Path) -> None:
    from idsight.artifact import load_artifact
    from idsight.train.component import is_component_config, train_component

    cfg = {
        "model": {
            "name": "crnn_student",
            "kwargs": {"num_classes": len(OPEN_CHARSET) + 1, "hidden": 16, "width": 32},
        },
        "task": {"name": "ctc_recognition", "kwargs": {}},
        "data": {
            "name": "open_text_lines",
            "kwargs": {"charset": "open"},
            "train": {"count": 16, "seed": 0},
            "val": {"count": 8, "seed": 1},
            "batch_size": 8,
        },
        "optim": {"name": "adamw", "lr": 1e-3},
        "trainer": {"max_epochs": 1, "log_every_n_steps": 1},
        "plateau": {"monitor": "val/loss", "patience": 5},
        "out_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "rec.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    assert is_component_config(path)
    first = train_component(path)
    assert first is not None
    _, meta1 = load_artifact(first)
    assert meta1["training"]["global_step"] == 2 and meta1["charset"] == OPEN_CHARSET
    second = train_component(path, overrides=["trainer.max_epochs=2"])
    assert second is not None
    _, meta2 = load_artifact(second)
    assert meta2["training"]["global_step"] == 4  # went on from the checkpoint, not from scratch
    commands = [c["command"] for c in meta2["provenance"]["commands"]]
    assert commands == [f"idsight train {path}", f"idsight train {path} --set trainer.max_epochs=2"]
    resumed = [
        json.loads(x)["resumed"] for x in (tmp_path / "run" / "commands.jsonl").read_text().splitlines()
    ]
    assert resumed == [False, True]


def test_warm_start_keeps_every_known_character_row() -> None:
    from idsight.artifact import load_artifact
    from idsight.hub import resolve
    from idsight.models.recognizer import crnn_from_reader

    net = crnn_from_reader(reader="idsight-reader-teacher", charset="open")
    state, meta = load_artifact(resolve("idsight-reader-teacher"))
    old = meta["charset"]
    assert net.num_classes == len(OPEN_CHARSET) + 1
    for c in ("가", "A", "7", "<"):
        i, j = 1 + OPEN_CHARSET.index(c), 1 + old.index(c)
        assert torch.equal(net.head.weight[i], state["recognizer.head.weight"][j])
    assert torch.equal(net.head.weight[0], state["recognizer.head.weight"][0])  # the blank
    unseen = next(c for c in ks_x_1001_hangul() if c not in old)
    new = 1 + OPEN_CHARSET.index(unseen)
    assert net.head.weight[new].abs().max() < state["recognizer.head.weight"].abs().max()


def test_a_committed_artifact_carries_training_on(tmp_path: Path) -> None:
    from idsight.artifact import save_artifact
    from idsight.models.recognizer import concrete_arch, crnn_from_artifact

    arch = concrete_arch("crnn_from_reader", {"reader": "idsight-reader-teacher", "charset": "open"})
    assert arch["name"] == "crnn_base" and arch["kwargs"]["num_classes"] == len(OPEN_CHARSET) + 1
    small = {
        "name": "crnn_student",
        "kwargs": {"num_classes": len(OPEN_CHARSET) + 1, "hidden": 8, "width": 16},
    }
    from idsight.models.recognizer import crnn_student

    net = crnn_student(**small["kwargs"])
    path = save_artifact(
        tmp_path / "r.safetensors",
        net.state_dict(),
        {"arch": small, "charset": OPEN_CHARSET},
        dtype="float32",
    )
    again = crnn_from_artifact(path=str(path))
    assert all(torch.equal(again.state_dict()[k], v) for k, v in net.state_dict().items())
    # any network idsight train wrote: a contour extractor, by its generic name
    from idsight.models.contour import contour_net
    from idsight.registry import MODELS

    carch = {"name": "contour_net", "kwargs": {"channels": [8, 16], "side_channels": 4}}
    cnet = contour_net(**carch["kwargs"])  # type: ignore[arg-type]
    cpath = save_artifact(tmp_path / "c.safetensors", cnet.state_dict(), {"arch": carch}, dtype="float32")
    back = MODELS.build("from_artifact", path=str(cpath))
    assert all(torch.equal(back.state_dict()[k], v) for k, v in cnet.state_dict().items())
    assert concrete_arch("from_artifact", {"path": str(cpath)}) == carch


def test_a_line_recogniser_artifact_teaches_a_student(tmp_path: Path) -> None:
    from idsight.artifact import save_artifact
    from idsight.models.recognizer import crnn_student
    from idsight.tasks.distill import Distillation

    kwargs = {"num_classes": len(OPEN_CHARSET) + 1, "hidden": 8, "width": 16}
    teacher = crnn_student(**kwargs)
    meta = {
        "task": "ctc_recognition",
        "arch": {"name": "crnn_student", "kwargs": kwargs},
        "charset": OPEN_CHARSET,
    }
    path = save_artifact(tmp_path / "t.safetensors", teacher.state_dict(), meta, dtype="float32")
    task = Distillation(part="recognizer", base={"name": "ctc_recognition", "kwargs": {}}, teacher=str(path))
    ds = OpenTextLines(count=4, seed=2)
    student = crnn_student(**kwargs)
    out = task(student, OpenTextLines.collate([ds[i] for i in range(4)]))
    assert torch.isfinite(out["loss"]) and float(out["kd"]) >= 0
    out["loss"].backward()
    assert all(p.grad is not None for p in student.head.parameters())
    assert all(p.grad is None for p in task.teacher.parameters())


def test_rules_near_a_line_are_drawn_beside_the_text_not_over_it() -> None:
    from idsight.data.synth.lines import _draw_rules

    margin, th, tw = 34, 30, 200
    drawn = 0
    for seed in range(20):
        canvas = np.full((th + 2 * margin, tw + 2 * margin, 3), 230, np.uint8)
        _draw_rules(np.random.default_rng(seed), canvas, margin, th, tw)
        ink = (canvas < 200).any(-1)
        assert not ink[margin : margin + th, margin : margin + tw].any()  # never over the text
        near = np.zeros_like(ink)
        near[
            margin - th // 3 - 2 : margin + th + th // 3 + 2, margin - th // 3 - 2 : margin + tw + th // 3 + 2
        ] = True
        assert ink[near].any() or not ink.any()  # what is drawn comes close to the text
        drawn += bool(ink.any())
    assert drawn >= 14  # each side has its own chance; most draws draw something


def test_composer_fonts_cover_both_scripts_and_keep_held_out_families_out_of_training() -> None:
    from idsight.data.synth.compose import fontpool

    train = {f.family for f in fontpool.latin_faces("train")} | {
        f.family for f in fontpool.korean_faces("train")
    }
    held = {f.family for f in fontpool.latin_faces("heldout")}
    assert held == set(fontpool.HELD_OUT_FONTS) and not train & held
    assert not any(f.startswith(fontpool.NEVER_TRAIN) for f in train)
    assert all(fontpool.covers(f, "가나다") for f in fontpool.korean_faces("train"))
    assert all(fontpool.covers(f, "AZaz") for f, script in fontpool._all_faces() if script == "latin")
    assert not train & set(fontpool.SCRIPT_FAMILIES)  # handwriting signs, never prints a field


def test_a_seal_is_printed_under_the_end_of_a_line_not_its_start() -> None:
    from idsight.data.synth.lines import place_line

    mask = np.zeros((30, 300), np.float32)
    mask[5:25, :] = 1.0  # a solid bar of "ink": what differs between the crops is the seal
    red = []
    for seed in range(8):
        crop = place_line(
            np.random.default_rng(seed),
            mask,
            rotate=0.0,
            shear=0.0,
            pad_x=(0.5, 0.5),
            pad_y=(0.5, 0.5),
            plain=1.0,
            seals=1.0,
        ).astype(int)
        reddish = (crop[..., 0] - crop[..., 1] > 40) | (crop[..., 2] - crop[..., 1] > 40)
        w = crop.shape[1]
        end, start = reddish[:, int(w * 0.6) :].sum(), reddish[:, : int(w * 0.4)].sum()
        assert end > 10 * max(start, 1)  # at the end of the line, not its start
        red.append(end)
    assert min(red) > 50
