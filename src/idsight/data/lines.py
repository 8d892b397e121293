"""A folder of line crops for distillation: ``lines.jsonl`` + PNG files.

Each row is ``{"file", "text": str | null, "read_id", "key", "source"}``. A row with a text is
labelled (a reviewed line); a row without one adds only the distillation term. An optional
``teacher_logits.safetensors`` (one ``(T, C)`` tensor per file name, see :func:`cache_teacher_logits`)
holds the teacher's outputs on the clean crops, computed once, so training does not run the teacher. Rows are split into
train/val by a hash of their read id, so all lines of one card land on the same side.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from idsight.data.charset import encode  # noqa: E402
from idsight.data.io import load_image  # noqa: E402
from idsight.ocr.predictor import DEFAULT_PREPROCESSING, pad_batch, to_tensor, width_buckets  # noqa: E402
from idsight.registry import DATASETS  # noqa: E402

PRE = DEFAULT_PREPROCESSING
TEACHER_CACHE = "teacher_logits.safetensors"
Item = tuple[torch.Tensor, list[int], bool, torch.Tensor | None]


def in_val(read_id: str, fraction: float) -> bool:
    h = int(hashlib.sha256(read_id.encode()).hexdigest()[:8], 16)
    return h % 10_000 < fraction * 10_000


def line_augment(seed: int) -> A.Compose:
    """Photometric noise only: geometry must stay, so the CTC alignment matches the teacher's."""
    return A.Compose(
        [
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.6),
            A.GaussianBlur(blur_limit=(3, 3), p=0.2),
            A.GaussNoise(std_range=(0.02, 0.06), p=0.3),
            A.ImageCompression(quality_range=(50, 95), p=0.3),
        ],
        seed=seed,
    )


@DATASETS.register("line_folder")
class LineFolder(Dataset):
    """``LineFolder(dir=..., split="train"|"val"|"all", val_fraction=0.1, augment=True, seed=0)``."""

    def __init__(
        self,
        *,
        dir: str,
        split: str = "all",
        val_fraction: float = 0.1,
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        root = Path(dir)
        with open(root / "lines.jsonl", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        if split != "all":
            rows = [
                r for r in rows if in_val(r.get("split_key", r["read_id"]), val_fraction) == (split == "val")
            ]
        self.root = root
        self.rows = rows
        self.aug = line_augment(seed) if augment and split != "val" else None
        cache = root / TEACHER_CACHE
        self.teacher = load_file(str(cache)) if cache.is_file() else None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Item:
        row = self.rows[i]
        img = load_image(self.root / row["file"], min_side=4)
        if self.aug is not None:
            img = self.aug(image=img)["image"]
        text = row.get("text")
        teacher = None if self.teacher is None else self.teacher[row["file"]].float()
        return (
            to_tensor(np.array(img), PRE["mean"], PRE["std"]),
            encode(text or ""),
            text is not None,
            teacher,
        )

    @staticmethod
    def collate(items: list[Item]) -> dict[str, Any]:
        stride = PRE["recognizer_stride"]
        chunks = []
        for group in width_buckets([x[0].shape[-1] for x in items]):
            part = [items[i] for i in group]
            chunk = {
                "image": pad_batch([x[0] for x in part]),
                "targets": torch.tensor([t for x in part for t in x[1]], dtype=torch.long),
                "target_lengths": torch.tensor([len(x[1]) for x in part], dtype=torch.long),
                "input_lengths": torch.tensor([x[0].shape[-1] // stride for x in part]),
                "labelled": torch.tensor([x[2] for x in part], dtype=torch.bool),
            }
            cached = [x[3] for x in part if x[3] is not None]
            if len(cached) == len(part):
                t = chunk["image"].shape[-1] // stride
                logits = torch.zeros(len(part), t, cached[0].shape[-1])
                for n, c in enumerate(cached):
                    logits[n, : c.shape[0]] = c
                chunk["teacher_logits"] = logits  # padded steps are masked by input_lengths
            chunks.append(chunk)
        return {"chunks": chunks}


@torch.inference_mode()
def cache_teacher_logits(dir: str | Path, teacher: torch.nn.Module) -> int:
    """Run the teacher once over every clean crop of ``dir``, one line at a time (no padding, so each
    line's outputs are exactly the teacher's on that crop); returns the number of lines."""
    ds = LineFolder(dir=str(dir), split="all", augment=False)
    out: dict[str, torch.Tensor] = {}
    teacher.eval()
    for i, row in enumerate(ds.rows):
        out[row["file"]] = teacher(ds[i][0][None])["logits"][0].half().contiguous()
    save_file(out, str(Path(dir) / TEACHER_CACHE))
    return len(out)


@DATASETS.register("open_text_lines")
class OpenTextLines(Dataset):
    """Generated lines of open text (``idsight.data.synth.textlines``): any KS X 1001 Hangul syllable,
    accented Latin, dates, codes, MRZ and labels, in the fonts of ``font_pool``, encoded with the
    ``charset`` named (``open``: 2,609 characters). Item ``i`` is the same for the same ``seed``."""

    def __init__(self, *, count: int, seed: int = 0, charset: str = "open", font_pool: str = "train") -> None:
        from idsight.data.charset import Charset

        self.count = count
        self.seed = seed
        self.charset = Charset.named(charset)
        self.font_pool = font_pool

    def __len__(self) -> int:
        return self.count

    def sample(self, i: int) -> tuple[np.ndarray, str]:
        """The raw crop (RGB, any height) and its text."""
        from idsight.data.synth.textlines import render_text_line, sample_text

        for attempt in range(4):  # a rare draw the renderer cannot draw is replaced, not fatal to a long run
            rng = np.random.default_rng([self.seed, i] if attempt == 0 else [self.seed, i, attempt])
            text, kind = sample_text(rng)
            try:
                crop, drawn = render_text_line(rng, text, kind, font_pool=self.font_pool)
            except (ValueError, cv2.error):
                continue
            if crop.size and drawn.strip():
                return crop, drawn
        raise ValueError(f"open text line {i} (seed {self.seed}) could not be drawn")

    def __getitem__(self, i: int) -> Item:
        from idsight.ocr.predictor import fit_height

        crop, text = self.sample(i)
        return (
            to_tensor(fit_height(crop, PRE), PRE["mean"], PRE["std"]),
            self.charset.encode(text),
            True,
            None,
        )

    collate = staticmethod(LineFolder.collate)
