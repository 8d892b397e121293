"""`idsight distill` and `idsight models promote`: new student versions from reviews, behind a gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from idsight.cli.common import DB_URLS, one_line_errors, out


@one_line_errors
def distill(
    out_path: Annotated[Path, typer.Option("--out", help="The new artifact (.safetensors).")],
    teacher: Annotated[str, typer.Option(help="Teacher model name or path.")] = "idsight-reader-teacher",
    student: Annotated[str, typer.Option(help="Student to start from (name or path).")] = "default",
    reviews: Annotated[
        str | None,
        typer.Option(help=f"An existing review store to learn from: {DB_URLS}."),
    ] = None,
    synthetic: Annotated[
        int,
        typer.Option(min=0, help="Generated cards of the original fonts, with their ground truth (replay)."),
    ] = 0,
    config: Annotated[Path | None, typer.Option(help="A YAML distillation config.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Dotted override, e.g. distill_weight=0.")
    ] = None,
) -> None:
    """Train a new student version from the teacher and the reviewed reads; record its lineage."""
    from idsight.train.distill import distill as run
    from idsight.train.distill import load_distill_config

    sets = [f"teacher={teacher}", f"student={student}", f"synthetic={synthetic}", *(overrides or [])]
    if reviews is not None:
        sets.append(f"reviews={reviews}")
    cfg = load_distill_config(config, sets)
    path = run(cfg, out_path)
    out.print(f"wrote {path}")


@one_line_errors
def prune(
    out_path: Annotated[Path, typer.Option("--out", help="The new artifact (.safetensors).")],
    teacher: Annotated[str, typer.Option(help="Whose recogniser is cut (name or path).")] = (
        "idsight-reader-teacher"
    ),
    student: Annotated[str, typer.Option(help="Whose localiser, classifier, detector are kept.")] = "default",
    hidden: Annotated[int, typer.Option(min=0, help="LSTM units per direction to keep (0: none).")] = 160,
    width: Annotated[int, typer.Option(min=1, help="Backbone output channels to keep.")] = 224,
    context: Annotated[
        int, typer.Option(min=0, help="With --hidden 0: width-convolution blocks in the LSTM's place.")
    ] = 0,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Dotted override, e.g. calibration_lines=256.")
    ] = None,
) -> None:
    """Make a student whose recogniser is the teacher's, pruned; `idsight distill` then recovers it."""
    from idsight.train.config import validate_config
    from idsight.train.prune import PruneConfig, prune_student

    sets = [
        f"teacher={teacher}",
        f"student={student}",
        f"hidden={hidden}",
        f"width={width}",
        f"context={context}",
        *(overrides or []),
    ]
    cfg = validate_config(PruneConfig, {}, sets, source="<prune>")
    argv = ["models", "prune", *sum((["--set", s] for s in sets), []), "--out", str(out_path)]
    out.print(f"wrote {prune_student(cfg, out_path, argv=argv)}")


@one_line_errors
def promote(
    model: Annotated[str, typer.Argument(help="The candidate artifact (path or installed name).")],
    name: Annotated[
        str | None,
        typer.Option(
            help="Install under this name (default: the file stem); letters, digits, '.', '_', '-'."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the gate's report as JSON.")] = False,
) -> None:
    """Make MODEL the default if it does not regress on the fixed held-out set (prints both scores)."""
    from idsight.hub import check_name
    from idsight.train.holdout import GateRefused
    from idsight.train.holdout import promote as run

    if name is not None:
        check_name(name)  # before anything is read, scored or written
    try:
        report = run(model, name=name)
    except GateRefused as e:
        from idsight.cli.common import fail

        fail(str(e), 1)
        return
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False))
        return
    c, p = report["candidate"], report["current"]
    out.print(
        f"held-out field exact match: candidate {c['name']} {c['field_exact_match']:.2%}, "
        f"current default {p['name']} {p['field_exact_match']:.2%}"
    )
    out.print(f"promoted {c['name']} -> {report['path']} (now the default)")
