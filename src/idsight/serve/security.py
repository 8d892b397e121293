"""The review page's guards: a Host allow-list, same-origin writes, an API key, a request size limit.

``Guard`` is ASGI middleware that sees every HTTP request before the app does and checks, in order:

1. the ``Host`` header names an allowed host (any port), else 400: DNS rebinding gets nothing;
2. a state-changing request (not GET/HEAD/OPTIONS) whose ``Origin`` (or, without one, ``Referer``) is
   present names this very host and port, else 403: another site's page cannot post reviews;
3. with an API key: ``Authorization: Bearer KEY``, ``X-API-Key: KEY`` or the login cookie, else 401 for
   the API (``/api/``, ``/openapi.json``) and anything not GET/HEAD, and a redirect to ``/login`` for
   pages; ``PUBLIC`` paths (health check, login page and its static assets) need none;
4. the body is at most ``max_body`` bytes, from ``Content-Length`` and counted as it arrives, else 413
   and the app never sees the request.

``admin_paths`` (path prefixes, e.g. model reload and purge) take their own key: with an
``admin_key`` they need exactly that key (the API key gets 403); without one they are open only
where no API key is set either (loopback development), and otherwise refused with 403.

Refusals are JSON ``{"detail": one line}``. Every answer gets headers that keep it out of caches and
frames, and a content security policy that lets a page load nothing from another origin.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_BODY = 1024 * 1024  # bytes of one request body (a review is a few kB)
MIN_KEY = 16  # characters of an API key
SESSION_COOKIE = "idsight_review_session"
SESSION_SECONDS = 12 * 3600  # how long a login lasts
PUBLIC = ("/healthz", "/login")  # served without the key, as are the login page's assets under /static/
PUBLIC_PREFIX = "/static/"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
DOCS_CSP = CSP.replace("default-src 'self';", "default-src 'self'; script-src 'self' 'unsafe-inline';")
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+))(?::\d{1,5})?")
_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")


def check_api_key(key: str) -> str:
    """The key without surrounding whitespace; ValueError unless it is 16+ printable ASCII characters."""
    key = key.strip()
    if not key:
        raise ValueError("the API key is empty")
    if not all("!" <= c <= "~" for c in key):
        raise ValueError("the API key must be printable ASCII characters without spaces")
    if len(key) < MIN_KEY:
        raise ValueError(
            f"the API key is {len(key)} characters long; use at least {MIN_KEY} "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )
    return key


def normalize_host(entry: str) -> str:
    """An allowed host as the Host check compares it: lower case, no brackets, no trailing dot."""
    host = entry.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _NAME.fullmatch(host):
        raise ValueError(f"allowed host {entry!r} is not a host name or IP address (no scheme, port or *)")
    return host


def host_of(header: str) -> str | None:
    """The host of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``), normalized; None if malformed."""
    match = _HOST.fullmatch(header.strip().lower())
    if match is None:
        return None
    try:
        return normalize_host(match["v6"] or match["name"])
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (``localhost`` or a loopback address)."""
    name = host.strip().lower().rstrip(".").strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _sign(key: str, expires: int) -> str:
    return hmac.new(key.encode(), f"idsight-review-session:{expires}".encode(), hashlib.sha256).hexdigest()


def session_token(key: str, now: float | None = None) -> str:
    """The login cookie's value: its expiry time and an HMAC of it under the API key."""
    expires = int(time.time() if now is None else now) + SESSION_SECONDS
    return f"{expires}.{_sign(key, expires)}"


def session_valid(key: str, token: str, now: float | None = None) -> bool:
    expires, _, signature = token.partition(".")
    if not expires.isdigit() or len(expires) > 12 or int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature.encode(), _sign(key, int(expires)).encode())


def key_matches(key: str, given: str) -> bool:
    return hmac.compare_digest(given.encode(), key.encode())


def safe_next(target: str) -> str:
    """``target`` if it is a path of this app (never another site), else ``/``."""
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if ok and not urlsplit(target).netloc else "/"


def _refuse(status: int, detail: str, **headers: str) -> Response:
    return JSONResponse({"detail": " ".join(detail.split())}, status_code=status, headers=headers)


class Guard:
    """The checks of the module docstring, around ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: str | None,
        allowed_hosts: Iterable[str],
        max_body: int = MAX_BODY,
        login: bool = True,
        what: str = "review page",
        admin_key: str | None = None,
        admin_paths: tuple[str, ...] = (),
    ) -> None:
        """``login=False``: an API only (the service): no login page, every unauthenticated request
        but the health check gets 401. ``what`` names the server in refusals."""
        self.app = app
        self.api_key = None if api_key is None else check_api_key(api_key)
        self.admin_key = None if admin_key is None else check_api_key(admin_key)
        if self.admin_key is not None and self.admin_key == self.api_key:
            raise ValueError("the admin key must differ from the API key")
        self.admin_paths = admin_paths
        self.hosts = frozenset(normalize_host(h) for h in (*LOOPBACK_HOSTS, *allowed_hosts))
        self.max_body = max_body
        self.login, self.what = login, what

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        send = _with_headers(send, DOCS_CSP if path == "/docs" else CSP)
        conn = HTTPConnection(scope)
        refusal = self._check(conn, path, scope["method"])
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._with_body_limit(scope, receive, send, conn)

    def _check(self, conn: HTTPConnection, path: str, method: str) -> Response | None:
        host = conn.headers.get("host", "")
        if host_of(host) not in self.hosts:
            shown = host if len(host) <= 80 else host[:77] + "..."
            return _refuse(
                400,
                f"invalid Host header {shown!r}: not an allowed host of this {self.what} "
                "(--allowed-host NAME serves another)",
            )
        source = conn.headers.get("origin") or conn.headers.get("referer")
        if method not in SAFE_METHODS and source is not None and _netloc(source) != host.lower():
            return _refuse(403, f"cross-origin {method} refused (the request came from another site's page)")
        if any(path.startswith(p) for p in self.admin_paths):
            return self._admin(conn)
        if self.api_key is None or path == "/healthz":
            return None
        if self.login and (path in PUBLIC or path.startswith(PUBLIC_PREFIX)):
            return None
        return self._authenticate(conn, path, method)

    def _admin(self, conn: HTTPConnection) -> Response | None:
        given = _given_key(conn)
        if self.admin_key is None:
            if self.api_key is None:
                return None
            return _refuse(403, f"admin endpoints are off: start the {self.what} with an admin key")
        if given is None:
            return _refuse(
                401,
                "admin key required: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                **{"WWW-Authenticate": "Bearer"},
            )
        if key_matches(self.admin_key, given):
            return None
        if self.api_key is not None and key_matches(self.api_key, given):
            return _refuse(403, "this endpoint needs the admin key, not the API key")
        return _refuse(401, "wrong admin key", **{"WWW-Authenticate": "Bearer"})

    def _authenticate(self, conn: HTTPConnection, path: str, method: str) -> Response | None:
        assert self.api_key is not None
        given = _given_key(conn)
        if given is not None:
            if key_matches(self.api_key, given):
                return None
            return _refuse(401, "wrong API key", **{"WWW-Authenticate": "Bearer"})
        cookie = conn.cookies.get(SESSION_COOKIE)
        if cookie is not None and session_valid(self.api_key, cookie):
            return None
        page = not (path.startswith("/api/") or path == "/openapi.json")
        if self.login and method in ("GET", "HEAD") and page:
            root = conn.scope.get("root_path", "")
            query = conn.scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            return RedirectResponse(f"{root}/login?next={quote(target, safe='')}", status_code=303)
        return _refuse(
            401,
            "authentication required: send the API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
            + (", or log in at /login" if self.login else ""),
            **{"WWW-Authenticate": "Bearer"},
        )

    async def _with_body_limit(
        self, scope: Scope, receive: Receive, send: Send, conn: HTTPConnection
    ) -> None:
        length = conn.headers.get("content-length")
        if length is None and "transfer-encoding" not in conn.headers:
            await self.app(scope, receive, send)  # no body
            return
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            status = 413 if length.isdigit() else 400
            await _too_large(self.max_body, status)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                await _too_large(self.max_body, 413)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _given_key(conn: HTTPConnection) -> str | None:
    """The key a request carries: ``Authorization: Bearer KEY``, else ``X-API-Key``; None if neither."""
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else conn.headers.get("x-api-key")


def _netloc(url: str) -> str | None:
    """``host[:port]`` of an Origin or Referer value; None for ``null`` or anything malformed."""
    try:
        return urlsplit(url).netloc.lower() or None
    except ValueError:
        return None


def _too_large(limit: int, status: int) -> Response:
    if status == 400:
        return _refuse(400, "invalid Content-Length header")
    return _refuse(413, f"request body too large: at most {limit} bytes")


def _route_path(scope: Scope) -> str:
    """The path within the app: uvicorn puts ``root_path`` in front of it, the test client does not."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _with_headers(send: Send, csp: str) -> Send:
    extra = {
        b"cache-control": b"no-store",
        b"content-security-policy": csp.encode(),
        b"referrer-policy": b"same-origin",
        b"x-content-type-options": b"nosniff",
        b"x-frame-options": b"DENY",
    }

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            headers += [(k, v) for k, v in extra.items() if k not in present]
            message = {**message, "headers": headers}
        await send(message)

    return wrapped
