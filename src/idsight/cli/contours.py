"""`idsight contours`: the contour maps of images, from a trained contour extractor."""

from __future__ import annotations

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
