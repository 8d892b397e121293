"""Benchmark: does int8 onnxruntime quantisation make a reader's networks faster, and what does it cost?

    .venv/bin/python benchmarks/quantize.py --model idsight-reader-student --count 100 --seed 9001 --out q.json

Prints one JSON document to stdout (progress and a table go to stderr). The reader's four networks
are exported to ONNX in memory, as ``--runtime onnx`` does, and run in three variants on
``--threads`` threads:

- ``float32``: the exported graphs as the reader uses them;
- ``int8_static``: onnxruntime's static quantisation (QDQ, per-channel int8 weights, uint8
  activations), calibrated on the network inputs of ``--calib-count`` cards per template from
  separate seeds (``--calib-seed``);
- ``int8_dynamic``: onnxruntime's dynamic quantisation (int8 weights, activations quantised per call).

Both int8 variants start from onnxruntime's recommended preparation (``quant_pre_process``: graph
optimisation and shape inference).

Per variant and network: the median milliseconds per call on the inputs the reader actually gave that
network while reading the benchmark cards (each input once, after one warm-up call); how close the
outputs stay to float32's (the largest absolute difference; for the recogniser and the
classifier, the share of outputs whose most probable class is unchanged). Per variant, the whole reader: field exact
match and median milliseconds per card on the same held-out generated photos as
``distill.py --part teacher_vs_student`` (``--count`` per template), the variants alternating card
by card. Quantisation runs on this machine, so the result says what int8 is worth on its CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from idsight.models.reader import PARTS

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import (  # noqa: E402  (not a package)
    DATA_NOTE,
    _environment,
    emit,
    log,
    make_cards,
    model_info,
    read_all,
    summarize,
)

VARIANTS = ("float32", "int8_static", "int8_dynamic")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="idsight-reader-student")
    ap.add_argument("--templates", default="kr-rrc,td1")
    ap.add_argument("--count", type=int, default=100, help="benchmark cards per template")
    ap.add_argument("--seed", type=int, default=9001)
    ap.add_argument("--calib-count", type=int, default=20, help="calibration cards per template")
    ap.add_argument("--calib-seed", type=int, default=8100)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache-dir", type=Path, default=Path("runs/bench/cards"))
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    if unknown := set(args.variants.split(",")) - set(VARIANTS):
        ap.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    return args


def capture_inputs(reader: Any, images: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The input batch of every network call the reader makes while reading ``images``."""
    seen: dict[str, list[np.ndarray]] = {p: [] for p in PARTS}
    original = {p: getattr(reader.nets, p) for p in PARTS}

    def recording(part: str) -> Any:
        def call(image: Any) -> Any:
            seen[part].append(image.detach().cpu().float().numpy().copy())
            return original[part](image)

        return call

    for p in PARTS:
        setattr(reader.nets, p, recording(p))
    reader.localizer.net = reader.nets.localizer  # (the localiser holds its own reference)
    try:
        for image in images:
            try:
                reader.read(image)
            except Exception as e:  # noqa: BLE001  (a rejected card still ran its networks)
                log(f"  capture: {e}")
    finally:
        for p in PARTS:
            setattr(reader.nets, p, original[p])
        reader.localizer.net = reader.nets.localizer
    return seen


class _Batches:
    """onnxruntime's CalibrationDataReader protocol over captured inputs."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self._it: Iterator[np.ndarray] = iter(arrays)

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._it, None)
        return None if x is None else {"image": x}


def quantized_graphs(
    graphs: dict[str, bytes], calib: dict[str, list[np.ndarray]], variant: str
) -> dict[str, bytes]:
    """Each network's graph in ``variant`` (float32: as given)."""
    if variant == "float32":
        return dict(graphs)
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for part, graph in graphs.items():
            raw, src = Path(tmp) / f"{part}.raw.onnx", Path(tmp) / f"{part}.onnx"
            dst = Path(tmp) / f"{part}.{variant}.onnx"
            raw.write_bytes(graph)
            # onnxruntime's recommended preparation: graph optimisation and shape inference
            quant_pre_process(raw, src, auto_merge=True)
            if variant == "int8_static":
                quantize_static(
                    src,
                    dst,
                    _Batches(calib[part]),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                )
            else:
                quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
            out[part] = dst.read_bytes()
    return out


def sessions(graphs: dict[str, bytes], threads: int) -> dict[str, Any]:
    from idsight.export import KINDS
    from idsight.ocr.runtime import OrtNet

    return {p: OrtNet(g, KINDS[p]["output"], threads=threads) for p, g in graphs.items()}


def per_call(nets: dict[str, Any], inputs: dict[str, list[np.ndarray]]) -> dict[str, dict[str, Any]]:
    """Median ms per call of each network over its captured inputs, and its outputs."""
    import torch

    res = {}
    for part, xs in inputs.items():
        net = nets[part]
        net(torch.from_numpy(xs[0]))  # warm-up
        times, outs = [], []
        for x in xs:
            t0 = time.perf_counter()
            (y,) = net(torch.from_numpy(x)).values()
            times.append((time.perf_counter() - t0) * 1e3)
            outs.append(y.numpy())
        res[part] = {"calls": len(xs), "median_ms": round(statistics.median(times), 4), "outputs": outs}
    return res


def agreement(part: str, ref: list[np.ndarray], got: list[np.ndarray]) -> dict[str, float]:
    """How close ``got`` stays to the float32 outputs ``ref``."""
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ref, got, strict=True))
    out = {"max_abs_diff": round(diff, 5)}
    if part in ("recognizer", "classifier"):  # logits: does the most probable class stay?
        same = [float(np.mean(a.argmax(-1) == b.argmax(-1))) for a, b in zip(ref, got, strict=True)]
        out["argmax_agreement"] = round(statistics.mean(same), 5)
    return out


def reader_with(reader: Any, nets: dict[str, Any]) -> Any:
    """``reader`` reading through ``nets`` (the same preprocessing, localiser and cleanup)."""
    from idsight.ocr.runtime import OnnxReader, TimedNetworks

    reader.model = OnnxReader(nets)
    reader.nets = TimedNetworks(reader.model)
    reader.localizer.net = reader.nets.localizer
    return reader


def run(args: argparse.Namespace) -> dict[str, Any]:
    from idsight.data.io import load_image
    from idsight.export import onnx_bytes
    from idsight.models.reader import ReaderModel
    from idsight.ocr.predictor import CardReader

    templates = [t for t in args.templates.split(",") if t]
    variants = [v for v in args.variants.split(",") if v]
    info = model_info(args.model)
    model, _ = ReaderModel.from_artifact(info["path"])
    graphs = {p: onnx_bytes(getattr(model, p), p) for p in PARTS}

    calib_cards = [
        c
        for i, t in enumerate(templates)
        for c in make_cards(t, args.calib_count, args.calib_seed + i, args.cache_dir, "train")
    ]
    cards = [c for t in templates for c in make_cards(t, args.count, args.seed, args.cache_dir, "train")]
    probe = CardReader.load(info["path"], runtime="onnx")
    log(
        f"[quantize] capturing network inputs: {len(calib_cards)} calibration and {len(cards)} benchmark cards"
    )
    calib = capture_inputs(probe, [load_image(p) for p, _ in calib_cards])
    bench = capture_inputs(probe, [load_image(p) for p, _ in cards])

    networks: dict[str, Any] = {}
    readers: dict[str, Any] = {}
    ref: dict[str, Any] = {}
    for v in variants:
        log(f"[quantize] {v}")
        t0 = time.perf_counter()
        g = quantized_graphs(graphs, calib, v)
        made_s = time.perf_counter() - t0
        nets = sessions(g, args.threads)
        calls = per_call(nets, bench)
        if v == "float32" or not ref:
            ref = {p: c["outputs"] for p, c in calls.items()}
        networks[v] = {
            "seconds_to_make": round(made_s, 2),
            "graph_bytes": {p: len(b) for p, b in g.items()},
            "per_network": {
                p: {"calls": c["calls"], "median_ms": c["median_ms"], **agreement(p, ref[p], c["outputs"])}
                for p, c in calls.items()
            },
        }
        readers[v] = reader_with(CardReader.load(info["path"], runtime="onnx"), nets)
    reads = read_all(readers, cards, "quantize")
    cards_result = {}
    for v in variants:
        s = summarize(reads[v])
        cards_result[v] = {
            k: s[k]
            for k in ("field_exact_match", "cer", "rejected", "cards", "latency_ms", "network_ms_median")
        }
    return {"model": info, "networks": networks, "cards": cards_result}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import cv2
    import torch

    from idsight.ocr.runtime import reading_process

    reading_process()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from idsight.errors import IdsightError

    t0 = time.perf_counter()
    try:
        result = run(args)
    except IdsightError as e:  # an unknown or unreadable model: one line, exit 2
        log(f"error: {e}")
        return 2
    doc = {
        "benchmark": "quantize",
        "command": "python "
        + " ".join(["benchmarks/quantize.py", *(argv if argv is not None else sys.argv[1:])]),
        "data": DATA_NOTE,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": _environment(),
        **result,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    log(f"{'variant':14s}" + "".join(f"{p:>12s}" for p in PARTS) + f"{'ms/card':>10s}{'field EM':>10s}")
    for v, n in result["networks"].items():
        c = result["cards"][v]
        log(
            f"{v:14s}"
            + "".join(f"{n['per_network'][p]['median_ms']:12.3f}" for p in PARTS)
            + f"{c['latency_ms']['median']:10.2f}{c['field_exact_match']:10.4f}"
        )
    emit(doc, args.out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
