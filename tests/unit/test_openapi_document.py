"""The OpenAPI document itself: one error schema, declared wherever an error can come from,
and e-mail fields that say they are e-mail addresses."""

from __future__ import annotations

from typing import Any

from mosaic.app import create_app
from mosaic.config import Settings

ERROR = "#/components/schemas/ErrorBody"


def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, by_method in doc["paths"].items()
        for method, operation in by_method.items()
    ]


def test_every_error_a_route_answers_has_the_one_error_schema() -> None:
    doc = document()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for method, path, operation in operations(doc):
        responses = operation["responses"]
        errors = {status for status in responses if int(status) >= 400}
        for status in errors:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR}, (method, path, status)
        if not path.startswith("/api/"):
            continue
        if method in ("POST", "PATCH", "DELETE"):
            assert {"403", "413", "422"} <= errors, (method, path, errors)
        if "429" in errors:
            assert "Retry-After" in responses["429"]["headers"], (method, path)


def test_signed_in_routes_declare_401_and_meetings_404() -> None:
    doc = document()
    public = {("POST", "/api/auth/signup"), ("POST", "/api/auth/verify")}
    for method, path, operation in operations(doc):
        if path.startswith("/api/") and (method, path) not in public:
            assert "401" in operation["responses"], (method, path)
        if "{meeting_id}" in path:
            assert "404" in operation["responses"], (method, path)
    for rate_limited in ("/api/auth/signup", "/api/auth/login", "/api/auth/verification"):
        assert "429" in doc["paths"][rate_limited]["post"]["responses"]


def test_the_error_schema_admits_no_input_echo_nor_links() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["ErrorBody"]["additionalProperties"] is False
    assert set(schemas["Problem"]["properties"]) == {"type", "loc", "msg", "ctx"}
    assert schemas["Problem"]["additionalProperties"] is False


def test_email_fields_declare_their_format() -> None:
    schemas = document()["components"]["schemas"]
    emails = [
        (name, schema["properties"]["email"])
        for name, schema in schemas.items()
        if "email" in schema.get("properties", {})
    ]
    assert {name for name, _ in emails} >= {"SignUp", "LogIn", "UserOut"}
    for name, field in emails:
        assert field.get("format") == "email", (name, field)
