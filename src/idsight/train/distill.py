"""``idsight distill``: a new student version from the teacher and people's reviews.

1. Snapshot the training lines into ``<out>.data/lines``: every stored read's line crops, labelled
   with the reviewed text where a person reviewed the field (:func:`idsight.review.capture.line_targets`),
   plus the line crops of ``synthetic`` generated cards read by the student (unlabelled: teacher only).
2. Train the chosen network with the ``distillation`` task and the shared ``fit``.
3. Write the new artifact: the parent student's parts with the new recogniser, and its lineage
   (parent name and sha256, the review ids' count and hash, the config, the metrics on the held-out set).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch.callbacks import Callback
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import nn

from idsight import hub
from idsight.data.charset import check_text
from idsight.errors import BadConfigError
from idsight.train.config import (
    OptimConfig,
    PlateauConfig,
    TrainerConfig,
    overrides_from,
    read_yaml,
    validate_config,
)

LineTemplate = Literal["kr-rrc", "td1"]

# the lines the shipped student's later rounds rendered (Hangul names, addresses, issuers of kr-rrc; the
# MRZ and Latin names of td1): replayed beside a few hundred reviews, they keep what those would erode
STUDENT_LINE_KEYS = (
    "name",
    "address_1",
    "address_2",
    "issuer",
    "mrz_1",
    "mrz_2",
    "mrz_3",
    "surname",
    "given_names",
)


REPLAY_LINE_TEMPLATES = ("kr-rrc", "td1")


def line_replay(n: int) -> dict[str, Any]:
    """DistillConfig fields for a replay of ``n`` rendered lines of the original fonts: the student's
    own training lines (:data:`STUDENT_LINE_KEYS`) of both templates, against forgetting them."""
    return {
        "synthetic_lines": n,
        "synthetic_lines_template": list(REPLAY_LINE_TEMPLATES),
        "synthetic_lines_keys": list(STUDENT_LINE_KEYS),
    }


class DistillConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    teacher: str = "idsight-reader-teacher"
    student: str = "idsight-reader-student"
    reviews: str | None = Field(default=None, description="review store URL (sqlite:///reviews.db)")
    synthetic: int = Field(default=0, ge=0, description="generated cards read by the student (KD only)")
    synthetic_seed: int = Field(default=500, ge=0, lt=999)
    synthetic_labels: bool = Field(
        default=True, description="generated cards carry their ground truth: use it as labels (replay)"
    )
    synthetic_font_pool: Literal["train", "shifted", "all"] = "train"
    synthetic_lines: int = Field(
        default=0,
        ge=0,
        description="extra single rendered lines with their ground truth (idsight.data.synth."
        "render_line_sample), cropped like the reader's line crops; cheap data for the weakest fields",
    )
    synthetic_lines_template: list[LineTemplate] = Field(
        default_factory=lambda: list[LineTemplate](["kr-rrc"]),
        description="the templates whose lines are rendered, in turn (one name or a list)",
    )
    synthetic_lines_keys: list[str] = Field(
        default_factory=lambda: ["name", "address_1", "address_2", "issuer"],
        description="which lines to render, each from the templates that have it (Hangul names and "
        "addresses read worst)",
    )
    part: Literal["recognizer"] = "recognizer"
    trainee: Literal["student", "teacher", "joint"] = "student"
    distill_weight: float = Field(
        default=0.3,
        ge=0,
        description="0.3, not 1.0: on shifted fonts, KD at weight 1.0 pulled the student below its "
        "reviews-only score (an earlier shifted-font benchmark run; see git log)",
    )
    label_weight: float = Field(default=1.0, ge=0)
    temperature: float = Field(default=2.0, gt=0)
    sequence_weight: float = Field(
        default=1.0,
        ge=0,
        description="weight of sequence-level KD inside D: CTC on the teacher's greedy transcription "
        "of each line no person read (0: per-timestep KL alone)",
    )
    kl_weight: float = Field(
        default=1.0,
        ge=0,
        description="weight of the per-timestep KL (at temperature) inside D (0: sequence-level alone, "
        "which does not tie the student to the teacher's frame alignment)",
    )
    trust_reviews: bool = Field(
        default=True,
        description="leave the per-timestep KL out on a labelled line (reviewed, or generated) whose "
        "teacher transcription is not its label: the student learns the person's reading there, not "
        "the teacher's mistake (false: KL on every line)",
    )
    min_teacher_confidence: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="a line no person read adds no D term when the teacher's reading of it is this "
        "unsure (its least probable character; 0: every unread line distils)",
    )
    val_fraction: float = Field(default=0.1, ge=0, lt=1)
    augment: bool = True
    batch_size: int = Field(default=32, ge=1)
    seed: int = 0
    optim: OptimConfig = Field(
        default_factory=lambda: OptimConfig(lr=1e-3, weight_decay=1e-4, scheduler="cosine", warmup=10)
    )
    trainer: TrainerConfig = Field(
        default_factory=lambda: TrainerConfig(max_epochs=8, gradient_clip_val=5.0, log_every_n_steps=10)
    )
    plateau: PlateauConfig = Field(
        default_factory=lambda: PlateauConfig(monitor="val/loss", patience=2, min_delta=1e-3)
    )
    holdout: bool = Field(default=True, description="score the new version on the fixed held-out set")
    freeze_batchnorm: bool = Field(
        default=True,
        description="keep BatchNorm statistics as they are: a few hundred steps on a small review batch "
        "would otherwise replace them with that batch's (1 point lost at lr 1e-5 in one epoch)",
    )

    @field_validator("synthetic_lines_template", mode="before")
    @classmethod
    def _one_or_more_templates(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v  # configs recorded before lists were allowed

    @model_validator(mode="after")
    def _some_distillation_term(self) -> DistillConfig:
        from idsight.tasks.distill import kd_terms_problem

        if problem := kd_terms_problem(self.distill_weight, self.kl_weight, self.sequence_weight):
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _known_line_keys(self) -> DistillConfig:
        if not self.synthetic_lines_template:
            raise ValueError("synthetic_lines_template names no template")
        per = self.line_keys_per_template()
        known = {k for keys in per.values() for k in keys}
        unknown = [k for k in self.synthetic_lines_keys if k not in known]
        names = " or ".join(self.synthetic_lines_template)
        if unknown:
            raise ValueError(f"{names} has no line {', '.join(unknown)}")
        for t, keys in per.items():
            if not keys:
                raise ValueError(f"{t} has none of the lines {', '.join(self.synthetic_lines_keys)}")
        return self

    def line_keys_per_template(self) -> dict[str, list[str]]:
        """For each of ``synthetic_lines_template``, the ``synthetic_lines_keys`` it prints."""
        from idsight.templates import get_template

        return {
            t: [k for k in self.synthetic_lines_keys if k in get_template(t).line_keys]
            for t in self.synthetic_lines_template
        }


class FreezeBatchNorm(Callback):
    """Hold every BatchNorm layer of the trained model in eval mode (running statistics frozen)."""

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        for m in pl_module.model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training:
                m.eval()


def load_distill_config(
    path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()
) -> DistillConfig:
    data = read_yaml(path) if path is not None else {}
    return validate_config(DistillConfig, data, overrides, source=Path(path) if path else "<defaults>")


def distill_argv(cfg: DistillConfig, out: str | Path) -> list[str]:
    """The ``idsight distill`` arguments that train ``cfg`` into ``out`` (recorded as provenance)."""
    sets = overrides_from(cfg, DistillConfig())
    return ["distill", *sum((["--set", s] for s in sets), []), "--out", str(out)]


def _reader(name: str) -> tuple[Any, dict[str, Any], Path]:
    from idsight.models.reader import ReaderModel

    path = hub.resolve(name)
    model, meta = ReaderModel.from_artifact(path)
    return model, meta, path


# warn when the teacher trails the student by more than this on their shared validation cards: 120 photos
# (about 780 fields) separate scores only a few fields apart by chance
TEACHER_BEHIND = 0.01


def teacher_advantage(t_meta: dict[str, Any], s_meta: dict[str, Any]) -> float | None:
    """Teacher minus student field exact match on the validation cards both files record, or None
    when they were not scored on the same cards. Distillation pays off only while this is positive:
    a student that already reads better learns the teacher's errors (see the README's benchmark)."""
    tv, sv = (m.get("metrics", {}).get("val", {}) for m in (t_meta, s_meta))
    if not tv or not sv or tv.get("data") != sv.get("data"):
        return None
    return float(tv["field_exact_match"]) - float(sv["field_exact_match"])


def check_compatible(t_meta: dict[str, Any], s_meta: dict[str, Any], t_path: Path, s_path: Path) -> None:
    """Teacher and student must share the charset and the recogniser's preprocessing."""
    tc, sc = t_meta.get("charset"), s_meta.get("charset")
    if tc != sc:
        only_t = sorted(set(tc or "") - set(sc or ""))[:5]
        only_s = sorted(set(sc or "") - set(tc or ""))[:5]
        raise BadConfigError(
            f"teacher {t_path.name} and student {s_path.name} have different charsets "
            f"({len(tc or '')} vs {len(sc or '')} characters; only in teacher: {''.join(only_t)!r}, "
            f"only in student: {''.join(only_s)!r})"
        )
    keys = ("recognizer_height", "recognizer_stride", "mean", "std", "crop_pad")
    tp, sp = t_meta.get("preprocessing", {}), s_meta.get("preprocessing", {})
    diff = [k for k in keys if tp.get(k) != sp.get(k)]
    if diff:
        raise BadConfigError(f"teacher and student crop lines differently ({', '.join(diff)})")


def content_key(crops: dict[str, bytes]) -> str:
    """A read's stable identity for ordering and the train/val split: the hash of its line crops."""
    h = hashlib.sha256()
    for key in sorted(crops):
        h.update(key.encode() + b"\0" + hashlib.sha256(crops[key]).digest())
    return h.hexdigest()[:16]


def snapshot_lines(cfg: DistillConfig, out_dir: Path, student_path: Path) -> dict[str, Any]:
    """Write ``out_dir/lines.jsonl`` + PNGs; returns what went in (counts, review ids' hash)."""
    from idsight.review.capture import line_targets

    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    review_ids: list[str] = []
    reads = 0
    rejected: list[str] = []
    if cfg.reviews:
        from idsight.review.store import ReviewStore

        review_rows: list[dict[str, Any]] = []
        with ReviewStore(cfg.reviews, create=False) as store:
            for read in store.iter_reads():
                reads += 1
                review_ids += [r.id for r in read.reviews]
                split_key = content_key(read.crops)
                for key, text in line_targets(read).items():
                    if text is not None and check_text(text):
                        rejected.append(f"{read.id}/{key}: {''.join(sorted(check_text(text)))!r}")
                        text = None
                    f = f"{read.id}-{key}.png"
                    (out_dir / f).write_bytes(read.crops[key])
                    row = {"file": f, "text": text, "read_id": read.id, "split_key": split_key}
                    review_rows.append({**row, "key": key, "source": "review"})
        # read ids are random: order and split by the crops' content, so the same reviews train the
        # same way in every run (the demo's and the benchmark's numbers can be rerun exactly)
        rows += sorted(review_rows, key=lambda r: (r["split_key"], r["key"]))
    if rejected:
        print(
            f"[distill] {len(rejected)} reviewed line(s) have characters outside the charset and are "
            f"used for distillation only: {'; '.join(rejected[:5])}{' ...' if len(rejected) > 5 else ''}",
            flush=True,
        )
    if cfg.synthetic:
        rows += _synthetic_rows(cfg, out_dir, student_path)
    if cfg.synthetic_lines:
        rows += _rendered_line_rows(cfg, out_dir)
    with open(out_dir / "lines.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    labelled = sum(r["text"] is not None for r in rows)
    if labelled == 0 and cfg.distill_weight == 0:
        raise BadConfigError("no reviewed lines to learn from and distill_weight is 0: nothing to train on")
    if not rows:
        raise BadConfigError(
            "no training lines: give --reviews with stored reads and/or --synthetic N (or synthetic_lines)"
        )
    ids = "\n".join(sorted(review_ids)).encode()
    return {
        "reads": reads,
        "reviews": {"count": len(review_ids), "ids_sha256": hashlib.sha256(ids).hexdigest()},
        "lines": len(rows),
        "labelled_lines": labelled,
        "out_of_charset_lines": len(rejected),
        "synthetic": {
            "cards": cfg.synthetic,
            "seed": cfg.synthetic_seed,
            "font_pool": cfg.synthetic_font_pool,
            "lines": cfg.synthetic_lines,
            "lines_template": cfg.synthetic_lines_template,
            "lines_keys": cfg.synthetic_lines_keys,
        },
    }


def rendered_line(
    rng: Any, *, template: str, font_pool: str = "train", lines: list[str] | None = None
) -> tuple[Any, str, str]:
    """One rendered line (:func:`render_line_sample`) padded the way :func:`idsight.ocr.predictor.crop_line`
    pads a detected box (0.6-1.6 times its padding), at the recogniser's height: (crop, text, key)."""
    from idsight.data.synth import render_line_sample
    from idsight.ocr.predictor import DEFAULT_PREPROCESSING, fit_height

    pad_x, pad_y = DEFAULT_PREPROCESSING["crop_pad"]
    crop, text, key = render_line_sample(
        rng,
        template=template,
        font_pool=font_pool,
        lines=lines,
        pad_x=(0.6 * pad_x, 1.6 * pad_x),
        pad_y=(0.6 * pad_y, 1.6 * pad_y),
    )
    return fit_height(crop, DEFAULT_PREPROCESSING), text, key


def _rendered_line_rows(cfg: DistillConfig, out_dir: Path) -> list[dict[str, Any]]:
    """``synthetic_lines`` rendered lines (:func:`rendered_line`, seeded by ``synthetic_seed``), the
    templates in turn, each labelled with its printed text."""
    import numpy as np

    from idsight.review.capture import png_bytes

    rng = np.random.default_rng([cfg.synthetic_seed, 7])
    templates = cfg.synthetic_lines_template
    keys = cfg.line_keys_per_template()  # checked when the config was loaded
    rows: list[dict[str, Any]] = []
    for n in range(cfg.synthetic_lines):
        template = templates[n % len(templates)]
        crop, text, key = rendered_line(
            rng, template=template, font_pool=cfg.synthetic_font_pool, lines=keys[template]
        )
        f = f"line-{n}.png"
        (out_dir / f).write_bytes(png_bytes(crop))
        rows.append({"file": f, "text": text, "read_id": f"line-{n}", "key": key, "source": "rendered"})
    return rows


def _synthetic_rows(cfg: DistillConfig, out_dir: Path, student_path: Path) -> list[dict[str, Any]]:
    """Generated cards, read by the student as in production. With ``synthetic_labels`` their crops carry
    the generated ground truth (a replay of the original domain against forgetting); else only the
    distillation term applies to them."""
    from idsight.data.cards import load_records
    from idsight.data.synth import write_cards
    from idsight.errors import IdsightError
    from idsight.ocr.predictor import CardReader
    from idsight.review.capture import png_bytes
    from idsight.templates import TEMPLATE_NAMES

    reader = CardReader.load(student_path)
    rows: list[dict[str, Any]] = []
    per = -(-cfg.synthetic // len(TEMPLATE_NAMES))
    for i, tpl in enumerate(TEMPLATE_NAMES):
        d = out_dir.parent / f"synth-{tpl}"
        write_cards(tpl, per, d, photo=True, seed=cfg.synthetic_seed + i, font_pool=cfg.synthetic_font_pool)
        for n, (_, rec) in enumerate(load_records([d])):
            try:
                res = reader.read_path(d / rec["image"])
            except IdsightError:
                continue
            if res.template != rec["template"]:
                continue
            for key, line in res.lines.items():
                truth = rec["lines"].get(key, {}).get("text") if cfg.synthetic_labels else None
                f = f"synth-{tpl}-{n}-{key}.png"
                (out_dir / f).write_bytes(png_bytes(line.crop))
                rows.append(
                    {
                        "file": f,
                        "text": truth,
                        "read_id": f"synth-{tpl}-{n}",
                        "key": key,
                        "source": "synthetic",
                    }
                )
    return rows


def distill(
    cfg: DistillConfig, out: str | Path, *, argv: list[str] | None = None, work_dir: str | Path | None = None
) -> Path:
    """Train a new version (see the module docstring); returns the new artifact's path."""
    from idsight.tasks.distill import Distillation
    from idsight.train.config import ComponentConfig, DataConfig, TrainConfig
    from idsight.train.engine import fit
    from idsight.train.recipes import best_weights, parent_record, provenance

    out = Path(out)
    work = Path(work_dir) if work_dir else out.with_name(out.stem + ".work")
    teacher, t_meta, t_path = _reader(cfg.teacher)
    student, s_meta, s_path = _reader(cfg.student)
    check_compatible(t_meta, s_meta, t_path, s_path)
    adv = teacher_advantage(t_meta, s_meta)
    if adv is not None and adv < -TEACHER_BEHIND and cfg.distill_weight > 0 and cfg.trainee == "student":
        print(
            f"[distill] warning: the teacher {t_path.stem} reads {-100 * adv:.1f} points worse than the "
            f"student {s_path.stem} on their shared validation cards; distillation (distill_weight "
            f"{cfg.distill_weight}) pulls the student toward the teacher's errors",
            flush=True,
        )
    data = snapshot_lines(cfg, work / "data" / "lines", s_path)
    print(
        f"[distill] {data['lines']} lines ({data['labelled_lines']} reviewed) from {data['reads']} reads "
        f"and {cfg.synthetic} generated cards; training the {cfg.trainee}",
        flush=True,
    )
    t_net, s_net = teacher.recognizer, student.recognizer
    if cfg.trainee == "student" and cfg.distill_weight > 0:  # the frozen teacher runs once per clean crop
        from idsight.data.lines import cache_teacher_logits

        cache_teacher_logits(work / "data" / "lines", t_net)
    trained = {
        "student": s_net,
        "teacher": t_net,
        "joint": nn.ModuleDict({"student": s_net, "teacher": t_net}),
    }
    model = trained[cfg.trainee]
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    task = Distillation(
        part=cfg.part,
        base={"name": "ctc_recognition", "kwargs": {}},
        teacher=t_net if cfg.trainee == "student" else nn.Identity(),
        trainee=cfg.trainee,
        distill_weight=cfg.distill_weight,
        label_weight=cfg.label_weight,
        temperature=cfg.temperature,
        sequence_weight=cfg.sequence_weight,
        kl_weight=cfg.kl_weight,
        trust_labels=cfg.trust_reviews and cfg.part == "recognizer",
        min_teacher_confidence=cfg.min_teacher_confidence,
    )
    lines_dir = str(work / "data" / "lines")
    common = {"dir": lines_dir, "val_fraction": cfg.val_fraction, "seed": cfg.seed}
    from idsight.data.lines import LineFolder

    has_val = (
        cfg.val_fraction > 0
        and len(LineFolder(dir=lines_dir, split="val", val_fraction=cfg.val_fraction)) > 0
    )
    tcfg = TrainConfig(
        model=ComponentConfig(
            name=s_meta["arch"][cfg.part]["name"], kwargs=s_meta["arch"][cfg.part]["kwargs"]
        ),
        task=ComponentConfig(name="distillation", kwargs={"teacher": t_path.stem, "trainee": cfg.trainee}),
        data=DataConfig(
            name="line_folder",
            train={**common, "split": "train" if has_val else "all", "augment": cfg.augment},
            val={**common, "split": "val", "augment": False} if has_val else None,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
        ),
        optim=cfg.optim,
        trainer=cfg.trainer,
        plateau=cfg.plateau if has_val else cfg.plateau.model_copy(update={"enabled": False}),
        out_dir=str(work / "train"),
    )
    callbacks = [FreezeBatchNorm()] if cfg.freeze_batchnorm else []
    res = fit(tcfg, model=model, task=task, callbacks=callbacks)
    model.load_state_dict(best_weights(res))  # the best epoch on the plateau metric
    base, base_meta, base_path = (
        (teacher, t_meta, t_path) if cfg.trainee == "teacher" else (student, s_meta, s_path)
    )
    new = copy.deepcopy(base).eval()
    if cfg.trainee == "joint":
        new.recognizer.load_state_dict(s_net.state_dict())
    meta: dict[str, Any] = {
        **{k: base_meta[k] for k in ("task", "role", "charset", "preprocessing") if k in base_meta},
        "config": {"distill": cfg.model_dump(mode="json"), "parent_config": base_meta.get("config")},
        "parent": parent_record(base_path, "fine-tuned from", base_meta),
        "teacher": parent_record(t_path),
        "data": data,
        "provenance": provenance(argv),
        "metrics": {
            "distill": {k: round(v, 5) for k, v in res.metrics.items() if k.startswith(("val/", "train/"))},
            "epochs": res.epochs_run,
            "train_seconds": round(res.seconds, 1),
        },
    }
    new.to_artifact(out, meta, dtype=base_meta.get("storage_dtype", "float16"))
    if cfg.holdout:
        from idsight.train.holdout import record_holdout

        record_holdout(out)
    print(f"[distill] wrote {out}", flush=True)
    return out
