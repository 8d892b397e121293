"""Benchmark: read held-out synthetic photo cards with idsight and with peer OCR engines.

    .venv/bin/python benchmarks/read_cards.py --count 200 --seed 9001 --peers tesseract,rapidocr

Prints one JSON document to stdout (progress and a summary table go to stderr). Cards come from
``idsight.data.synth.write_cards(..., photo=True, seed=...)``; training uses seeds < 1000, so the
default seeds here are held out. Every engine reads the same decoded RGB image. Peers get the
ground-truth line layout for free (see benchmarks/peers.py) and our cleanup on top, so the
comparison measures recognition and is generous to them. A card whose predicted template is wrong,
or which the reader rejects, scores every field wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers as P  # noqa: E402  (benchmarks/ is not a package)

from idsight.metrics import READ_STAGES as STAGES  # noqa: E402
from idsight.metrics import cer, field_accuracy, latency_summary, stage_latency  # noqa: E402


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=200, help="cards per template")
    ap.add_argument("--seed", type=int, default=9001, help="held-out synth seed (training uses < 1000)")
    ap.add_argument("--templates", default="kr-rrc,td1")
    ap.add_argument("--model", default="default", help="model name or path; 'none' = peers only")
    ap.add_argument("--runtime", default="torch", help="inference runtime: torch or onnx (onnxruntime)")
    ap.add_argument("--font-pool", default="train", help="synth font pool: train (in-domain) or shifted")
    ap.add_argument("--peers", default="tesseract,rapidocr", help="comma list; '' or 'none' for none")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--peer-view",
        choices=("photo", "rectified"),
        default="photo",
        help="what peers read: the photo, or the card cut out with its ground-truth corners",
    )
    ap.add_argument("--calib-count", type=int, default=8, help="cards per template to pick Tesseract's psm")
    ap.add_argument("--calib-seed", type=int, default=None, help="default: seed + 50000")
    ap.add_argument("--psm", default=",".join(map(str, P.PSM_CANDIDATES)), help="Tesseract psm candidates")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return ap.parse_args(argv)


def make_cards(template: str, count: int, seed: int, root: Path, font_pool: str) -> list[tuple[Path, dict]]:
    from idsight.data.synth import write_cards

    out = root / f"{template}-{seed}"
    out.mkdir(parents=True, exist_ok=True)
    write_cards(template, count, out, photo=True, seed=seed, font_pool=font_pool)
    with open(out / "labels.jsonl", encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    return [(out / r["image"], r) for r in recs]


def run_peer(
    name: str, image, record: dict, *, psm: int, threads: int, view: str = "photo"
) -> tuple[dict[str, str], float]:
    """(field values, OCR milliseconds) for one card; the clock covers the engine call only."""
    if view == "rectified":
        image, record = P.rectified_view(image, record)
    t0 = time.perf_counter()
    if name == "tesseract":
        lines = P.tesseract_lines(image, lang=P.TESSERACT_LANG[record["template"]], psm=psm, words=True)
    else:
        lines = P.rapidocr_lines(image, threads=threads, quads=True, words=True)
    ms = (time.perf_counter() - t0) * 1000
    return P.peer_fields(lines, record), ms


def calibrate_psm(template: str, cards, candidates: list[int], threads: int, view: str) -> tuple[int, dict]:
    """Tesseract's best page-segmentation mode on a few calibration cards (accuracy, then CER)."""
    from idsight.data.io import load_image

    images = [(load_image(p), r) for p, r in cards]
    scores = {}
    for psm in candidates:
        preds = [run_peer("tesseract", im, r, psm=psm, threads=threads, view=view)[0] for im, r in images]
        gts = [r["fields"] for _, r in images]
        acc = field_accuracy(preds, gts)["overall"]
        scores[psm] = {"field_accuracy": acc, "cer": _values_cer(preds, gts)}
        log(f"  calibrate tesseract {template} psm {psm}: acc {acc:.3f} cer {scores[psm]['cer']:.3f}")
    best = max(candidates, key=lambda m: (scores[m]["field_accuracy"], -scores[m]["cer"]))
    return best, scores


def _values_cer(preds: list[dict | None], gts: list[dict], field: str | None = None) -> float:
    p_all, g_all = [], []
    for p, g in zip(preds, gts, strict=True):
        for k, v in g.items():
            if field is None or k == field:
                p_all.append((p or {}).get(k) or "")
                g_all.append(v)
    return cer(p_all, g_all)


def score(preds: list[dict | None], gts: list[dict], ms: list[float]) -> dict[str, Any]:
    fa = field_accuracy(preds, gts)
    fields = list(fa["per_field"])
    return {
        "n_cards": len(gts),
        "field_accuracy": fa["overall"],
        "cards_all_fields_correct": fa["cards_all_correct"],
        "per_field_accuracy": fa["per_field"],
        "cer": _values_cer(preds, gts),
        "per_field_cer": {f: _values_cer(preds, gts, f) for f in fields},
        "latency_ms": latency_summary(ms),
    }


def stage_shares(timings: list[dict[str, float]]) -> dict[str, Any]:
    total = sum(t.get("total", 0.0) for t in timings)
    if not timings or total <= 0:
        return {}
    share = {s: sum(t.get(s, 0.0) for t in timings) / total for s in STAGES}
    share["other"] = max(0.0, 1.0 - sum(share.values()))
    return {k: round(v, 4) for k, v in share.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["OMP_THREAD_LIMIT"] = str(args.threads)  # tesseract's OpenMP
    import cv2
    import torch

    from idsight.data.io import load_image
    from idsight.errors import IdsightError
    from idsight.ocr.predictor import CardReader
    from idsight.ocr.runtime import reading_process

    reading_process()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    templates = [t for t in args.templates.split(",") if t]
    peer_names = [p for p in args.peers.split(",") if p and p != "none"]
    for p in peer_names:
        if p not in P.PEER_TEMPLATES:
            log(f"error: unknown peer {p!r} (known: {', '.join(P.PEER_TEMPLATES)})")
            return 2
    calib_seed = args.seed + 50_000 if args.calib_seed is None else args.calib_seed
    try:
        reader = None if args.model == "none" else CardReader.load(args.model, runtime=args.runtime)
    except IdsightError as e:
        log(f"error: {e}")
        return 2

    ours: dict[str, dict[str, list]] = {}
    theirs: dict[str, dict[str, dict[str, list]]] = {p: {} for p in peer_names}
    psm_used: dict[str, int] = {}
    calibration: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="idsight-bench-") as tmp:
        for tpl in templates:
            log(f"[{tpl}] generating {args.count} photo cards (seed {args.seed})")
            cards = make_cards(tpl, args.count, args.seed, Path(tmp), args.font_pool)
            tpl_peers = [p for p in peer_names if tpl in P.PEER_TEMPLATES[p]]
            if "tesseract" in tpl_peers:
                calib = make_cards(tpl, args.calib_count, calib_seed, Path(tmp), args.font_pool)
                psms = [int(x) for x in args.psm.split(",")]
                psm_used[tpl], calibration[tpl] = calibrate_psm(
                    tpl, calib, psms, args.threads, args.peer_view
                )
                log(f"  tesseract {tpl}: psm {psm_used[tpl]} ({P.TESSERACT_LANG[tpl]})")
            o = ours[tpl] = {
                "preds": [],
                "gts": [],
                "ms": [],
                "wall": [],
                "timings": [],
                "tpl_ok": [],
                "errors": [],
            }
            for p in tpl_peers:
                theirs[p][tpl] = {"preds": [], "gts": [], "ms": []}
            for i, (path, rec) in enumerate(cards):
                image = load_image(path)
                if i == 0:  # warm-up, untimed
                    if reader is not None:
                        _try_read(reader, image, str(path))
                    for p in tpl_peers:
                        run_peer(
                            p, image, rec, psm=psm_used.get(tpl, 6), threads=args.threads, view=args.peer_view
                        )
                gt = rec["fields"]
                t0 = time.perf_counter()
                res, err = _try_read(reader, image, str(path)) if reader is not None else (None, None)
                o["wall"].append((time.perf_counter() - t0) * 1000)
                o["gts"].append(gt)
                if reader is None:
                    pass
                elif res is None:
                    o["preds"].append(None)
                    o["tpl_ok"].append(False)
                    o["errors"].append({"image": path.name, "error": err})
                else:
                    d = res.to_dict()
                    ok = d["template"] == tpl
                    o["tpl_ok"].append(ok)
                    o["preds"].append({k: v["text"] for k, v in d["fields"].items()} if ok else None)
                    o["ms"].append(d["timings_ms"]["total"])
                    o["timings"].append({**d["timings_ms"], "networks": res.network_ms})
                for p in tpl_peers:
                    fields, ms = run_peer(
                        p, image, rec, psm=psm_used.get(tpl, 6), threads=args.threads, view=args.peer_view
                    )
                    t = theirs[p][tpl]
                    t["preds"].append(fields)
                    t["gts"].append(gt)
                    t["ms"].append(ms)
                if (i + 1) % 20 == 0 or i + 1 == len(cards):
                    engines = ({"idsight": o} if reader is not None else {}) | {
                        p: theirs[p][tpl] for p in tpl_peers
                    }
                    accs = [
                        f"{e} {field_accuracy(v['preds'], v['gts'])['overall']:.3f}"
                        for e, v in engines.items()
                    ]
                    log(f"  {tpl} {i + 1}/{len(cards)}  field acc: {', '.join(accs)}")

    doc = _report(
        args, calib_seed, templates, ours if reader is not None else None, theirs, psm_used, calibration
    )
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    _table(doc)
    return 0


def _try_read(reader, image, name: str):
    from idsight.errors import IdsightError

    try:
        return reader.read(image, name=name), None
    except IdsightError as e:
        return None, str(e)


def _report(args, calib_seed, templates, ours: dict | None, theirs, psm_used, calibration) -> dict[str, Any]:
    def ours_block(ts: list[str]) -> dict[str, Any]:
        keys = ("preds", "gts", "ms", "wall", "timings", "tpl_ok")
        cat = {k: [x for t in ts for x in ours[t][k]] for k in keys}
        s = score(cat["preds"], cat["gts"], cat["ms"])
        s["latency_wall_ms_all_cards"] = latency_summary(cat["wall"])  # incl. rejected cards
        s["template_accuracy"] = sum(cat["tpl_ok"]) / max(1, len(cat["tpl_ok"]))
        s["stage_share"] = stage_shares(cat["timings"])
        s.update(stage_latency(cat["timings"]))
        s["rejected"] = sum(len(ours[t]["errors"]) for t in ts)
        return s

    doc: dict[str, Any] = {
        "benchmark": "read_cards",
        "config": {
            "count_per_template": args.count,
            "seed": args.seed,
            "templates": templates,
            "model": args.model,
            "runtime": args.runtime,
            "font_pool": args.font_pool,
            "threads": args.threads,
            "peers": list(theirs),
            "peer_view": args.peer_view,
            "tesseract_calibration": {"seed": calib_seed, "count": args.calib_count},
            "note": "peers get the ground-truth line layout (and, with peer_view=rectified, the card corners) "
            "plus idsight's cleanup; peer latency is the OCR call only",
        },
        "environment": _environment(),
        "idsight": None,
        "peers": {},
    }
    if ours is not None:
        doc["idsight"] = {
            "per_template": {t: ours_block([t]) for t in templates},
            "overall": ours_block(templates),
        }
        for t in templates:
            doc["idsight"]["per_template"][t]["rejections"] = ours[t]["errors"][:20]
    for p, per in theirs.items():
        block: dict[str, Any] = {"templates": list(per)}
        block["per_template"] = {t: score(v["preds"], v["gts"], v["ms"]) for t, v in per.items()}
        cat = {k: [x for v in per.values() for x in v[k]] for k in ("preds", "gts", "ms")}
        block["overall"] = score(cat["preds"], cat["gts"], cat["ms"]) if per else None
        if p == "tesseract":
            block["lang"] = {t: P.TESSERACT_LANG[t] for t in per}
            block["psm"] = psm_used
            block["calibration"] = calibration
        doc["peers"][p] = block
    return doc


def _environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine()}
    env["cpu_count"] = os.cpu_count()
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("idsight", "torch", "onnxruntime", "opencv-python-headless", "rapidocr", "pytesseract"):
        try:
            env[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    try:
        import pytesseract

        env["tesseract"] = str(pytesseract.get_tesseract_version())
    except Exception:
        pass
    return env


def _table(doc: dict[str, Any]) -> None:
    rows = []
    if doc["idsight"] is not None:
        for t, s in doc["idsight"]["per_template"].items():
            rows.append(("idsight", t, s["template_accuracy"], s))
        ov = doc["idsight"]["overall"]
        rows.append(("idsight", "all", ov["template_accuracy"], ov))
    for p, b in doc["peers"].items():
        for t, s in b["per_template"].items():
            rows.append((p, t, None, s))
    head = ("engine", "template", "tpl acc", "field acc", "cards ok", "CER", "median ms", "p90 ms")
    body = [
        (
            e,
            t,
            "-" if ta is None else f"{ta:.3f}",
            f"{s['field_accuracy']:.3f}",
            f"{s['cards_all_fields_correct']:.3f}",
            f"{s['cer']:.4f}",
            _ms(s["latency_ms"]["median"]),
            _ms(s["latency_ms"]["p90"]),
        )
        for e, t, ta, s in rows
    ]
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="read_cards")
        for h in head:
            table.add_column(h, justify="left" if h in ("engine", "template") else "right")
        for r in body:
            table.add_row(*r)
        Console(stderr=True, width=None if sys.stderr.isatty() else 120).print(table)
    except ImportError:
        log("  ".join(head))
        for r in body:
            log("  ".join(r))


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
