"""`guichet codec-server`, the Temporal Web UI's remote codec (spec 65):
admins get payloads decoded and encoded, nobody else; a body that is not
Temporal's payloads JSON is a 400 `malformed_payloads`; a payload under a
key this server lacks comes back as it was, the others of the batch opened."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from api.app import create_codec_app
from integrations.payload_codec import ENCODING, AesGcmCodec, new_key
from settings import PayloadKey, Settings
from tests.conftest import TEST_JWT_SECRET, token_for

UI = "http://127.0.0.1:8233"
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"last_name": "Lovelace"}')
CURRENT = PayloadKey(id="current", key=SecretStr(new_key()))
RETIRED = PayloadKey(id="retired", key=SecretStr(new_key()))


def _json(*payloads: Payload) -> dict:
    return json_format.MessageToDict(Payloads(payloads=list(payloads)))


def _data(answer: httpx.Response) -> list[bytes]:
    return [base64.b64decode(item.get("data", "")) for item in answer.json()["payloads"]]


@pytest.fixture
async def codec(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path,
        jwt_secret=TEST_JWT_SECRET,
        payload_keys=[CURRENT],
        codec_cors_origins=[UI],
    )
    transport = httpx.ASGITransport(app=create_codec_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as client:
        yield client


def _bearer(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(sub='staff-1', roles=list(roles))}"}


async def test_an_admin_gets_payloads_encoded_then_decoded(codec: httpx.AsyncClient) -> None:
    admin = _bearer("admin")
    encoded = await codec.post("/encode", json=_json(PLAIN), headers=admin)
    assert encoded.status_code == 200, encoded.text
    assert b"Lovelace" not in _data(encoded)[0]
    assert (
        encoded.json()["payloads"][0]["metadata"]["encoding"] == base64.b64encode(ENCODING).decode()
    )
    decoded = await codec.post("/decode", json=encoded.json(), headers=admin)
    assert decoded.status_code == 200 and _data(decoded) == [PLAIN.data]


async def test_only_admins_may_decode(codec: httpx.AsyncClient) -> None:
    (sealed,) = await AesGcmCodec([CURRENT]).encode([PLAIN])
    for headers, status in (({}, 401), (_bearer("accountant"), 403), ({"Origin": UI}, 401)):
        answer = await codec.post("/decode", json=_json(sealed), headers=headers)
        assert answer.status_code == status, answer.text
        assert "Lovelace" not in answer.text


async def test_a_body_that_is_not_payloads_is_a_400(codec: httpx.AsyncClient) -> None:
    admin = _bearer("admin")
    for body in (b"{not json", b'{"payloads": "nope"}', b'{"other": 1}', b"\xff\xfe"):
        for route in ("/decode", "/encode"):
            answer = await codec.post(route, content=body, headers=admin)
            assert answer.status_code == 400, (route, body, answer.text)
            assert answer.json()["error"]["code"] == "malformed_payloads"


async def test_a_payload_under_a_retired_key_stays_encrypted_the_rest_opens(
    codec: httpx.AsyncClient,
) -> None:
    (old,) = await AesGcmCodec([RETIRED]).encode([PLAIN])
    (current,) = await AesGcmCodec([CURRENT]).encode([PLAIN])
    damaged = Payload()
    damaged.CopyFrom(current)
    damaged.data = current.data[:-1] + bytes([current.data[-1] ^ 1])
    answer = await codec.post(
        "/decode", json=_json(old, current, damaged, PLAIN), headers=_bearer("admin")
    )
    assert answer.status_code == 200, answer.text
    assert _data(answer) == [old.data, PLAIN.data, damaged.data, PLAIN.data]
