"""What the review page and the service share: ``/docs`` (Swagger UI) from the files of the installed
``fastapi-offline`` package, so nothing is loaded from a CDN; one line for a request that does not
validate; the error body every 4xx and 5xx carries, as the OpenAPI spec documents it; the body of a
review submission and the HTTP status of a review-store error."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, StrictInt

from idsight.review import ReviewConflict, ReviewError, StoreUnavailable


class ErrorBody(BaseModel):
    """Every error response: one line saying what was wrong (the upload or field named)."""

    detail: str


_ERRORS = {
    400: "The upload is not an image idsight can read, or the Host header is not this server's",
    401: "No API key, or a wrong one",
    403: "The key may not do this (admin endpoints), or the Origin is not allowed",
    404: "No such job, model, read or page",
    409: "The read changed since it was loaded",
    413: "The request body is too large",
    422: "The request, or the card in it, cannot be processed",
    503: "The review store is unavailable; try again",
}
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": text} for code, text in _ERRORS.items()
}


class FieldVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str  # "confirmed" | "corrected"; checked by the store, which names the problem
    text: str | None = None


class ReviewBody(BaseModel):
    """A person's review of one read: who, the version they loaded, and a verdict per field."""

    model_config = ConfigDict(extra="forbid")
    reviewer: str
    expected_version: StrictInt | None = None  # the version loaded; None records a second opinion
    fields: dict[str, FieldVerdict]

    def verdicts(self) -> dict[str, dict[str, str | None]]:
        return {k: v.model_dump() for k, v in self.fields.items()}


def review_error_status(err: ReviewError) -> int:
    """409 for a stale version, 404 for an unknown read, 503 while the database is unavailable (the
    same request may succeed later), else 422 (the submission itself is wrong)."""
    if isinstance(err, ReviewConflict):
        return 409
    if isinstance(err, StoreUnavailable):
        return 503
    return 404 if "unknown read id" in str(err) else 422


def add_offline_docs(app: FastAPI, title: str) -> None:
    """Mount Swagger UI's files at ``/docs-assets`` and serve ``/docs`` from them."""
    app.mount("/docs-assets", StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=title,
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
        )


def validation_detail(err: RequestValidationError) -> str:
    """The first problem of a request that does not validate, where it is, and how many more."""
    errors = err.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where or 'body'}: {first.get('msg', 'invalid')}{more}"
