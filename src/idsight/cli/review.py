"""`idsight review`: serve the review page, export and import the review store as JSON Lines, purge it."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from idsight.cli.common import DB_URLS, err, escape_line, fail, one_line_errors, out
from idsight.errors import IdsightError

review_app = typer.Typer(
    help="Review reads: serve the review page; export, import and purge the review store.",
    no_args_is_help=True,
)

DbOpt = Annotated[str, typer.Option("--db", help=f"An existing review store: {DB_URLS}.")]
NewDbOpt = Annotated[str, typer.Option("--db", help=f"Review store, created if missing: {DB_URLS}.")]


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


KEY_ENV = "IDSIGHT_REVIEW_API_KEY"


def _warn(message: str) -> None:
    err.print(f"[bold yellow]warning:[/] {escape_line(message)}", markup=True, highlight=False)


HostOpt = Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")]
PortOpt = Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")]
MaxBodyOpt = Annotated[
    int, typer.Option(min=1024, help="Largest request body in bytes; larger ones get 413.")
]


def _guard_settings(
    host: str,
    port: int,
    key_file: Path | None,
    allowed: list[str] | None,
    env: str,
    serving: str,
    exposes: str,
) -> tuple[str | None, list[str]]:
    """The API key and the Host names to serve; beyond loopback without a key, one line refusing
    (``serving``: "the review page on"; ``exposes``: what anyone who can reach it would get)."""
    from idsight.serve.security import is_loopback, normalize_host

    key = _api_key(key_file, env)
    if key is None and not is_loopback(host):
        fail(
            f"refusing to serve {serving} {host} without an API key: {exposes} anyone who can reach "
            f"{host}:{port}; pass --api-key-file FILE (or set {env}), or serve on 127.0.0.1"
        )
    try:
        return key, [normalize_host(h) for h in [*(allowed or []), host]]
    except ValueError as e:
        fail(f"--allowed-host: {e}")


def _api_key(path: Path | None, env: str = KEY_ENV) -> str | None:
    """The key of ``--api-key-file``, else of ``$env``, else None; a bad one is an error."""
    from idsight.serve.security import check_api_key

    if path is None:
        text = os.environ.get(env)
        if text is None:
            return None
        where = f"${env}"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise IdsightError("no such API key file", path=path) from None
        except (OSError, UnicodeDecodeError) as e:
            raise IdsightError(f"cannot read the API key file ({e})", path=path) from None
        where = str(path)
    try:
        key = check_api_key(text)
    except ValueError as e:
        raise IdsightError(f"{where}: {e}") from None
    if path is not None and path.stat().st_mode & 0o077:
        _warn(f"{path}: the API key file is readable by other users (chmod 600 {path})")
    return key


@review_app.command("serve")
@one_line_errors
def serve(
    db: DbOpt,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8765,
    low_confidence: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Highlight fields read with confidence below this.")
    ] = 0.9,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            help=f"File holding the API key (16+ printable ASCII characters) that every request must "
            f"carry (browsers log in at /login); default: ${KEY_ENV}. Required unless --host is loopback."
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A Host name clients use to reach the page, served besides localhost, 127.0.0.1, ::1 and "
            "--host (repeat for more), e.g. this machine's LAN name or address."
        ),
    ] = None,
    max_body: MaxBodyOpt = 1024 * 1024,
) -> None:
    """Serve the review page: a queue of reads, keyboard review of each field, figures."""
    import uvicorn

    from idsight.review import ReviewStore
    from idsight.serve.review_app import create_app
    from idsight.serve.security import is_loopback

    key, hosts = _guard_settings(
        host, port, api_key_file, allowed_host, KEY_ENV, "the review page on", "it shows names, ID numbers "
        "and card images to",
    )  # fmt: skip

    store = ReviewStore(db, create=False)  # a bad, foreign or missing store: ReviewError, one line, exit 2
    try:
        _check_port(host, port)
        app = create_app(
            store, low_confidence=low_confidence, api_key=key, allowed_hosts=hosts, max_body=max_body
        )
        if not is_loopback(host):
            _warn(
                f"the review page is reachable from the network on {host}:{port}; every request needs the "
                "API key, which plain HTTP sends unencrypted (put a TLS proxy in front of it); Host names "
                f"served: localhost, 127.0.0.1, ::1, {', '.join(hosts)} (add more with --allowed-host)"
            )
        login = " (log in with the API key)" if key is not None else ""
        out.print(f"review page for {store.url}: http://{host}:{port}/{login} (Ctrl+C to stop)")
        uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
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

    with ReviewStore(db, create=False) as store:
        count = store.export_jsonl(out_path)
    out.print(f"wrote {count} reads to {out_path}")


@review_app.command("import")
@one_line_errors
def import_(
    in_path: Annotated[
        Path, typer.Argument(metavar="IN.jsonl", help="An export of `idsight review export`.")
    ],
    db: NewDbOpt,
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


@review_app.command("purge")
@one_line_errors
def purge(
    db: DbOpt,
    older_than: Annotated[
        float,
        typer.Option(
            "--older-than", min=0, metavar="DAYS", help="Delete the reads stored more than DAYS days ago."
        ),
    ],
    dry_run: Annotated[bool, typer.Option(help="Only count what would be deleted.")] = False,
) -> None:
    """Delete old reads, with their crops, images and reviews (the store's retention); on SQLite the
    freed space is overwritten too."""
    from idsight.review import ReviewStore

    with ReviewStore(db, create=False) as store:
        count = store.purge(older_than, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {count} reads older than {older_than:g} days from {store.url}")
