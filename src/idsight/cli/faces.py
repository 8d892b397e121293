"""`idsight curate` (face training-data curation) and `idsight faces verify|calibrate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from idsight.cli.common import fail, one_line_errors, out

faces_app = typer.Typer(help="Face matching: verify a live face against a card photo, calibrate thresholds.")


@one_line_errors
def curate(
    data: Annotated[Path, typer.Argument(help="Face images, one folder per identity (aligned crops).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the stores, manifest and report.")],
    embedder: Annotated[
        str | None,
        typer.Option(
            help="dlib, or an idsight face model file. Default: first train idsight's own recogniser "
            "on DATA (all identities), then embed with it."
        ),
    ] = None,
    t: Annotated[float, typer.Option(help="Keep base images with cosine to their centre >= t.")] = 0.65,
    band: Annotated[
        tuple[float, float], typer.Option(help="Keep augmented images with cosine in (a, b).")
    ] = (0.80, 0.97),
    copies: Annotated[int, typer.Option(min=0, help="Offline augmented views per kept image.")] = 2,
    target: Annotated[int | None, typer.Option(min=1, help="Images per identity after equalisation.")] = None,
    policy: Annotated[str, typer.Option(help="cap_and_fill or none.")] = "cap_and_fill",
    seed: int = 0,
    min_per_class: Annotated[int, typer.Option(min=0, help="Report identities left below this.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    centre: Annotated[
        bool, typer.Option("--centre", help="Centre the embeddings on their mean first (use with dlib).")
    ] = False,
    pre_model_set: Annotated[
        list[str] | None,
        typer.Option(
            "--pre-model-set", help="Override of the pre-model's recipe, e.g. trainer.max_epochs=5."
        ),
    ] = None,
) -> None:
    """Curate face training data: embed, class centres, keep images near their centre, augment the kept
    ones offline and keep views inside the band, equalise the classes. Runs sharded under torchrun."""
    from idsight.faces.embed import build_embedder
    from idsight.faces.pipeline import CurateOptions, run_curation, train_premodel

    if not data.is_dir():
        fail(f"{data}: no such folder")
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir}: not a folder (an existing file); give a folder for --out")
    spec = embedder
    if spec is None:
        out.print("no --embedder: training idsight's face recogniser on the data set first")
        spec = str(train_premodel(data, out_dir, overrides=pre_model_set))
    opts = CurateOptions(
        t=t, band=band, copies=copies, target=target, policy=policy, seed=seed,
        min_per_class=min_per_class, batch_size=batch_size, centre=centre,
    )  # fmt: skip
    try:
        res = run_curation(data, out_dir, build_embedder(spec), opts, progress=out.print)
    except ValueError as err:  # a parameter out of range (t, band, target, policy)
        fail(str(err))
        return
    if res is None:  # a torchrun rank other than 0
        return
    rep = res.report
    summary = {"out": str(out_dir), "stages": rep.get("stages"), "selected": rep.get("selected")}
    out.print(json.dumps({**summary, "below_min": rep.get("below_min")}, ensure_ascii=False))


@faces_app.command("verify")
@one_line_errors
def verify(
    card: Annotated[
        Path, typer.Option(help="The reference: a photo or scan of an ID card, or a face image.")
    ],
    face: Annotated[Path, typer.Option(help="The live face image.")],
    model: Annotated[Path, typer.Option(help="A calibrated face model (idsight faces calibrate).")],
    spectrum: Annotated[str, typer.Option(help="The live face's spectrum: vis or nir.")] = "vis",
    far: Annotated[
        float, typer.Option(help="The false accept rate the threshold was calibrated for.")
    ] = 1e-3,
    reference_is_face: Annotated[
        bool, typer.Option("--reference-is-face", help="CARD is a face image, not a card.")
    ] = False,
    aligner: Annotated[str, typer.Option(help="Face detector: dlib or opencv.")] = "dlib",
    several: Annotated[
        str, typer.Option(help="A live image of several faces: largest (take it) or refuse.")
    ] = "largest",
    aligned: Annotated[
        bool, typer.Option("--aligned", help="The images are aligned face crops already: no detection.")
    ] = False,
) -> None:
    """Match a live face (visible or infrared) against the photo on an ID card: score and decision."""
    from idsight.data.io import load_image
    from idsight.faces.recognizer import FaceVerifier

    verifier = FaceVerifier(model, aligner=aligner)
    ref_img, live_img = load_image(card, min_side=16), load_image(face, min_side=16)
    result = verifier.verify(
        ref_img,
        live_img,
        spectrum=spectrum,
        far=far,
        reference_is_face=reference_is_face,
        several=several,
        aligned=aligned,
        names=(str(card), str(face)),
    )
    out.print(json.dumps(result))


@faces_app.command("calibrate")
@one_line_errors
def calibrate(
    model: Annotated[Path, typer.Option(help="The face model; its header gets the thresholds.")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="Paired faces, <identity>/{vis,nir}/<image>. Default: the generated held-out identities."
        ),
    ] = None,
    views: Annotated[int, typer.Option(min=2, help="Generated views per identity (without --data).")] = 8,
) -> None:
    """Compute thresholds at FAR 1e-2 and 1e-3 (vis-vis, nir-nir, nir-vis) and store them in the model."""
    import numpy as np

    from idsight.faces.recognizer import calibrate as thresholds
    from idsight.faces.recognizer import load_face_model, write_calibration

    net = load_face_model(model)
    if data is not None:
        from idsight.data.faces import FacePairs
        from idsight.faces.verify import embed_dataset

        vis, lv = embed_dataset(
            net, FacePairs(root=data, spectra=["vis"], size=net.input_size), spectrum="vis"
        )
        nir, ln = embed_dataset(
            net, FacePairs(root=data, spectra=["nir"], size=net.input_size), spectrum="nir"
        )
        if len(vis) != len(nir) or not np.array_equal(lv, ln):
            fail(f"{data}: calibration needs as many vis as nir images per identity")
        labels, source = lv, str(data)
    else:
        from idsight.data.faces import GeneratedFacePairs
        from idsight.faces.verify import embed_pairs

        n = 21 * views
        ds = GeneratedFacePairs(
            count=n, seed=7, identities="heldout", nir_setting="train", size=net.input_size, flip=False
        )
        vis, nir, labels = embed_pairs(net, ds)
        source = f"generated held-out identities, {views} views each, NIR setting train, seed 7"
    table = thresholds(vis, nir, labels)
    write_calibration(model, table, source)
    out.print(json.dumps({"model": str(model), "thresholds": table, "source": source}))
