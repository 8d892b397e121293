"""`idsight` CLI entry point: read, synth, train, export, models, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from idsight import DEFAULT_READER
from idsight.cli.common import DB_URLS, err, escape_line, fail, one_line_errors, out, print_error
from idsight.cli.review import review_app
from idsight.errors import IdsightError

app = typer.Typer(
    name="idsight",
    help="Train, distill and serve lightweight recognition models for identity verification.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
synth_app = typer.Typer(help="Generate synthetic training and test data.", no_args_is_help=True)
models_app = typer.Typer(help="List and manage model artifacts.", no_args_is_help=True)
app.add_typer(synth_app, name="synth")
app.add_typer(models_app, name="models")
app.add_typer(review_app, name="review")

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="A shipped/installed model name or an artifact path.")
]


@app.command()
@one_line_errors
def read(
    images: Annotated[list[Path], typer.Argument(help="Card images (photos or flat scans).")],
    template: Annotated[
        str | None,
        typer.Option(
            help="Force the document type (kr-rrc, td1; td3 with a layout-free reader); default: decide."
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help=f"A model name or artifact path; default {DEFAULT_READER} (layout-free, any card design). "
            "`default` is the card reader that reviews train (needed by --inspect).",
        ),
    ] = DEFAULT_READER,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per image.")] = False,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for inference (PyTorch and OpenCV).")] = 1,
    runtime: Annotated[
        str,
        typer.Option(
            help="Inference runtime: torch, or onnx (onnxruntime; exported at load); onnx-int8 for a "
            "layout-free reader (its networks dynamically int8-quantised)."
        ),
    ] = "torch",
    inspect: Annotated[
        Path | None, typer.Option(help="Write each stage's output (boxes, rectified card, characters) here.")
    ] = None,
    store_url: Annotated[
        str | None,
        typer.Option(
            "--store",
            help=f"Queue each read for review in this store, created if missing: {DB_URLS}.",
        ),
    ] = None,
    keep_images: Annotated[
        bool, typer.Option(help="With --store: also keep the whole card image (off: line crops only).")
    ] = False,
) -> None:
    """Read ID cards: print their fields, checks and corrections."""
    import cv2
    import torch

    from idsight.data.io import load_image
    from idsight.ocr.content.decide import UNKNOWN
    from idsight.ocr.content.spec import get_spec
    from idsight.ocr.predictor import CardReader
    from idsight.ocr.readers import load_reader
    from idsight.ocr.runtime import reading_process
    from idsight.templates import get_template

    if inspect is not None:
        _output_dir(inspect)  # before the model is loaded
    reading_process()
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    reader = load_reader(model, runtime=runtime, threads=threads)
    if not isinstance(reader, CardReader) and inspect is not None:
        fail(f"{model}: --inspect needs a card-reader model (--model default); this is a layout-free reader")
    if template is not None:  # a card reader knows its templates; a layout-free one, the spec files
        get_template(template) if isinstance(reader, CardReader) else get_spec(template)
    store, sha = None, ""
    if store_url is not None:
        from idsight.artifact import sha256_file
        from idsight.hub import resolve
        from idsight.review.capture import capture
        from idsight.review.store import ReviewStore

        store = ReviewStore(store_url, keep_images=keep_images, create=True)
        sha = sha256_file(resolve(model))
    failed = 0
    for path in images:
        try:
            image = load_image(path)
            res = reader.read(image, template=template, name=str(path))
            if store is not None and getattr(res, "doc_type", None) == UNKNOWN:
                print_error(f"{path}: not stored: a card of unknown type has no fields to review")
            elif store is not None:
                capture(store, res, model_name=Path(reader.name).stem, model_sha256=sha, image=image)
            if inspect is not None:
                from idsight.ocr.inspect import write_inspection

                write_inspection(image, res, inspect)
        except IdsightError as e:
            failed += 1
            print_error(str(e))
            continue
        if as_json:
            out.print_json(json.dumps(res.to_dict(), ensure_ascii=False), indent=None)
        else:
            _print_read(res)
    if failed:
        raise typer.Exit(2)


def _output_dir(path: Path, option: str = "--inspect") -> None:
    """Make the folder ``path`` (with its parents), or fail with one line saying why it cannot be."""
    if path.exists() and not path.is_dir():
        fail(f"{path}: not a folder (an existing file); give a folder for {option}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"{path}: cannot make the folder ({e.strerror or e})")


def _print_read(res: object) -> None:
    from rich.table import Table

    d = res.to_dict()  # type: ignore[attr-defined]
    t = Table(title=f"{d['image']} ({d['template']}, {d['timings_ms']['total']:.0f} ms)")
    for c in ("field", "text", "confidence"):
        t.add_column(c)
    for k, f in d["fields"].items():
        style = "yellow" if f["confidence"] < 0.8 else None
        t.add_row(k, escape_line(f["text"].replace("\n", " / ")), f"{f['confidence']:.2f}", style=style)
    out.print(t)
    if d.get("unassigned"):  # a layout-free read: the lines that fit no field
        out.print("unassigned lines: " + "; ".join(escape_line(u["text"]) for u in d["unassigned"]))
    for other in d.get("other_cards", []):
        out.print(f"another card in the photo, not read: box {other['box']}")
    if d.get("corrections"):
        out.print(
            "corrections: "
            + "; ".join(
                f"{c['field']}: {c['from']!r} -> {c['to']!r} ({c['reason']})" for c in d["corrections"]
            )
        )


@synth_app.command("cards")
@one_line_errors
def synth_cards(
    template: Annotated[str, typer.Option(help="kr-rrc or td1.")],
    count: Annotated[int, typer.Option(min=1, help="Number of cards.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")],
    photo: Annotated[bool, typer.Option("--photo", help="Photograph the cards on backgrounds.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
    font_pool: Annotated[str, typer.Option(help="train, shifted or all.")] = "train",
) -> None:
    """Write synthetic card images and a labels.jsonl ground truth."""
    from idsight.data.synth import write_cards
    from idsight.templates import get_template

    get_template(template)
    if font_pool not in ("train", "shifted", "all"):
        fail(f"unknown font pool {font_pool!r} (known: train, shifted, all)")
    path = write_cards(template, count, out_dir, photo=photo, seed=seed, font_pool=font_pool)
    out.print(f"wrote {count} {template} cards to {path}")


@synth_app.command("faces")
@one_line_errors
def synth_faces(
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory (<identity>/vis|nir/<k>.png).")],
    views: Annotated[int, typer.Option(min=1, help="Views per identity and spectrum.")] = 8,
    identities: Annotated[str, typer.Option(help="train (80 source photos), heldout (21) or all.")] = "train",
    nir_setting: Annotated[str, typer.Option(help="NIR simulation settings: train or heldout.")] = "train",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
) -> None:
    """Write generated face pairs: each real face that ships offline made a pseudo-identity, with
    visible views and simulated near-infrared ones (docs/faces.md)."""
    from idsight.data.synth.faces import NIR_SETTINGS, identity_split, source_faces, write_face_pairs

    if identities not in ("train", "heldout", "all"):
        fail(f"unknown identities {identities!r} (known: train, heldout, all)")
    if nir_setting not in NIR_SETTINGS:
        fail(f"unknown NIR setting {nir_setting!r} (known: {', '.join(NIR_SETTINGS)})")
    faces = source_faces()
    train, heldout = identity_split(faces)
    chosen = {"train": train, "heldout": heldout, "all": faces}[identities]
    write_face_pairs(out_dir, chosen, views=views, seed=seed, nir_setting=nir_setting)
    out.print(f"wrote {len(chosen)} identities x {views} views x 2 spectra to {out_dir} (generated)")


@synth_app.command("composed")
@one_line_errors
def synth_composed(
    count: Annotated[int, typer.Option(min=1, help="Number of images.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")],
    doc_type: Annotated[
        list[str] | None,
        typer.Option(
            "--doc-type", help="kr-rrc, td1 or td3; repeat for several (default: all three, in turn)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 0,
    design_pool: Annotated[str, typer.Option(help="Design families: train or heldout.")] = "train",
    font_pool: Annotated[str, typer.Option(help="Font families: train or heldout.")] = "train",
    photo_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of photos (else flat scans).")
    ] = 0.5,
    white_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of photos that are white cards on white desks.")
    ] = 0.15,
    rotate_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of images turned 90/180/270 degrees.")
    ] = 0.1,
) -> None:
    """Write cards of randomly composed designs (any layout, labels, fonts, colours) and labels.jsonl."""
    from idsight.data.synth.compose import DOC_TYPES, write_composed

    path = write_composed(
        doc_type or list(DOC_TYPES),
        count,
        out_dir,
        seed=seed,
        design_pool=design_pool,
        font_pool=font_pool,
        photo_fraction=photo_fraction,
        white_fraction=white_fraction,
        rotate_fraction=rotate_fraction,
    )
    out.print(f"wrote {count} composed cards to {path}")


@app.command()
@one_line_errors
def train(
    config: Annotated[Path, typer.Argument(help="A YAML recipe config, e.g. configs/reader_teacher.yaml.")],
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Dotted override, e.g. recognizer.optim.lr=1e-3.")
    ] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Where to write the model artifact.")] = None,
    part: Annotated[
        str | None, typer.Option(help="Train only this part (localizer, classifier, detector, recognizer).")
    ] = None,
) -> None:
    """Train a card-reader model from a YAML recipe, or one network from a single-network config
    (model, task, data), and write one artifact file.

    Parts already trained under the same recipe are reused, so parts can be trained in parallel
    with --part and assembled by a final run without it. A single-network run goes on from its last
    checkpoint, so a long training spans several sittings.
    """
    from idsight.models.reader import PARTS
    from idsight.train.component import is_component_config, train_component
    from idsight.train.recipes import train_reader

    if is_component_config(config):
        if part is not None:
            fail(f"{config}: --part applies to reader recipes, not to a single-network config")
        done = train_component(config, overrides=overrides or [], out=out_path)
        if done is not None:
            out.print(f"wrote {done}")
        return
    if part is not None and part not in PARTS:
        fail(f"unknown part {part!r} (known: {', '.join(PARTS)})")
    path = train_reader(config, overrides=overrides or [], out=out_path, only=part)
    if path is not None:  # None on torchrun ranks other than 0
        out.print(f"wrote {path}")


@app.command()
@one_line_errors
def export(
    model: Annotated[str, typer.Argument(help="A model name or artifact path.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the ONNX files.")] = Path("onnx"),
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    int8: Annotated[
        bool, typer.Option("--int8", help="Dynamic int8 quantisation (layout-free readers' networks).")
    ] = False,
) -> None:
    """Export a model's networks to ONNX for deployment (a card reader's four, or a layout-free
    reader's detector, localiser and recogniser; --int8 quantises the latter)."""
    from idsight import hub
    from idsight.artifact import read_meta

    if fmt != "onnx":
        fail(f"--format: unknown export format {fmt!r} (known: onnx)")
    path = hub.resolve(model)
    if read_meta(path).get("task") == "line_reader":
        from idsight.export import export_line_reader
        from idsight.ocr.layoutfree import load_line_reader

        _output_dir(out_dir, "--out")
        paths = export_line_reader(load_line_reader(path), out_dir, int8=int8)
    else:
        from idsight.export import export_reader
        from idsight.models.reader import ReaderModel

        if int8:
            fail(
                f"{path}: --int8 is for layout-free readers; a card reader's int8 is benchmarks/quantize.py's"
            )
        net, _ = ReaderModel.from_artifact(path)
        paths = export_reader(net, out_dir)
    for p in paths:
        out.print(f"wrote {p} ({p.stat().st_size / 1e6:.2f} MB)")


@models_app.command("assemble")
@one_line_errors
def models_assemble(
    recognizer: Annotated[Path, typer.Option(help="A line-recogniser artifact (idsight train writes one).")],
    out_path: Annotated[Path, typer.Option("--out", help="The reader file to write.")],
    detector: Annotated[
        str, typer.Option(help="ppocr (PP-OCR's, from rapidocr) or a text-map artifact of idsight's own.")
    ] = "ppocr",
    localizer: Annotated[
        str | None,
        typer.Option(
            help="With a text-map detector: a localiser that idsight train wrote, or the card reader "
            "whose card localiser to use."
        ),
    ] = "idsight-reader-student",
    latin: Annotated[
        str | None,
        typer.Option(help="ppocr: PP-OCR's recogniser reads the Latin, digit and MRZ lines it reads well."),
    ] = None,
    hangul: Annotated[
        str | None,
        typer.Option(help="tesseract: Tesseract's Korean recogniser reads the Hangul lines it reads well."),
    ] = None,
) -> None:
    """Assemble a layout-free reader (text detector + line recogniser + content assignment) as one file."""
    from idsight.ocr.layoutfree import save_line_reader

    det = (
        {"name": "ppocr"}
        if detector == "ppocr"
        else {"name": "db", "model": detector, "localizer": localizer}
    )
    from idsight.train.recipes import provenance

    prov = provenance()
    path = save_line_reader(
        out_path,
        recognizer=recognizer,
        detector=det,
        latin=latin,
        hangul=hangul,
        meta={"commands": [prov["command"]], "provenance": prov},
    )
    out.print(f"wrote {path}")


@models_app.command("average")
@one_line_errors
def models_average(
    models: Annotated[list[Path], typer.Argument(help="Two or more model files of one architecture.")],
    out_path: Annotated[Path, typer.Option("--out", help="The averaged model file to write.")],
) -> None:
    """Average the weights of runs fine-tuned from the same start (a model soup) into one file."""
    from idsight.artifact import average_artifacts
    from idsight.train.recipes import provenance

    if len(models) < 2:
        fail("average: name two or more model files")
    path = average_artifacts(list(models), out_path, command=provenance()["command"])
    out.print(f"wrote {path} (the mean of {len(models)} models)")


@models_app.command("calibrate")
@one_line_errors
def models_calibrate(
    model: Annotated[Path, typer.Argument(help="A layout-free reader file with idsight's own detector.")],
    count: Annotated[int, typer.Option(min=1, help="Composed train-pool cards per document type.")] = 12,
    seed: Annotated[int, typer.Option(help="The composed cards' seed.")] = 4242,
) -> None:
    """Choose the text detector's line height scale on generated cards of the train design and font
    pools, and store it (and the sweep) in the reader file."""
    from idsight.ocr.calibrate import calibrate_detector
    from idsight.train.recipes import provenance

    record = calibrate_detector(model, count=count, seed=seed, command=provenance()["command"])
    for scale, score in record["field_exact"].items():
        out.print(f"height scale {scale}: {score:.2%} of fields exact")
    out.print(f"stored height scale {record['height_scale']:g} in {model}")


@models_app.command("list")
@one_line_errors
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List shipped and installed model artifacts (one that cannot be read: listed with its error)."""
    from idsight.hub import list_models

    rows = list_models()
    if as_json:
        out.print_json(json.dumps(rows, ensure_ascii=False))
        return
    from rich.table import Table

    t = Table()
    for c in ("name", "task", "role", "parameters", "MB", "sha256", "default"):
        t.add_column(c, no_wrap=c in ("name", "parameters"), min_width=22 if c == "name" else None)
    for r in rows:
        if "error" in r:
            t.add_row(
                escape_line(r["name"]), "[red]unreadable[/]", "", "", "", "", "*" if r["default"] else ""
            )
            continue
        t.add_row(
            escape_line(r["name"]),
            escape_line(str(r.get("task"))),
            escape_line(str(r.get("role"))),
            f"{r.get('parameters') or 0:,}",
            f"{(r.get('file_size') or 0) / 1e6:.1f}",
            (r.get("sha256") or "")[:12],
            "*" if r["default"] else "",
        )
    out.print(t)
    for r in rows:
        if "error" in r:
            err.print(f"[yellow]warning:[/] {escape_line(r['error'])}", markup=True, highlight=False)


@app.command()
@one_line_errors
def demo(
    count: Annotated[int, typer.Option(min=1, help="Cards per template.")] = 20,
    seed: Annotated[int, typer.Option(help="Data seed (held-out seeds are >= 9000).")] = 9100,
    model: ModelOpt = "default",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Keep the generated cards here.")] = None,
    loop: Annotated[
        bool, typer.Option(help="Also run the review loop: review, distil, gate, promote, compare.")
    ] = True,
    review_cards: Annotated[int, typer.Option(min=2, help="Shifted-font cards to review.")] = 60,
    epochs: Annotated[int, typer.Option(min=1, help="Distillation epochs.")] = 6,
    holdout_cards: Annotated[
        int | None, typer.Option(min=1, help="Gate's held-out cards per template (default: the fixed set).")
    ] = None,
) -> None:
    """The main job on built-in data: read cards, then learn from reviews of a shifted batch."""
    from idsight.demo import run_demo

    run_demo(
        count=count,
        seed=seed,
        model=model,
        out_dir=out_dir,
        loop=loop,
        review_cards=review_cards,
        epochs=epochs,
        holdout_cards=holdout_cards,
    )


from idsight.cli.contours import augment as _augment  # noqa: E402
from idsight.cli.contours import classify as _classify  # noqa: E402
from idsight.cli.contours import contours as _contours  # noqa: E402
from idsight.cli.distill import distill as _distill  # noqa: E402
from idsight.cli.distill import promote as _promote  # noqa: E402
from idsight.cli.distill import prune as _prune  # noqa: E402
from idsight.cli.faces import curate as _curate  # noqa: E402
from idsight.cli.faces import faces_app  # noqa: E402
from idsight.cli.serve import serve as _serve  # noqa: E402

app.command("distill")(_distill)
app.command("contours")(_contours)
app.command("classify")(_classify)
app.command("augment")(_augment)
app.command("curate")(_curate)
app.add_typer(faces_app, name="faces")
app.command("serve")(_serve)
models_app.command("promote")(_promote)
models_app.command("prune")(_prune)


def main() -> None:  # pragma: no cover
    app()
