"""The review page: a FastAPI app over a ``ReviewStore``, for people to confirm or correct the reader's output.

A thin adapter: the store is opened once when the app is made, and each request decodes its input, acts
on the store and encodes the answer. HTML pages (``/``, ``/reads/{id}``, ``/figures``) and a JSON API
(``/api/...``). API errors are a 4xx with a one-line JSON ``detail``: unknown read 404, a stale
``expected_version`` 409 (``ReviewConflict``), a bad submission 422 (e.g. characters outside the charset,
named); nothing stored is changed by a refused submission.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, StrictInt

from idsight.data.charset import CHARSET
from idsight.review import ReviewConflict, ReviewError, ReviewStore
from idsight.serve.figures import accuracy_series, accuracy_svg
from idsight.serve.views import field_views, png_size, read_json, review_json, summary_json


class FieldVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str  # "confirmed" | "corrected"; checked by the store, which names the problem
    text: str | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewer: str
    expected_version: StrictInt | None = None  # the version loaded; None records a second opinion
    fields: dict[str, FieldVerdict]


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = " ".join(detail.split())


def _api_error(err: ReviewError) -> ApiError:
    message = str(err)
    if isinstance(err, ReviewConflict):
        return ApiError(409, message)
    if "unknown read id" in message:
        return ApiError(404, message)
    if "database error" in message:
        return ApiError(503, message)
    return ApiError(422, message)


def _validation_detail(err: RequestValidationError) -> str:
    errors = err.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where or 'body'}: {first.get('msg', 'invalid')}{more}"


def create_app(store: ReviewStore | str, *, charset: str = CHARSET, low_confidence: float = 0.9) -> FastAPI:
    """The review app over ``store`` (a ``ReviewStore``, or a URL opened here once and closed at shutdown).

    Fields with confidence below ``low_confidence`` are highlighted; corrections must use ``charset``.
    """
    owned = isinstance(store, str)
    st = ReviewStore(store) if isinstance(store, str) else store

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            st.close()

    app = FastAPI(title="idsight review", lifespan=lifespan)
    app.state.store = st
    app.mount("/static", StaticFiles(packages=[("idsight.serve", "static")]), name="static")
    env = Environment(loader=PackageLoader("idsight.serve", "templates"), autoescape=select_autoescape())

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
        return JSONResponse({"detail": " ".join(_validation_detail(err).split())}, status_code=422)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    # -- JSON API -----------------------------------------------------------------------
    @app.get("/api/queue")
    def api_queue(limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        return {"reads": [summary_json(r, low_confidence) for r in st.queue(limit)]}

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
        fields = {k: v.model_dump() for k, v in body.fields.items()}
        review = st.submit_review(
            read_id, body.reviewer, fields, charset=charset, expected_version=body.expected_version
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
        request: Request, reviewer: str = "reviewer", limit: int = Query(50, ge=1, le=1000)
    ) -> HTMLResponse:
        reads = [summary_json(r, low_confidence) for r in st.queue(limit)]
        return page(request, "queue.html", reads=reads, reviewer=reviewer)

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
