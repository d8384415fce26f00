"""schemathesis over /openapi.json (spec 60-quality): every operation, 50
generated requests with an admin token and 50 with a learner's, against the
API served on a loopback port with its worker and the Temporal dev server.
No answer may be a 5xx, and every answer must match its documented status
codes, content type and schema.

Then every field of every operation (path, query, body, at any depth) gets
each hostile value in turn, the others left valid: NUL characters, dates at
the ends of the calendar, numbers past 64 bits, formula and header
injections; no answer may be a 5xx or undocumented."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import checks

from api.app import create_app
from tests.api.tunnel import ADDRESS
from tests.conftest import token_for
from tests.factories import Factory
from tests.fakes import serve

pytestmark = pytest.mark.fuzz

EXAMPLES = 50
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
# Values that were 500s somewhere (issue 14), put in every field by
# test_hostile_values_in_every_field_are_never_a_5xx.
HOSTILE_STRINGS = [
    "\x00",
    "a\x00b",
    "%00",
    "\r\nX-Injected: 1",
    "=1+1",
    "@SUM(1)",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "10000-01-01",
    "NaN",
    "1e309",
    "9" * 40,
    "x" * 5000,
    "\u202e\ufeff\U0001f600",
]
HOSTILE_INTEGERS = [10**18, -(10**18), 2**63, -(2**63) - 1, 2**64, -1, 0]
HOSTILE_NUMBERS = [1.7976931348623157e308, -1.7976931348623157e308, 5e-324]
TOKENS = {
    "admin": token_for(sub="fuzz-admin", roles=["admin"]),
    "learner": token_for(sub="fuzz-learner", roles=[]),
}


@pytest.fixture
def settings(settings, temporal_env):
    return settings.model_copy(
        update={"temporal_address": temporal_env.client.service_client.config.target_host}
    )


@pytest.fixture
async def live(settings, worker, sessionmaker) -> AsyncIterator[str]:
    async with serve(create_app(settings)) as url:
        yield url


def _fuzz(base_url: str, document: dict) -> list[str]:
    """Runs in a thread: schemathesis calls are blocking, the API answers
    from the test's event loop."""
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for who, token in TOKENS.items():
            try:
                _fuzz_operation(operation, base_url, {"Authorization": f"Bearer {token}"})
            except BaseException as error:  # every operation tried, all failures reported
                if isinstance(error, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.method.upper()} {operation.path} as {who}: {error}")
    return failures


def _fuzz_operation(operation, base_url: str, headers: dict[str, str]) -> None:
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: CI failures reproduce
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    check()


async def test_no_5xx_and_every_answer_as_documented(live: str) -> None:
    async with httpx.AsyncClient(base_url=live) as client:
        document = (await client.get("/openapi.json")).json()
    failures = await asyncio.to_thread(_fuzz, live, document)
    assert not failures, "\n\n".join(failures)


# --- every field, each hostile value ------------------------------------------------------

MAX_DEPTH = 3
HOSTILE_FOR = {
    "string": HOSTILE_STRINGS,
    "integer": HOSTILE_INTEGERS,
    "number": HOSTILE_NUMBERS + HOSTILE_INTEGERS,
}
# A parameter arrives as text, whatever its type.
HOSTILE_TEXT = HOSTILE_STRINGS + [str(value) for value in HOSTILE_INTEGERS + HOSTILE_NUMBERS]
# Enough to read the failures; more would be the same bug again.
MAX_REPORTED = 40


def _known_id(path: str, name: str, known: dict[str, str]) -> str | None:
    """The id of a seeded object for a path parameter: `{id}` by the kind of
    its path (`…/course-runs/{id}`), others by name (`{order_id}`)."""
    return known.get(path.split("/")[-2] if name == "id" else name)


def _valid_case(operation, known: dict[str, str]):
    """One request the schema accepts, on seeded objects where the path names
    one: the background each hostile value is put into, so that it, not
    another field, meets the code (and reaches past the object's lookup)."""
    found = []

    @hypothesis_settings(
        max_examples=1,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def keep(case) -> None:
        found.append(case)

    keep()
    case = found[0]
    for parameter in operation.path_parameters:
        seeded = _known_id(operation.path, parameter.name, known)
        if seeded is not None:
            case.path_parameters = {**case.path_parameters, parameter.name: seeded}
    return case


def _resolved(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def _leaves(
    document: dict, schema: dict, pointer: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path in the body, JSON type) of every scalar field the body schema names."""
    schema = _resolved(document, schema)
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        yield from _leaves(document, branch, pointer)
    kind = schema.get("type")
    if len(pointer) >= MAX_DEPTH:
        return
    if kind == "object":
        for name, field in schema.get("properties", {}).items():
            yield from _leaves(document, field, (*pointer, name))
    elif kind == "array":
        yield from _leaves(document, schema.get("items", {}), (*pointer, 0))
    elif kind in HOSTILE_FOR:
        yield pointer, kind


def _body_schema(document: dict, operation) -> dict | None:
    body = document["paths"][operation.path][operation.method.lower()].get("requestBody")
    return body["content"].get("application/json", {}).get("schema") if body else None


def _with(body: Any, pointer: tuple[str | int, ...], value: Any) -> Any:
    """A copy of `body` with `value` at `pointer`, making the containers on the way."""
    root = copy.deepcopy(body) if isinstance(body, dict) else {}
    here: Any = root
    for step, following in itertools.pairwise(pointer):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            if not here:
                here.append(empty)
            here = here[0]
        else:
            if not isinstance(here.get(step), type(empty)) or (
                isinstance(empty, list) and not here[step]
            ):
                here[step] = empty
            here = here[step]
    last = pointer[-1]
    if isinstance(last, int):
        here[:1] = [value]
    else:
        here[last] = value
    return root


def _hostile_cases(operation, document: dict, known: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """(where, case) for each field and each hostile value of its type. The
    valid background itself is never sent (it would delete the seeded objects)."""
    base = _valid_case(operation, known)
    for location, values in (("path", base.path_parameters), ("query", base.query)):
        parameters = operation.path_parameters if location == "path" else operation.query
        for parameter in parameters:
            for value in HOSTILE_TEXT:
                changed = {**(values or {}), parameter.name: value}
                fields = {"path_parameters" if location == "path" else "query": changed}
                other = "query" if location == "path" else "path_parameters"
                fields[other] = getattr(base, other)
                yield (
                    f"{location} {parameter.name}={value!r:.40}",
                    operation.Case(body=base.body, media_type=base.media_type, **fields),
                )
    body_schema = _body_schema(document, operation)
    if body_schema is None:
        return
    leaves = dict(_leaves(document, body_schema))
    for pointer, kind in leaves.items():
        for value in HOSTILE_FOR[kind]:
            yield (
                f"body {'.'.join(map(str, pointer))}={value!r:.40}",
                operation.Case(
                    path_parameters=base.path_parameters,
                    query=base.query,
                    body=_with(base.body, pointer, value),
                    media_type=base.media_type or "application/json",
                ),
            )


def _hostile_pass(base_url: str, document: dict, known: dict[str, str]) -> tuple[int, list[str]]:
    """Runs in a thread, as _fuzz. Returns how many requests were sent and
    the failures."""
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    sent, failures = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        for where, case in _hostile_cases(operation, document, known):
            sent += 1
            try:
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                case.validate_response(response, checks=CHECKS)
            except BaseException as error:  # as _fuzz: every case tried, all failures reported
                if isinstance(error, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.method.upper()} {operation.path} {where}: {error}")
    return sent, failures


async def _seeded(live: str, factory: Factory) -> dict[str, str]:
    """One of each object the paths name, and an order of the fuzzing admin's
    own (the learner routes answer only their owner)."""
    organization = await factory.organization()
    course = await factory.course(organizations=[organization])
    start = datetime.now(UTC) + timedelta(days=60)
    run = await factory.course_run(course=course, start=start, end=start + timedelta(days=90))
    product = await factory.product(
        price="450.00", contract_required=True, target_course_runs=[run]
    )
    offering = await factory.offering(course=course, product=product, organizations=[organization])
    link = await factory.deep_link(offering=offering, organization=organization)
    campaign = await factory.campaign(name="Fuzzed", count=3)
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    async with httpx.AsyncClient(base_url=live, headers=headers, timeout=30) as client:
        body = {"offering_id": str(offering.id), "billing_address": ADDRESS}
        order = (await client.post("/api/v1/orders", json=body)).json()
    ids = {
        "organizations": organization.id,
        "courses": course.id,
        "course-runs": run.id,
        "products": product.id,
        "offerings": offering.id,
        "offering_id": offering.id,
        "deep-links": link.id,
        "campaign_id": campaign.id,
        "order_id": order["id"],
        "contract_id": order["contract"]["id"],
    }
    return {name: str(value) for name, value in ids.items()}


async def test_hostile_values_in_every_field_are_never_a_5xx(live: str, factory: Factory) -> None:
    async with httpx.AsyncClient(base_url=live) as client:
        document = (await client.get("/openapi.json")).json()
    known = await _seeded(live, factory)
    sent, failures = await asyncio.to_thread(_hostile_pass, live, document, known)
    assert sent > 1000, sent  # every operation's fields were reached
    assert not failures, f"{len(failures)} of {sent}:\n\n" + "\n\n".join(failures[:MAX_REPORTED])
