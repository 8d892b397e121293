"""`idsight contours` (the contour maps of images), `idsight classify` (the contour-fused classifier)
and `idsight augment` (offline augmentation of a labelled image set)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from idsight.cli.common import fail, one_line_errors, out, print_error
from idsight.errors import IdsightError


@one_line_errors
def contours(
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    model: Annotated[
        Path, typer.Option(help="A contour artifact (idsight train configs/contours_shapes.yaml writes one).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the PNG maps.")] = Path("contours"),
) -> None:
    """Write each image's fused contour map and one map per level as PNGs."""
    from idsight.contours.extractor import load_extractor, write_contour_maps
    from idsight.data.io import load_image

    if out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir}: not a folder (an existing file); give a folder for --out")
    net = load_extractor(model, head=True)
    failed = 0
    for path in images:
        try:
            written = write_contour_maps(net, load_image(path, min_side=8), out_dir, path.stem)
        except IdsightError as e:
            failed += 1
            print_error(str(e))
            continue
        out.print(f"{path}: {len(written)} maps in {out_dir}")
    if failed:
        raise typer.Exit(2)


@one_line_errors
def classify(
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    model: Annotated[
        Path,
        typer.Option(help="A contour-fused classifier (idsight train configs/classify_*.yaml writes one)."),
    ],
) -> None:
    """Classify images with a contour-fused classifier: one JSON line per image."""
    from idsight.contours.classify import classify as run
    from idsight.contours.classify import load_classifier
    from idsight.data.io import load_image

    net = load_classifier(model)
    failed = 0
    for path in images:
        try:
            result = run(net, [load_image(path, min_side=8)])[0]
        except IdsightError as e:
            failed += 1
            print_error(str(e))
            continue
        typer.echo(json.dumps({"image": str(path), **result}, ensure_ascii=False))
    if failed:
        raise typer.Exit(2)


@one_line_errors
def augment(
    source: Annotated[
        Path, typer.Argument(help="An ImageFolder tree (one folder per class) or a CSV path,label.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="The enlarged ImageFolder tree to write.")],
    copies: Annotated[int, typer.Option(min=0, help="Augmented versions per image.")] = 4,
    size: Annotated[int, typer.Option(min=8, help="Side of the square (letterboxed) images written.")] = 64,
    channel_swap: Annotated[
        float, typer.Option(min=0, max=1, help="Fraction of images, at most, with channels permuted.")
    ] = 0.1,
    channel_shift: Annotated[
        int, typer.Option(min=0, max=255, help="Per-channel shift limit, 0-255 levels.")
    ] = 20,
    seed: int = 0,
) -> None:
    """Offline augmentation: write every image and COPIES bounded-colour, geometric augmentations of it."""
    from idsight.data.images import CsvImageSet, ImageFolderSet, LabelledImages, write_augmented

    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        fail(f"{out_dir}: exists and is not an empty folder; give a new one for --out")
    cfg = {"channel_swap": channel_swap, "channel_shift": channel_shift}
    data: LabelledImages = (
        CsvImageSet(csv_file=source, size=size, augment=cfg)
        if source.suffix.lower() == ".csv"
        else ImageFolderSet(root=source, size=size, augment=cfg, seed=seed)
    )
    write_augmented(data, out_dir, copies, seed=seed)
    out.print(f"{len(data)} images x {copies + 1} written to {out_dir} ({len(data.classes)} classes)")
