"""Platform behaviour every route relies on: health, errors, auth, pagination,
metrics, logs, OpenAPI."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select

from api.app import create_app
from models.users import User
from tests.conftest import TEST_JWT_SECRET, ClientFor, token_for

ADMIN_LIST = "/api/v1/admin/organizations"


async def test_healthz_answers_without_dependencies(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_unreachable_temporal(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"] == {"database": "ok", "temporal": "unreachable"}


async def test_readyz_ready_with_database_and_temporal(settings, temporal_env) -> None:
    target = temporal_env.client.service_client.config.target_host
    app = create_app(settings.model_copy(update={"temporal_address": target}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "temporal": "ok"}}


async def test_readyz_reports_unreachable_database(settings, sessionmaker) -> None:
    broken = settings.model_copy(
        update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    )
    app = create_app(broken)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["details"]["database"] == "unreachable"


# --- error format ------------------------------------------------------------------


async def test_unknown_route_is_a_json_404(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_wrong_method_is_a_json_405(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.delete("/api/v1/offerings")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_validation_error_lists_the_fields(admin: httpx.AsyncClient) -> None:
    response = await admin.post(ADMIN_LIST, json={"code": "", "signatories": [{"name": "x"}]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    locations = {tuple(item["loc"]) for item in error["details"]}
    assert ("body", "code") in locations
    assert ("body", "title") in locations
    assert ("body", "signatories", 0, "email") in locations


async def test_malformed_json_is_a_422_not_a_500(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        ADMIN_LIST, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_unknown_fields_are_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.post(ADMIN_LIST, json={"code": "A", "title": "A", "colour": "red"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", "colour"]


# --- authentication and roles ---------------------------------------------------------


async def test_admin_route_refuses_anonymous_with_401(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get(ADMIN_LIST)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_admin_route_refuses_learner_and_other_roles_with_403(
    client_for: ClientFor,
) -> None:
    for roles in ([], ["promo_manager"], ["accountant"]):
        client = await client_for(sub="someone", roles=roles)
        response = await client.get(ADMIN_LIST)
        assert response.status_code == 403, roles
        assert response.json()["error"]["code"] == "permission_denied"


async def test_admin_route_lets_admin_in(admin: httpx.AsyncClient) -> None:
    assert (await admin.get(ADMIN_LIST)).status_code == 200


def _signed(payload: dict, secret: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=algorithm)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            _signed(
                {"sub": "a", "roles": ["admin"], "exp": datetime.now(UTC) - timedelta(minutes=1)}
            ),
            id="expired",
        ),
        pytest.param(
            _signed(
                {"sub": "a", "roles": ["admin"], "exp": datetime.now(UTC) + timedelta(hours=1)},
                secret="another-secret-" + "y" * 40,
            ),
            id="forged",
        ),
        pytest.param("not.a.jwt", id="malformed"),
        pytest.param(
            jwt.encode({"sub": "a", "roles": ["admin"], "exp": 4102444800}, None, algorithm="none"),
            id="alg-none",
        ),
        pytest.param(
            _signed({"roles": ["admin"], "exp": datetime.now(UTC) + timedelta(hours=1)}),
            id="no-sub",
        ),
        pytest.param(_signed({"sub": "a", "roles": ["admin"]}), id="no-exp"),
        pytest.param(_signed({"sub": "a", "roles": ["admin"], "exp": 10**18}), id="exp-1e18"),
    ],
)
async def test_bad_tokens_are_401(anonymous: httpx.AsyncClient, token: str) -> None:
    response = await anonymous.get(ADMIN_LIST, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


async def test_user_is_created_then_updated_from_claims(
    anonymous: httpx.AsyncClient, sessionmaker
) -> None:
    first = token_for(sub="u-42", roles=["admin"], email="old@example.org")
    await anonymous.get(ADMIN_LIST, headers={"Authorization": f"Bearer {first}"})
    second = token_for(sub="u-42", roles=["admin"], email="new@example.org")
    await anonymous.get(ADMIN_LIST, headers={"Authorization": f"Bearer {second}"})
    async with sessionmaker() as session:
        users = (await session.scalars(select(User).where(User.id == "u-42"))).all()
    assert [user.email for user in users] == ["new@example.org"]
    # And back: the first address again is written again (it was not, once).
    await anonymous.get(ADMIN_LIST, headers={"Authorization": f"Bearer {first}"})
    async with sessionmaker() as session:
        users = (await session.scalars(select(User).where(User.id == "u-42"))).all()
    assert [user.email for user in users] == ["old@example.org"]


# --- pagination ----------------------------------------------------------------------


async def test_pagination_links_and_bounds(admin: httpx.AsyncClient, factory) -> None:
    for _ in range(5):
        await factory.organization()
    first = (await admin.get(ADMIN_LIST, params={"page_size": 2})).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["previous"] is None
    second = (await admin.get(first["next"])).json()
    assert second["previous"] is not None
    last = (await admin.get(ADMIN_LIST, params={"page": 3, "page_size": 2})).json()
    assert len(last["results"]) == 1
    assert last["next"] is None
    codes = [item["code"] for page in (first, second, last) for item in page["results"]]
    assert len(set(codes)) == 5
    # Links come from GUICHET_PUBLIC_URL, not from a (forged) Host header.
    forged = (
        await admin.get(ADMIN_LIST, params={"page_size": 2}, headers={"Host": "evil.example"})
    ).json()
    assert "evil.example" not in forged["next"]
    assert forged["next"].split("/api/")[0] == first["next"].split("/api/")[0]
    too_big = await admin.get(ADMIN_LIST, params={"page_size": 101})
    assert too_big.status_code == 422
    assert (await admin.get(ADMIN_LIST, params={"page": 0})).status_code == 422


# --- metrics, logs, OpenAPI ------------------------------------------------------------


async def test_metrics_count_requests_by_route_template(anonymous: httpx.AsyncClient) -> None:
    await anonymous.get("/api/v1/offerings/00000000-0000-0000-0000-000000000001")
    body = (await anonymous.get("/metrics")).text
    assert (
        'guichet_http_requests_total{method="GET",route="/api/v1/offerings/{offering_id}",status="404"} 1.0'
        in body
    )
    assert "guichet_http_request_duration_seconds_bucket" in body


async def test_one_structured_log_line_per_request(
    anonymous: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="guichet.request"):
        response = await anonymous.get(
            "/api/v1/offerings?query=secret-voucher", headers={"X-Request-ID": "req-123"}
        )
    records = [record for record in caplog.records if record.name == "guichet.request"]
    assert len(records) == 1
    fields = records[0].fields
    assert fields["route"] == "/api/v1/offerings"
    assert fields["status"] == 200
    assert fields["request_id"] == "req-123"
    assert response.headers["X-Request-ID"] == "req-123"
    # The query string (codes, tokens) never reaches the logs.
    assert "secret-voucher" not in caplog.text


async def test_request_logs_cannot_be_forged(
    anonymous: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A %0A in the path writes no second line; a request id that is not one
    is replaced; a capability URL (the dummy signature page) is logged as its
    route, not as the URL that lets one sign."""
    from logs import TextFormatter

    with caplog.at_level(logging.INFO, logger="guichet.request"):
        await anonymous.get(
            "/api/v1/nothing%0A2026-12-02 INFO guichet.request: GET /admin 200",
            headers={"X-Request-ID": "abc\tdef"},
        )
        await anonymous.get("/api/v1/dummy-signature/dummy-0123456789abcdef?signer=student")
    forged, capability = [r for r in caplog.records if r.name == "guichet.request"]
    line = TextFormatter().format(forged)
    assert "\n" not in line and "\\x0a" in line
    assert forged.fields["request_id"] != "abc\tdef"
    assert len(forged.fields["request_id"]) == 32
    assert capability.fields["path"] == "/api/v1/dummy-signature/{reference}"
    assert "dummy-0123456789abcdef" not in caplog.text


async def test_every_operation_is_tagged_and_described(anonymous: httpx.AsyncClient) -> None:
    spec = (await anonymous.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("tags"), f"{method} {path} has no tag"
            assert operation.get("summary"), f"{method} {path} has no summary"
    assert (await anonymous.get("/docs")).status_code == 200


async def test_nul_characters_are_bad_input_not_a_500(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    search = await anonymous.get("/api/v1/offerings", params={"query": "a\x00b"})
    assert search.status_code == 422
    assert search.json()["error"]["details"][0]["loc"] == ["query", "query"]
    body = await admin.post(ADMIN_LIST, json={"code": "A", "title": "x\x00y"})
    assert body.status_code == 422
    assert body.json()["error"]["details"][0]["loc"] == ["body", "title"]
    nested = await admin.post(
        ADMIN_LIST,
        json={"code": "B", "title": "B", "signatories": [{"name": "n\x00", "email": "a@b.org"}]},
    )
    assert nested.status_code == 422
    # In a path or a filter the routes type as plain text: never the database's 500.
    for path, params, where in (
        ("/api/v1/dummy-signature/a%00b", {}, ["path"]),
        ("/api/v1/academy-products/a%00b", {}, ["path"]),
        ("/api/v1/academy-products", {"product_key": "a\x00"}, ["query", "product_key"]),
        ("/api/v1/admin/academy-sync/a%00b", {}, ["path"]),
        ("/backoffice/orders", {"query": "a\x00"}, ["query", "query"]),
    ):
        answer = await admin.get(path, params=params)
        assert answer.status_code == 422, (path, answer.status_code)
        assert answer.json()["error"]["details"][0]["loc"] == where


async def test_order_while_temporal_is_down_is_a_503(learner: httpx.AsyncClient, factory) -> None:
    # The default test app points at a Temporal address where nothing listens.
    offering = await factory.offering(product=await factory.product(price="0.00"))
    response = await learner.post("/api/v1/orders", json={"offering_id": str(offering.id)})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "temporal_unavailable"


# --- request bodies ------------------------------------------------------------------


async def test_a_body_over_the_cap_is_refused_before_it_is_read(
    anonymous: httpx.AsyncClient,
) -> None:
    """GUICHET_MAX_BODY_BYTES (1 MiB): declared or streamed, a larger body is
    a 413 before the webhook reads it whole to check its signature."""
    over = b"x" * (1024 * 1024 + 1)
    declared = await anonymous.post("/api/v1/webhooks/signature/dummy", content=over)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"

    async def chunks():
        for _ in range(3):
            yield b"x" * (600 * 1024)

    streamed = await anonymous.post("/api/v1/dummy-signature/some-reference", content=chunks())
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "payload_too_large"
    # Under the cap the body reaches the route, which judges it.
    under = await anonymous.post("/api/v1/webhooks/signature/dummy", content=b"x" * 1024)
    assert under.status_code in {400, 401}


async def test_cors_lets_configured_front_ends_in_only(settings, sessionmaker) -> None:
    """GUICHET_CORS_ORIGINS: a preflight from an allowed origin passes, with
    Idempotency-Key allowed; another origin gets no CORS headers."""
    front = "https://learn.example"
    configured = create_app(settings.model_copy(update={"cors_origins": [front]}))
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }
    async with (
        configured.router.lifespan_context(configured),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=configured), base_url="http://t"
        ) as client,
    ):
        allowed = await client.options("/api/v1/orders", headers=preflight | {"Origin": front})
        other = await client.options(
            "/api/v1/orders", headers=preflight | {"Origin": "https://evil.example"}
        )
        read = await client.get("/healthz", headers={"Origin": front})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == front
    assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert read.headers["access-control-allow-origin"] == front


async def test_no_cors_headers_by_default(anonymous: httpx.AsyncClient) -> None:
    answer = await anonymous.get("/healthz", headers={"Origin": "https://learn.example"})
    assert "access-control-allow-origin" not in answer.headers


async def test_docs_work_offline_and_the_root_says_where_they_are(
    anonymous: httpx.AsyncClient,
) -> None:
    """Swagger UI's assets come from the package, not a CDN; `/` is an index."""
    docs = await anonymous.get("/docs")
    assert docs.status_code == 200
    assert "cdn." not in docs.text and "/docs/assets/swagger-ui-bundle.js" in docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        served = await anonymous.get(f"/docs/assets/{asset}")
        assert served.status_code == 200 and len(served.content) > 10_000
    index = (await anonymous.get("/")).json()
    assert index["name"] == "Guichet" and index["docs"] == "/docs"
    assert (await anonymous.get(index["openapi"])).status_code == 200
