"""``idsight serve``: every job's model behind one HTTP API, as a thin adapter.

Set up once (``ModelSet`` loads each configured model at start-up), decode the upload, predict in
micro-batches (``MicroBatcher``), encode JSON. Endpoints:

- ``POST /v1/cards:read``: a card image; the JSON of ``idsight read --json``;
- ``POST /v1/faces:verify``: a reference (card or face image) and a live face (``vis`` or ``nir``);
  a score and a decision at the configured FAR;
- ``POST /v1/ekyc``: a card image and a live face; fields, checks, the face match and one decision
  (``accept``, ``reject`` or ``review``) with its reasons;
- ``POST /v1/images:classify`` (the contour-fused classifier), ``POST /v1/contours`` (contour maps);
- ``POST /v1/reviews``: a review of a stored read, into the review store (503 while its database
  is unavailable; nothing is half-written);
- admin (``ADMIN_PATHS``, the admin key): ``POST /v1/models/{job}:reload``, a new model version
  swapped in without a restart; ``POST /v1/reviews:purge``, the store's reads older than some days;
- ``GET /healthz``, ``GET /readyz``, ``GET /metrics`` (Prometheus).

Bad input is a 4xx with ``{"detail": one line}`` that names the upload; nothing is stored from it.
The same guards as the review page apply (Host allow-list, API key beyond loopback, body limit); the
admin endpoints take their own key (``security.Guard``). With ``review_retention_days`` the store is
purged at start-up and every hour.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import cv2
import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from idsight.errors import BadImageError, IdsightError, NoCardError, UnknownNameError
from idsight.review import ReviewError
from idsight.serve import security
from idsight.serve.batching import MicroBatcher
from idsight.serve.common import (
    ERROR_RESPONSES,
    ReviewBody,
    add_offline_docs,
    review_error_status,
    validation_detail,
)
from idsight.serve.metrics import ServiceMetrics
from idsight.serve.registry import JOBS, ModelSet, NotServed

MAX_UPLOAD = 20 * 1024 * 1024  # bytes of one request (two photos)
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ADMIN_PATHS = ("/v1/models/", "/v1/reviews:purge")
PURGE_EVERY_S = 3600.0


class ReloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, max_length=1000, description="A model name or path; default: reread")


class ReviewIn(ReviewBody):
    read_id: str = Field(max_length=64)


class PurgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    older_than_days: float = Field(ge=0, description="Delete the reads stored more than this many days ago")


def _status(err: Exception) -> int:
    if isinstance(err, NotServed | UnknownNameError):
        return 404
    if isinstance(err, NoCardError):
        return 422
    if isinstance(err, BadImageError):
        return 400
    if isinstance(err, IdsightError):
        return 422
    return 500


def _detail(err: Exception) -> str:
    if isinstance(err, IdsightError):
        return " ".join(str(err).split())
    return f"internal error: {type(err).__name__}"


def _per_item(fn: Callable[[Any], Any]) -> Callable[[list[Any]], list[Any]]:
    """A batch function that runs ``fn`` on each item and keeps each item's exception as its result."""

    def run(items: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            try:
                out.append(fn(item))
            except Exception as e:
                out.append(e)
        return out

    return run


def _png_b64(prob: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", np.clip(prob * 255.0, 0, 255).astype(np.uint8))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise IdsightError("could not encode a PNG")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def ekyc_decision(
    card: dict[str, Any] | None, face: dict[str, Any] | None, errors: dict[str, str]
) -> dict[str, Any]:
    """One decision from a card read and a face match: ``reject`` when a check digit or cross-check
    fails or the face does not match; ``review`` when something could not be read or decided;
    else ``accept``. ``reasons`` says why, one line each."""
    reject, review = [], []
    for part, message in errors.items():
        review.append(f"{part}: {message}")
    if card is not None:
        if card.get("template") in (None, "unknown"):
            review.append("card: document type unknown")
        for name, ok in (card.get("checks") or {}).items():
            if ok is False:
                reject.append(f"card: check {name} failed")
        for name, f in (card.get("fields") or {}).items():
            if float(f.get("confidence", 1.0)) < 0.5:
                review.append(f"card: field {name} read with low confidence ({f.get('confidence')})")
    if face is not None and face.get("decision") != "match":
        reject.append(f"face: no match (score {face.get('score')} <= threshold {face.get('threshold')})")
    decision = "reject" if reject else "review" if review else "accept"
    return {"decision": decision, "reasons": reject + review}


def create_service_app(
    models: ModelSet,
    *,
    api_key: str | None = None,
    admin_key: str | None = None,
    allowed_hosts: Sequence[str] = (),
    max_body: int = MAX_UPLOAD,
) -> Any:
    """The ASGI app (FastAPI inside the guard); ``models`` are already loaded."""
    from idsight.review import ReviewStore

    cfg = models.cfg
    metrics = ServiceMetrics()
    store = ReviewStore(cfg.reviews_db, create=False) if cfg.reviews_db else None
    batchers: dict[str, MicroBatcher[Any, Any]] = {}

    def card_one(item: tuple[np.ndarray, str, str | None]) -> dict[str, Any]:
        image, name, doc_type = item
        loaded = models.get("cards")
        return {**loaded.model.read(image, template=doc_type, name=name).to_dict(), "model": loaded.record()}

    def cards_batch(items: list[tuple[np.ndarray, str, str | None]]) -> list[Any]:
        """A layout-free reader reads the batch's lines in one recogniser call; others card by card."""
        loaded = models.get("cards")
        read_batch = getattr(loaded.model, "read_batch", None)
        if read_batch is None:
            return _per_item(card_one)(items)
        images, names, doc_types = zip(*items, strict=True)
        results = read_batch(list(images), names=list(names), doc_types=list(doc_types))
        return [r if isinstance(r, Exception) else {**r.to_dict(), "model": loaded.record()} for r in results]

    def face_one(item: tuple[np.ndarray, np.ndarray, dict[str, Any]]) -> dict[str, Any]:
        reference, live, options = item
        loaded = models.get("faces")
        return {**loaded.model.verify(reference, live, **options), "model": loaded.record()}

    def classify_batch(items: list[np.ndarray]) -> list[Any]:
        from idsight.contours.classify import classify

        loaded = models.get("classify")
        return [{**r, "model": loaded.record()} for r in classify(loaded.model, items)]

    def contours_one(image: np.ndarray) -> dict[str, Any]:
        from idsight.contours.extractor import contour_maps

        loaded = models.get("contours")
        maps = contour_maps(loaded.model, image)
        return {
            "fused_png": _png_b64(maps["fused"]),
            "levels_png": [_png_b64(m) for m in maps["levels"]],
            "model": loaded.record(),
        }

    fns: dict[str, Callable[[list[Any]], Any]] = {
        "cards": cards_batch,
        "faces": _per_item(face_one),
        "classify": classify_batch,
        "contours": _per_item(contours_one),
    }

    async def keep_retention() -> None:
        """Purge the review store now and every ``PURGE_EVERY_S``; a database that is down is tried
        again at the next round (the requests meanwhile get 503s of their own)."""
        from idsight.review import ReviewError

        assert store is not None and cfg.review_retention_days is not None
        while True:
            try:
                await asyncio.to_thread(store.purge, cfg.review_retention_days)
            except ReviewError:
                pass
            await asyncio.sleep(PURGE_EVERY_S)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for job in JOBS:
            b: MicroBatcher[Any, Any] = MicroBatcher(
                fns[job],
                max_batch=cfg.batching.max_batch,
                max_wait_ms=cfg.batching.max_wait_ms,
                on_batch=functools.partial(metrics.batch, job),
                name=job,
            )
            await b.start()
            batchers[job] = b
        metrics.models(models.versions())
        retention = asyncio.create_task(keep_retention()) if store and cfg.review_retention_days else None
        yield
        if retention is not None:
            retention.cancel()
        for b in batchers.values():
            await b.stop()
        batchers.clear()
        if store is not None:
            store.close()

    app = FastAPI(
        title="idsight service",
        version="1",
        description="Card reading, face verification, eKYC, contour-fused classification, contour maps.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.models = models
    app.state.review_store = store
    add_offline_docs(app, "idsight service API")

    @app.exception_handler(IdsightError)
    async def idsight_error(_: Request, err: IdsightError) -> JSONResponse:
        return JSONResponse({"detail": _detail(err)}, status_code=_status(err))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(err)}, status_code=422)

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Any]) -> Any:
        t0 = time.perf_counter()
        given = request.headers.get("x-request-id", "")
        rid = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex  # logs carry ids, never fields
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        route = request.scope.get("route")
        path = getattr(route, "path", "other")
        metrics.request(path, response.status_code, time.perf_counter() - t0)
        return response

    async def image_of(upload: UploadFile, part: str) -> np.ndarray:
        from idsight.data.io import decode_image

        data = await upload.read()
        return decode_image(data, name=f"{part} ({upload.filename or 'upload'})", min_side=16)

    async def run(job: str, item: Any) -> Any:
        models.get(job)  # 404 before queueing when the job has no model
        return await batchers[job].submit(item)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        ready = len(batchers) == len(JOBS)
        return JSONResponse({"ready": ready, "models": models.versions()}, status_code=200 if ready else 503)

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=metrics.content_type)

    @app.post("/v1/cards:read")
    async def read_card(
        image: Annotated[UploadFile, File(description="A photo or scan of an ID card.")],
        doc_type: Annotated[str | None, Form(max_length=64, description="Force the document type.")] = None,
    ) -> dict[str, Any]:
        """Read a card: its document type, fields, checks and unassigned lines."""
        rgb = await image_of(image, "image")
        return await run("cards", (rgb, image.filename or "image", doc_type))  # type: ignore[no-any-return]

    @app.post("/v1/faces:verify")
    async def verify_face(
        reference: Annotated[UploadFile, File(description="A card image, or a face image.")],
        live: Annotated[UploadFile, File(description="The live face, visible or infrared.")],
        spectrum: Annotated[str, Form(pattern="^(vis|nir)$")] = "vis",
        reference_is_face: Annotated[bool, Form()] = False,
        aligned: Annotated[bool, Form(description="Both images are aligned face crops already.")] = False,
    ) -> dict[str, Any]:
        """Match a live face against a card photo (or a face image): score and decision."""
        ref, face = await image_of(reference, "reference"), await image_of(live, "live")
        options = {
            "spectrum": spectrum,
            "far": cfg.faces.far,
            "reference_is_face": reference_is_face,
            "aligned": aligned,
            "names": (f"reference ({reference.filename})", f"live ({live.filename})"),
        }
        return await run("faces", (ref, face, options))  # type: ignore[no-any-return]

    @app.post("/v1/ekyc")
    async def ekyc(
        card: Annotated[UploadFile, File(description="A photo or scan of an ID card.")],
        live: Annotated[UploadFile, File(description="The live face, visible or infrared.")],
        spectrum: Annotated[str, Form(pattern="^(vis|nir)$")] = "vis",
    ) -> dict[str, Any]:
        """Read the card and match the live face to its photo: fields, checks, face match, decision."""
        import asyncio

        card_rgb, face = await image_of(card, "card"), await image_of(live, "live")
        options = {
            "spectrum": spectrum,
            "far": cfg.faces.far,
            "names": (f"card ({card.filename})", f"live ({live.filename})"),
        }
        models.get("cards"), models.get("faces")
        read: Any
        match: Any
        read, match = await asyncio.gather(
            batchers["cards"].submit((card_rgb, card.filename or "card", None)),
            batchers["faces"].submit((card_rgb, face, options)),
            return_exceptions=True,
        )
        errors = {
            part: _detail(r) for part, r in (("card", read), ("face", match)) if isinstance(r, Exception)
        }
        card_out = None if isinstance(read, Exception) else read
        face_out = None if isinstance(match, Exception) else match
        return {"card": card_out, "face": face_out, **ekyc_decision(card_out, face_out, errors)}

    @app.post("/v1/images:classify")
    async def classify_image(
        image: Annotated[UploadFile, File(description="A product image.")],
    ) -> dict[str, Any]:
        """Classify an image with the contour-fused classifier."""
        return await run("classify", await image_of(image, "image"))  # type: ignore[no-any-return]

    @app.post("/v1/contours")
    async def contours(image: Annotated[UploadFile, File(description="Any image.")]) -> dict[str, Any]:
        """Contour maps: the fused map and each level, as base64 PNGs at the image's size."""
        return await run("contours", await image_of(image, "image"))  # type: ignore[no-any-return]

    def review_store() -> Any:
        if store is None:
            raise NotServed("no review store here (the service config names no reviews_db)")
        return store

    @app.exception_handler(ReviewError)
    async def review_error(_: Request, err: ReviewError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(err).split())}, status_code=review_error_status(err))

    @app.post("/v1/reviews")
    def review(body: ReviewIn) -> Any:
        """Submit a person's review of a stored read (the review store of the distillation loop)."""
        from idsight.data.charset import CHARSET

        st = review_store()
        st.get(body.read_id)
        done = st.submit_review(
            body.read_id,
            body.reviewer,
            body.verdicts(),
            charset=CHARSET,
            expected_version=body.expected_version,
        )
        return {"read_id": body.read_id, "version": done.seq}

    @app.post("/v1/reviews:purge")
    def purge(body: PurgeIn) -> dict[str, Any]:
        """Delete the stored reads (with crops, images and reviews) older than ``older_than_days`` (admin)."""
        return {"deleted": review_store().purge(body.older_than_days)}

    @app.post("/v1/models/{job}:reload")
    def reload(job: str, body: ReloadIn | None = None) -> dict[str, Any]:
        """Load a model version for ``job`` and swap it in; running requests finish on the old one."""
        loaded = models.reload(job, body.model if body else None)
        metrics.models(models.versions())
        return {"job": job, **loaded.record()}

    guarded = security.Guard(
        app,
        api_key=api_key,
        allowed_hosts=allowed_hosts,
        max_body=max_body,
        login=False,
        what="service",
        admin_key=admin_key,
        admin_paths=ADMIN_PATHS,
    )
    return guarded
