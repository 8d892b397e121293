"""The service against its own OpenAPI spec (schemathesis): for every operation, generated requests
never give a 5xx, and every response has a documented status code, content type and body schema.

Random bytes are valid for an upload's schema but are not an image, so a 400 for them is right:
the check that schema-valid requests are accepted is left out."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from idsight.serve.registry import ModelSet, ServeConfig
from idsight.serve.service import create_service_app

HOST = {"host": "127.0.0.1"}


def _app(models: dict[str, str]):  # noqa: ANN202
    return create_service_app(ModelSet(ServeConfig(models=models)))


# the spec, from an app that loads nothing (collection stays fast); the calls go to one that serves
# every job (set by the fixture below, once for the module)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app({}), headers=HOST)


@pytest.fixture(scope="module", autouse=True)
def _serving_app():  # noqa: ANN202
    spare = schema.app
    schema.app = _app(
        {
            "cards": "idsight-reader-open-student",
            "faces": "models/idsight-faces-visir.safetensors",
            "contours": "models/idsight-contours-small.safetensors",
        }
    )
    yield
    schema.app = spare


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_to_the_spec(case) -> None:  # noqa: ANN001
    case.call_and_validate(headers=HOST, excluded_checks=[positive_data_acceptance])


def test_error_responses_are_documented_with_their_body() -> None:
    from fastapi.testclient import TestClient

    with TestClient(_app({}), base_url="http://127.0.0.1") as c:
        spec = c.get("/openapi.json").json()
    op = spec["paths"]["/v1/cards:read"]["post"]
    assert {"400", "401", "404", "413", "422"} <= set(op["responses"])
    body = spec["components"]["schemas"]["ErrorBody"]
    assert (
        body["properties"]["detail"]["type"] == "string"
        and "HTTPValidationError" not in spec["components"]["schemas"]
    )
