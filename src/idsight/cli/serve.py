"""`idsight serve`: the models behind one HTTP API (idsight.serve.service)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from idsight.cli.common import fail, one_line_errors, out
from idsight.cli.review import HostOpt, MaxBodyOpt, PortOpt, _api_key, _check_port, _guard_settings, _warn

KEY_ENV = "IDSIGHT_API_KEY"
ADMIN_KEY_ENV = "IDSIGHT_ADMIN_KEY"


@one_line_errors
def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            help="Service config (YAML): the model of each job (cards, faces, classify, contours), "
            "batching, the face FAR, the review store. Default: the layout-free student reads cards."
        ),
    ] = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            help=f"File holding the API key that every request must carry (Authorization: Bearer KEY); "
            f"default: ${KEY_ENV}. Required unless --host is loopback."
        ),
    ] = None,
    admin_key_file: Annotated[
        Path | None,
        typer.Option(
            help=f"File holding the admin key, the only key that model reloads and review purges take; "
            f"default: ${ADMIN_KEY_ENV}. Without one they are off, except on loopback without an API key."
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A Host name clients use to reach the service, besides loopback and --host (repeat)."
        ),
    ] = None,
    max_body: MaxBodyOpt = 20 * 1024 * 1024,
) -> None:
    """Serve card reading, face verification, eKYC, classification and contours over HTTP (models
    loaded once at start-up; /docs has the API)."""
    import uvicorn

    from idsight.serve.registry import ModelSet, load_config
    from idsight.serve.security import is_loopback
    from idsight.serve.service import create_service_app

    key, hosts = _guard_settings(
        host, port, api_key_file, allowed_host, KEY_ENV, "on", "the service reads ID cards and faces for"
    )
    admin_key = _api_key(admin_key_file, ADMIN_KEY_ENV)
    if admin_key is not None and admin_key == key:
        fail("the admin key must differ from the API key (the API key would then reload models)")
    cfg = load_config(config)
    _check_port(host, port)
    models = ModelSet(cfg)  # every model loads now, once; a bad one stops the start with one line
    app = create_service_app(models, api_key=key, admin_key=admin_key, allowed_hosts=hosts, max_body=max_body)
    if not is_loopback(host):
        _warn(f"the service is reachable from the network on {host}:{port}; put a TLS proxy in front of it")
    served = ", ".join(f"{job}: {v['model']}" for job, v in models.versions().items())
    out.print(f"idsight service on http://{host}:{port}/ ({served}; API at /docs; Ctrl+C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
