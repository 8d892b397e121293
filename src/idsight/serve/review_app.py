"""The review page: a FastAPI app over a ``ReviewStore``, for people to confirm or correct the reader's output.

A thin adapter: the store is opened once when the app is made, and each request decodes its input, acts
on the store and encodes the answer. HTML pages (``/``, ``/reads/{id}``, ``/figures``, ``/docs``) and a
JSON API (``/api/...``, ``/openapi.json``). API errors are a 4xx with a one-line JSON ``detail``: unknown
read 404, a stale ``expected_version`` 409 (``ReviewConflict``), a bad submission 422 (e.g. characters
outside the charset, named); nothing stored is changed by a refused submission.

The page shows names, ID numbers and card images, so ``security.Guard`` checks every request first
(allowed Host, same-origin writes, the API key when there is one, body size); with a key, ``/login``
sets a session cookie for browsers. ``/docs`` loads Swagger UI from files installed with idsight
(``fastapi_offline``'s copy), never from the network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from idsight.data.charset import CHARSET
from idsight.review import ReviewError, ReviewStore
from idsight.review.models import MAX_QUEUE_PAGE
from idsight.serve import security
from idsight.serve.common import (
    ERROR_RESPONSES,
    ReviewBody,
    add_offline_docs,
    review_error_status,
    validation_detail,
)
from idsight.serve.figures import accuracy_series, accuracy_svg
from idsight.serve.views import field_views, png_size, read_json, review_json, summary_json

ReviewIn = ReviewBody


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = " ".join(detail.split())


def _api_error(err: ReviewError) -> ApiError:
    return ApiError(review_error_status(err), str(err))


def create_app(
    store: ReviewStore | str,
    *,
    charset: str = CHARSET,
    low_confidence: float = 0.9,
    api_key: str | None = None,
    allowed_hosts: Iterable[str] = (),
    max_body: int = security.MAX_BODY,
) -> FastAPI:
    """The review app over ``store`` (a ``ReviewStore``, or a URL opened here once and closed at shutdown).

    Fields with confidence below ``low_confidence`` are highlighted; corrections must use ``charset``.
    ``api_key``: required of every request but the health check and login page (None: no key, for a
    page bound to loopback only). ``allowed_hosts``: Host header names served besides 127.0.0.1,
    localhost and ::1 (any port). ``max_body``: bytes of a request body. ValueError for a bad key or host.
    """
    key = None if api_key is None else security.check_api_key(api_key)
    hosts = [security.normalize_host(h) for h in allowed_hosts]
    owned = isinstance(store, str)
    st = ReviewStore(store) if isinstance(store, str) else store

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            st.close()

    app = FastAPI(
        title="idsight review", lifespan=lifespan, docs_url=None, redoc_url=None, responses=ERROR_RESPONSES
    )
    app.add_middleware(security.Guard, api_key=key, allowed_hosts=hosts, max_body=max_body)
    app.state.store = st
    app.mount("/static", StaticFiles(packages=[("idsight.serve", "static")]), name="static")
    add_offline_docs(app, "idsight review API")
    env = Environment(loader=PackageLoader("idsight.serve", "templates"), autoescape=select_autoescape())
    env.globals["logout"] = key is not None

    def page(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = env.get_template(name).render(root=root, **context)
        return HTMLResponse(html, status_code=code)

    @app.exception_handler(ApiError)
    async def _on_api_error(_: Request, err: ApiError) -> JSONResponse:
        return JSONResponse({"detail": err.detail}, status_code=err.status)

    @app.exception_handler(ReviewError)
    async def _on_review_error(_: Request, err: ReviewError) -> JSONResponse:
        api = _api_error(err)
        return JSONResponse({"detail": api.detail}, status_code=api.status)

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(validation_detail(err).split())}, status_code=422)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    # -- login (only with an API key) ---------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str = "/") -> Response:
        if key is None:
            return RedirectResponse(request.scope.get("root_path", "") + "/", status_code=303)
        return page(request, "login.html", next=security.safe_next(next), bare=True)

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request, api_key: Annotated[str, Form(max_length=1000)], next: Annotated[str, Form()] = "/"
    ) -> Response:
        target = security.safe_next(next)
        if key is None or not security.key_matches(key, api_key):
            error = "Wrong API key." if key is not None else "This review page has no API key."
            return page(request, "login.html", 401, next=target, error=error, bare=True)
        root = request.scope.get("root_path", "")
        response = RedirectResponse(root + target, status_code=303)
        response.set_cookie(
            security.SESSION_COOKIE,
            security.session_token(key),
            max_age=security.SESSION_SECONDS,
            path=root or "/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        response = RedirectResponse(f"{root}/login", status_code=303)
        response.delete_cookie(security.SESSION_COOKIE, path=root or "/", httponly=True, samesite="strict")
        return response

    # -- JSON API -----------------------------------------------------------------------
    @app.get("/api/queue")
    def api_queue(
        limit: int = Query(50, ge=1, le=MAX_QUEUE_PAGE), after: str | None = Query(None, max_length=200)
    ) -> dict[str, Any]:
        """One page of the queue, oldest first; ``next`` is the ``after`` of the next page (null: last)."""
        reads, cursor = st.queue_page(limit, after)
        return {"reads": [summary_json(r, low_confidence) for r in reads], "next": cursor}

    @app.get("/api/reads/{read_id}")
    def api_read(read_id: str, request: Request) -> dict[str, Any]:
        return read_json(st.get(read_id), low_confidence, request.scope.get("root_path", ""))

    @app.get("/api/reads/{read_id}/crops/{key}.png")
    def api_crop(read_id: str, key: str) -> Response:
        read = st.get(read_id)
        if key not in read.crops:
            known = ", ".join(read.crops) or "none"
            raise ApiError(404, f"read {read_id} has no crop {key!r} (crops: {known})")
        return Response(read.crops[key], media_type="image/png")

    @app.get("/api/reads/{read_id}/image.png")
    def api_image(read_id: str) -> Response:
        read = st.get(read_id)
        if read.image_png is None:
            raise ApiError(
                404, f"read {read_id}: the card image was not kept (store opened without keep_images)"
            )
        return Response(read.image_png, media_type="image/png")

    @app.post("/api/reads/{read_id}/review")
    def api_review(read_id: str, body: ReviewIn) -> dict[str, Any]:
        st.get(read_id)  # 404 before anything else
        review = st.submit_review(
            read_id, body.reviewer, body.verdicts(), charset=charset, expected_version=body.expected_version
        )
        return {**review_json(review), "version": review.seq}

    def series() -> list[dict[str, Any]]:
        return accuracy_series(st.accuracy_by_model())

    @app.get("/api/figures/accuracy")
    def api_accuracy() -> dict[str, Any]:
        return {"series": series()}

    @app.get("/figures/accuracy.svg")
    def accuracy_plot() -> Response:
        return Response(accuracy_svg(series()), media_type="image/svg+xml")

    # -- HTML pages ---------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def queue_page(
        request: Request,
        reviewer: str = "reviewer",
        limit: int = Query(50, ge=1, le=MAX_QUEUE_PAGE),
        after: str | None = Query(None, max_length=200),
    ) -> HTMLResponse:
        try:
            summaries, cursor = st.queue_page(limit, after)
        except ReviewError as err:
            api = _api_error(err)
            return page(request, "error.html", api.status, status=api.status, detail=api.detail)
        reads = [summary_json(r, low_confidence) for r in summaries]
        total = st.queue_size()
        first = after is None
        return page(
            request,
            "queue.html",
            reads=reads,
            next=cursor,
            limit=limit,
            first=first,
            reviewer=reviewer,
            total=total,
        )

    @app.get("/reads/{read_id}", response_class=HTMLResponse)
    def read_page(request: Request, read_id: str, reviewer: str = "reviewer") -> HTMLResponse:
        try:
            read = st.get(read_id)
        except ReviewError as err:
            api = _api_error(err)
            return page(request, "error.html", api.status, status=api.status, detail=api.detail)
        fields = field_views(read, low_confidence)
        size = png_size(read.image_png) if read.image_png is not None else None
        return page(
            request,
            "read.html",
            read=read,
            fields=fields,
            size=size,
            reviewer=reviewer,
            low_confidence=low_confidence,
        )

    @app.get("/figures", response_class=HTMLResponse)
    def figures_page(request: Request) -> HTMLResponse:
        data = series()
        return page(request, "figures.html", series=data, svg=accuracy_svg(data))

    return app
