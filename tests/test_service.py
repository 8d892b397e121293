"""`idsight serve`: models loaded once, micro-batching, endpoints, metrics, hot reload, bad input."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from idsight.serve.batching import MicroBatcher
from idsight.serve.registry import ModelSet, ServeConfig, load_config
from idsight.serve.service import create_service_app, ekyc_decision

FACES = "models/idsight-faces-visir.safetensors"
CONTOURS = "models/idsight-contours-small.safetensors"
BASE = "http://127.0.0.1"


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict]:
    """A composed td1 card (a flat scan) and its truth."""
    from idsight.data.synth.compose import write_composed

    root = tmp_path_factory.mktemp("card")
    labels = write_composed(["td1"], 1, root, seed=11, photo_fraction=0.0, rotate_fraction=0.0)
    rec = json.loads(labels.read_text(encoding="utf-8").splitlines()[0])
    return (root / rec["image"]).read_bytes(), rec


@pytest.fixture(scope="module")
def models() -> ModelSet:
    cfg = ServeConfig(
        models={"cards": "idsight-reader-open-student", "faces": FACES, "contours": CONTOURS},
        batching={"max_batch": 4, "max_wait_ms": 20},
    )
    return ModelSet(cfg)


@pytest.fixture(scope="module")
def client(models: ModelSet):  # noqa: ANN201
    with TestClient(create_service_app(models), base_url=BASE) as c:
        yield c


def test_batcher_groups_requests_and_keeps_a_bad_item_to_itself() -> None:
    sizes: list[int] = []

    def double(items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"bad {i}") if i == 7 else 2 * i for i in items]

    async def main() -> list[object]:
        b: MicroBatcher[int, int] = MicroBatcher(double, max_batch=4, max_wait_ms=50, on_batch=sizes.append)
        await b.start()
        try:
            return await asyncio.gather(*(b.submit(i) for i in range(10)), return_exceptions=True)
        finally:
            await b.stop()

    got = asyncio.run(main())
    assert sizes == [4, 4, 2]
    assert got[:7] == [0, 2, 4, 6, 8, 10, 12] and got[8:] == [16, 18]
    assert isinstance(got[7], ValueError) and str(got[7]) == "bad 7"


def test_batcher_waits_at_most_max_wait_for_company() -> None:
    sizes: list[int] = []

    async def main() -> int:
        b: MicroBatcher[int, int] = MicroBatcher(
            lambda xs: xs, max_batch=64, max_wait_ms=10, on_batch=sizes.append
        )
        await b.start()
        try:
            return await asyncio.wait_for(b.submit(5), timeout=2.0)  # alone: answered after ~10 ms
        finally:
            await b.stop()

    assert asyncio.run(main()) == 5 and sizes == [1]


def test_cards_read_returns_the_cli_json(client: TestClient, card: tuple[bytes, dict]) -> None:
    data, rec = card
    r = client.post("/v1/cards:read", files={"image": ("card.png", data, "image/png")})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert {"template", "fields", "unassigned", "checks", "model"} <= set(doc)
    assert doc["model"]["model"] == "idsight-reader-open-student" and len(doc["model"]["sha256"]) == 64
    assert doc["template"] == "td1"
    got = {k: v["text"] for k, v in doc["fields"].items()}
    assert got.get("document_number") == rec["fields"]["document_number"]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b"", "empty file"),
        (b"not an image at all", "notes.txt"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "notes.txt"),
    ],
)
def test_bad_uploads_are_4xx_naming_the_upload(client: TestClient, payload: bytes, needle: str) -> None:
    r = client.post("/v1/cards:read", files={"image": ("notes.txt", payload, "text/plain")})
    assert r.status_code == 400 and needle in r.json()["detail"] and "Traceback" not in r.text


def test_missing_part_and_unserved_job_and_no_card(client: TestClient) -> None:
    r = client.post("/v1/cards:read", files={"file": ("x.png", b"x", "image/png")})
    assert r.status_code == 422 and "image" in r.json()["detail"]
    img = _png(np.full((200, 300, 3), 255, np.uint8))
    r = client.post("/v1/images:classify", files={"image": ("p.png", img, "image/png")})
    assert r.status_code == 404 and "classify" in r.json()["detail"]
    r = client.post("/v1/cards:read", files={"image": ("blank.png", img, "image/png")})
    assert r.status_code == 422 and "no ID card" in r.json()["detail"] and "blank.png" in r.json()["detail"]


def test_contours_are_pngs_at_the_image_size(client: TestClient) -> None:
    import base64

    rgb = np.zeros((96, 128, 3), np.uint8)
    cv2.rectangle(rgb, (30, 20), (100, 70), (255, 255, 255), -1)
    r = client.post("/v1/contours", files={"image": ("box.png", _png(rgb), "image/png")})
    assert r.status_code == 200, r.text
    fused = cv2.imdecode(np.frombuffer(base64.b64decode(r.json()["fused_png"]), np.uint8), 0)
    assert fused.shape == (96, 128) and len(r.json()["levels_png"]) >= 2
    assert fused[20, 60] > fused[45, 60]  # the box's edge is a contour; its inside is not


def test_faces_verify_at_the_configured_far(client: TestClient) -> None:
    from idsight.data.synth.faces import identity_split, source_faces, vary

    faces, _ = identity_split(source_faces())
    rng = np.random.default_rng(4)
    a, b = (cv2.resize(vary(faces[0].rgb, rng), (112, 112)) for _ in range(2))
    files = {"reference": ("a.png", _png(a), "image/png"), "live": ("b.png", _png(b), "image/png")}
    r = client.post("/v1/faces:verify", files=files, data={"spectrum": "nir", "aligned": "true"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["pairing"] == "nir-vis" and got["far"] == 1e-3
    assert got["decision"] == ("match" if got["score"] > got["threshold"] else "no match")
    r = client.post("/v1/faces:verify", files=files, data={"spectrum": "uv"})
    assert r.status_code == 422 and "spectrum" in r.json()["detail"]


def test_ekyc_gives_one_decision_with_reasons(client: TestClient, card: tuple[bytes, dict]) -> None:
    data, _ = card
    blank = _png(np.full((120, 120, 3), 200, np.uint8))
    r = client.post(
        "/v1/ekyc", files={"card": ("card.png", data, "image/png"), "live": ("live.png", blank, "image/png")}
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["card"]["template"] == "td1" and got["face"] is None
    assert any(x.startswith("face: ") and "live.png" in x for x in got["reasons"]), got["reasons"]
    assert got["decision"] != "accept"  # no face to match: never accepted


def test_ekyc_decision_rules() -> None:
    card = {
        "template": "td1",
        "checks": {"mrz_check_composite": True},
        "fields": {"sex": {"confidence": 0.9}},
    }
    match = {"decision": "match", "score": 0.8, "threshold": 0.5}
    assert ekyc_decision(card, match, {}) == {"decision": "accept", "reasons": []}
    bad = {**card, "checks": {"mrz_check_composite": False}}
    assert ekyc_decision(bad, match, {})["decision"] == "reject"
    assert ekyc_decision(card, {**match, "decision": "no match"}, {})["decision"] == "reject"
    assert ekyc_decision({**card, "template": "unknown"}, match, {})["decision"] == "review"


def test_health_ready_and_metrics(client: TestClient, card: tuple[bytes, dict]) -> None:
    assert client.get("/healthz").text == "ok"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"] == "abc-1"
    assert client.get("/healthz", headers={"X-Request-ID": "a b\n"}).headers["x-request-id"] != "a b\n"
    ready = client.get("/readyz").json()
    assert ready["ready"] and set(ready["models"]) == {"cards", "faces", "contours"}
    client.post("/v1/cards:read", files={"image": ("card.png", card[0], "image/png")})
    text = client.get("/metrics").text
    assert 'idsight_requests_total{route="/v1/cards:read",status="200"}' in text
    assert 'idsight_batch_size_count{job="cards"}' in text
    assert 'idsight_model_info{job="cards",model="idsight-reader-open-student"' in text
    assert 'idsight_request_seconds_bucket{le="0.005",route="/v1/cards:read"}' in text


def test_openapi_lists_every_endpoint_and_docs_load_locally(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {
        "/v1/cards:read",
        "/v1/faces:verify",
        "/v1/ekyc",
        "/v1/images:classify",
        "/v1/contours",
        "/v1/reviews",
        "/v1/models/{job}:reload",
    } <= paths
    html = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_hot_reload_swaps_the_model_and_frees_the_old_one(tmp_path: Path) -> None:
    models = ModelSet(ServeConfig(models={"contours": CONTOURS}))
    old = models.get("contours")
    ref = weakref.ref(old.model)
    copy = tmp_path / "contours-v2.safetensors"
    copy.write_bytes(Path(CONTOURS).read_bytes())
    with TestClient(create_service_app(models), base_url=BASE) as c:
        r = c.post("/v1/models/contours:reload", json={"model": str(copy)})
        assert r.status_code == 200 and r.json()["model"] == "contours-v2"
        assert old.model is not None  # a request holding the old version finishes with it
        assert models.get("contours").model is not old.model
        del old
        gc.collect()
        assert ref() is None  # and its memory goes once nobody holds it
        assert 'model="contours-v2"' in c.get("/metrics").text
        r = c.post("/v1/models/contours:reload", json={"model": str(tmp_path / "missing.safetensors")})
        assert r.status_code == 422 and "missing.safetensors" in r.json()["detail"]
        assert models.get("contours").name == "contours-v2"  # a failed reload changes nothing
        pickled = tmp_path / "pickled.safetensors"  # a pickle under a safetensors name: never unpickled
        import torch

        torch.save({"weights": torch.zeros(2)}, pickled)
        r = c.post("/v1/models/contours:reload", json={"model": str(pickled)})
        assert r.status_code == 422 and "pickled.safetensors" in r.json()["detail"]
        assert models.get("contours").name == "contours-v2"
        r = c.post("/v1/models/teapot:reload", json={})
        assert r.status_code == 422 and "unknown job" in r.json()["detail"]


def test_guard_host_and_api_key(models: ModelSet) -> None:
    app = create_service_app(models, api_key="k" * 20, allowed_hosts=["ekyc.lan"])
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/readyz").status_code == 401
        assert c.get("/readyz", headers={"Authorization": "Bearer " + "k" * 20}).status_code == 200
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
    with TestClient(create_service_app(models, max_body=2048), base_url=BASE) as c:
        r = c.post("/v1/cards:read", files={"image": ("big.png", b"\0" * 10_000, "image/png")})
        assert r.status_code == 413


def test_reviews_go_into_the_store(tmp_path: Path, card: tuple[bytes, dict]) -> None:
    from typer.testing import CliRunner

    from idsight.cli.main import app
    from idsight.review import ReviewStore

    image = tmp_path / "card.png"
    image.write_bytes(card[0])
    url = f"sqlite:///{tmp_path / 'reviews.db'}"
    res = CliRunner().invoke(
        app, ["read", str(image), "--model", "default", "--store", url, "--template", "td1"]
    )
    assert res.exit_code == 0, res.output
    with ReviewStore(url, create=False) as st:
        read = st.queue(limit=1)[0]
    fields = {name: {"status": "confirmed"} for name in read.fields}
    models = ModelSet(ServeConfig(models={}, reviews_db=url))
    with TestClient(create_service_app(models), base_url=BASE) as c:
        body = {"read_id": read.id, "reviewer": "ana", "fields": fields}
        r = c.post("/v1/reviews", json=body)
        assert r.status_code == 200 and r.json()["version"] >= 1, r.text
        r = c.post("/v1/reviews", json={**body, "read_id": "nope"})
        assert r.status_code == 404
        r = c.post("/v1/reviews", json={**body, "reviewer": "   "})
        assert r.status_code == 422 and "reviewer" in r.json()["detail"]
    with TestClient(create_service_app(ModelSet(ServeConfig(models={}))), base_url=BASE) as c:
        assert c.post("/v1/reviews", json=body).status_code == 404


def test_config_errors_name_the_file_and_key(tmp_path: Path) -> None:
    from idsight.errors import BadConfigError

    f = tmp_path / "serve.yaml"
    f.write_text("models: {cards: idsight-reader-open-student, teapot: x}\n")
    with pytest.raises(BadConfigError, match="serve.yaml.*models.teapot: unknown job"):
        load_config(f)
    f.write_text("batching: {max_batch: 0}\n")
    with pytest.raises(BadConfigError, match="batching.max_batch"):
        load_config(f)
    f.write_text("[1, 2]\n")
    with pytest.raises(BadConfigError, match="must be a YAML mapping"):
        load_config(f)
    assert load_config(None).served() == {"cards": "idsight-reader-open-student"}


def test_cli_serve_refuses_the_network_without_a_key_and_a_bad_config(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from idsight.cli.main import app

    res = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert res.exit_code == 2 and "without an API key" in res.output
    bad = tmp_path / "serve.yaml"
    bad.write_text(f"models: {{faces: {tmp_path / 'none.safetensors'}}}\n")
    res = CliRunner().invoke(app, ["serve", "--config", str(bad)])
    assert res.exit_code == 2 and "none.safetensors" in res.output and "Traceback" not in res.output


def test_admin_endpoints_take_only_the_admin_key(models: ModelSet) -> None:
    from idsight.serve.security import Guard

    key, admin = "k" * 20, "a" * 20
    reload = "/v1/models/contours:reload"
    with TestClient(create_service_app(models, api_key=key, admin_key=admin), base_url=BASE) as c:
        assert c.post(reload).status_code == 401
        r = c.post(reload, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 403 and "admin key" in r.json()["detail"]
        assert c.post(reload, headers={"X-API-Key": admin}).status_code == 200
        assert c.get("/readyz", headers={"X-API-Key": admin}).status_code == 401  # not a read key
    with TestClient(create_service_app(models, api_key=key), base_url=BASE) as c:
        r = c.post(reload, headers={"X-API-Key": key})
        assert r.status_code == 403 and "admin endpoints are off" in r.json()["detail"]
    with pytest.raises(ValueError, match="must differ"):
        Guard(lambda *a: None, api_key=key, admin_key=key, allowed_hosts=[])  # type: ignore[arg-type,return-value]


def _store_with_old_read(tmp_path: Path, days_old: float) -> tuple[str, str]:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from idsight.review import ReviewStore, migrations

    url = f"sqlite:///{tmp_path / 'reviews.db'}"
    result = {
        "image": "c.png",
        "template": "td1",
        "fields": {"sex": {"text": "F", "confidence": 0.9, "box": None}},
    }
    with ReviewStore(url) as st:
        rid = st.add_read(result, model_name="m", model_sha256="ab" * 32, crops={"sex": b"\x89PNG\r\n\x1a\n"})
    engine = migrations.create(url)
    with engine.begin() as conn:
        when = datetime.now(UTC) - timedelta(days=days_old)
        conn.execute(text("UPDATE reads SET created_at = :t WHERE id = :i"), {"t": when, "i": rid})
    engine.dispose()
    return url, rid


def test_review_store_down_is_503_and_recovers(tmp_path: Path) -> None:
    url, rid = _store_with_old_read(tmp_path, 0)
    path = Path(url.removeprefix("sqlite:///"))
    body = {"read_id": rid, "reviewer": "ana", "fields": {"sex": {"status": "confirmed"}}}
    models = ModelSet(ServeConfig(models={}, reviews_db=url))
    app = create_service_app(models)
    with TestClient(app, base_url=BASE) as c:
        store = app.app.state.review_store
        store._engine.dispose()
        moved = path.rename(tmp_path / "away.db")  # the database goes away
        path.mkdir()
        r = c.post("/v1/reviews", json=body)
        assert r.status_code == 503 and "database error" in r.json()["detail"], r.text
        path.rmdir()
        moved.rename(path)  # and comes back
        r = c.post("/v1/reviews", json=body)
        assert r.status_code == 200 and r.json()["version"] == 1, r.text


def test_purge_endpoint_and_retention_at_start(tmp_path: Path) -> None:
    from idsight.review import ReviewStore

    url, rid = _store_with_old_read(tmp_path, 40)
    with TestClient(create_service_app(ModelSet(ServeConfig(models={}, reviews_db=url))), base_url=BASE) as c:
        r = c.post("/v1/reviews:purge", json={"older_than_days": 60})
        assert r.status_code == 200 and r.json() == {"deleted": 0}
        assert c.post("/v1/reviews:purge", json={"older_than_days": -1}).status_code == 422
    cfg = ServeConfig(models={}, reviews_db=url, review_retention_days=30)
    with TestClient(create_service_app(ModelSet(cfg)), base_url=BASE):
        for _ in range(100):  # the first purge runs in the background at start-up
            with ReviewStore(url, create=False) as st:
                if st.queue_size() == 0:
                    break
            import time

            time.sleep(0.05)
    with ReviewStore(url, create=False) as st:
        assert [r.id for r in st.iter_reads()] == []


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_review_like = st.fixed_dictionaries(
    {},
    optional={
        "read_id": st.text(max_size=70),
        "reviewer": st.text(max_size=30),
        "expected_version": st.integers() | st.text(max_size=3),
        "fields": st.dictionaries(
            st.text(max_size=8),
            st.fixed_dictionaries(
                {}, optional={"status": st.text(max_size=10), "text": st.text(max_size=10)}
            ),
            max_size=3,
        ),
        "older_than_days": st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=3),
        "model": st.text(max_size=30),
    },
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    url, _ = _store_with_old_read(tmp_path_factory.mktemp("fuzz"), 0)
    app = create_service_app(ModelSet(ServeConfig(models={"faces": FACES}, reviews_db=url)))
    with TestClient(app, base_url=BASE) as c:
        yield c


@settings(max_examples=60, deadline=None)
@given(
    body=_json | _review_like,
    path=st.sampled_from(["/v1/reviews", "/v1/reviews:purge", "/v1/models/faces:reload"]),
)
def test_fuzzed_json_bodies_never_give_a_5xx(fuzz_client: TestClient, body: object, path: str) -> None:
    r = fuzz_client.post(path, json=body)
    assert r.status_code < 500, (path, body, r.text)
    assert set(r.json()) <= {"detail", "read_id", "version", "deleted", "job", "model", "sha256", "loaded_at"}


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=600)
    | st.builds(lambda tail: b"\x89PNG\r\n\x1a\n" + tail, st.binary(max_size=300))
    | st.builds(
        lambda h, w, v: _png(np.full((h, w, 3), v, np.uint8)),
        st.integers(1, 40),
        st.integers(1, 40),
        st.integers(0, 255),
    ),
    path=st.sampled_from(["/v1/cards:read", "/v1/contours"]),
)
def test_fuzzed_uploads_never_give_a_5xx(client: TestClient, data: bytes, path: str) -> None:
    r = client.post(path, files={"image": ("fuzz.bin", data, "application/octet-stream")})
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert "fuzz.bin" in r.json()["detail"] or r.status_code == 422
