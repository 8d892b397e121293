"""Does storing a reader's weights in fp16 cost accuracy? Prints JSON.

    .venv/bin/python benchmarks/fp16_storage.py --parts runs/models/idsight-reader-teacher/parts \
        --model idsight-reader-teacher --dirs runs/data/kr-rrc-photo-s3-train-n60 runs/data/td1-photo-s3-train-n60

Rebuilds the reader from the fp32 part weights a training run leaves in ``--parts``, saves it as an
fp32 artifact, and scores both that and the shipped fp16 artifact on the same labelled cards.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from idsight import hub
from idsight.artifact import load_artifact
from idsight.models.reader import PARTS, ReaderModel
from idsight.ocr.predictor import CardReader
from idsight.train.evaluate import evaluate_reader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", type=Path, required=True)
    ap.add_argument("--model", default="default")
    ap.add_argument("--dirs", nargs="+", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    fp16 = hub.resolve(args.model)
    model, meta = ReaderModel.from_artifact(fp16)
    state = {}
    for part in PARTS:
        w, _ = load_artifact(args.parts / f"{part}.safetensors")
        state.update({f"{part}.{k}": v for k, v in w.items()})
    model.load_state_dict(state)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = model.to_artifact(Path(tmp) / "fp32.safetensors", meta, dtype="float32")
        for name, path in (("float32", fp32), ("float16", fp16)):
            r = evaluate_reader(CardReader.load(path), args.dirs)
            out[name] = {k: r[k] for k in ("field_exact_match", "cer", "template_accuracy", "cards")}
            out[name]["file_bytes"] = path.stat().st_size
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
