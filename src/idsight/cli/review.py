"""`idsight review`: serve the review page, export and import the review store as JSON Lines."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from idsight.cli.common import fail, one_line_errors, out

review_app = typer.Typer(
    help="Review reads: serve the review page; export and import the review store.", no_args_is_help=True
)

DbOpt = Annotated[
    str,
    typer.Option("--db", help="Review store URL: sqlite:///reviews.db or postgresql://user@host/db."),
]


def _check_port(host: str, port: int) -> None:
    """Fail with one line now if the address cannot be listened on (instead of a server log later)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        fail(f"cannot listen on {host}:{port}: {err.strerror or err}")
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as err:
            fail(f"cannot listen on {host}:{port}: {err.strerror or err}")


@review_app.command("serve")
@one_line_errors
def serve(
    db: DbOpt,
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8765,
    low_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Highlight fields read with confidence below this.")
    ] = 0.9,
) -> None:
    """Serve the review page: a queue of reads, keyboard review of each field, figures."""
    import uvicorn

    from idsight.review import ReviewStore
    from idsight.serve.review_app import create_app

    store = ReviewStore(db)  # a bad or foreign URL: ReviewError, one line, exit 2
    try:
        _check_port(host, port)
        app = create_app(store, low_confidence=low_confidence)
        out.print(f"review page for {store.url}: http://{host}:{port}/ (Ctrl+C to stop)")
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        store.close()


@review_app.command("export")
@one_line_errors
def export(
    out_path: Annotated[Path, typer.Argument(metavar="OUT.jsonl", help="JSON Lines file to write.")],
    db: DbOpt,
) -> None:
    """Write every read (crops, image if kept, reviews) as JSON Lines."""
    from idsight.review import ReviewStore

    with ReviewStore(db) as store:
        count = store.export_jsonl(out_path)
    out.print(f"wrote {count} reads to {out_path}")


@review_app.command("import")
@one_line_errors
def import_(
    in_path: Annotated[
        Path, typer.Argument(metavar="IN.jsonl", help="An export of `idsight review export`.")
    ],
    db: DbOpt,
    keep_images: Annotated[bool, typer.Option(help="Store the card images the file holds.")] = False,
    drop_images: Annotated[bool, typer.Option(help="Import without the card images the file holds.")] = False,
) -> None:
    """Add the reads of an export to a store, all or nothing."""
    from idsight.review import ReviewStore

    if not in_path.is_file():
        fail(f"{in_path}: no such file")
    with ReviewStore(db, keep_images=keep_images) as store:
        count = store.import_jsonl(in_path, drop_images=drop_images)
    out.print(f"imported {count} reads into {store.url}")
