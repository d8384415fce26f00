# ruff: noqa: F401, F811 - the promo-code fixtures, imported by name
"""A campaign's life after launch (spec 55): its end date moved through its
workflow (the timer follows), no end date at all, disabled and enabled, more
codes drawn, its creator told a week before the end, and codes held in carts
nobody validates released (GUICHET_CART_CODE_HOLD) or removed by the member."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from domain.promo_codes import workflow_id
from tests.api.test_promo_codes import (
    INVALID,
    SUCCESS,
    _in,
    activate,
    app,
    cart_of,
    codes_of,
    create_campaign,
    manager,
    membership,
    until_status,
)
from tests.conftest import ROOT, SmtpInbox, process_env
from tests.workflows.histories import save_history


@pytest.fixture
def settings(settings, temporal_env, smtp):
    return settings.model_copy(
        update={
            "temporal_address": temporal_env.client.service_client.config.target_host,
            "promo_activation_rate_limit_user": "1000/minute",
            "promo_activation_rate_limit_ip": "1000/minute",
            "promo_max_codes": 100,
            # Codes go back to unused after this in a cart not validated.
            "cart_code_hold": timedelta(seconds=4),
            "mail_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
        }
    )


async def _patch(manager: httpx.AsyncClient, campaign: dict, **body) -> httpx.Response:
    return await manager.patch(f"/api/v1/admin/promo-campaigns/{campaign['id']}", json=body)


async def _guichet(settings, *arguments: str) -> subprocess.CompletedProcess:
    """`guichet …` as an operator runs it, on this test's database and Temporal."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli", *arguments],
        cwd=ROOT,
        env=process_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _mails(inbox: SmtpInbox, count: int, seconds: float = 30) -> list:
    for _ in range(int(seconds * 10)):
        if len(inbox.messages) >= count:
            break
        await asyncio.sleep(0.1)
    return inbox.messages


async def test_a_campaign_due_to_expire_in_seconds_is_extended(
    manager, client_for, membership, temporal_client
) -> None:
    ends = datetime.now(UTC) + timedelta(seconds=6)
    campaign = await create_campaign(manager, membership, count=3, valid_until=ends.isoformat())
    await until_status(manager, campaign, "ready")
    later = datetime.now(UTC) + timedelta(days=30)
    moved = await _patch(manager, campaign, valid_until=later.isoformat())
    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(moved.json()["valid_until"]) == later
    # Past the old end, with margin (nothing to poll for: it must not happen):
    # still ready, its codes still work.
    await asyncio.sleep(max((ends + timedelta(seconds=3) - datetime.now(UTC)).total_seconds(), 0))
    found = (await manager.get(f"/api/v1/admin/promo-campaigns/{campaign['id']}")).json()
    assert found["status"] == "ready"
    handle = temporal_client.get_workflow_handle(workflow_id(uuid.UUID(campaign["id"])))
    member = await client_for(sub="extended-1")
    code = (await codes_of(manager, campaign))[0]["code"]
    assert (await activate(member, (await cart_of(member))["id"], code)).json() == SUCCESS

    # Shortened now: it ends at the new date.
    soon = await _patch(manager, campaign, valid_until=_in(timedelta(seconds=3)))
    assert soon.status_code == 200, soon.text
    await until_status(manager, campaign, "expired", seconds=45)
    assert await handle.result() == "expired"
    save_history("promo_campaign_held_moved_expired", await handle.fetch_history())
    over = await _patch(manager, campaign, valid_until=_in(timedelta(days=3)))
    assert over.status_code == 409 and over.json()["error"]["code"] == "campaign_over"


async def test_a_campaign_without_end_date_disabled_then_enabled(
    manager, client_for, membership
) -> None:
    campaign = await create_campaign(manager, membership, count=4, valid_until=None)
    assert campaign["valid_until"] is None
    await until_status(manager, campaign, "ready")
    first, second, *_ = [item["code"] for item in await codes_of(manager, campaign)]
    member = await client_for(sub="no-end-1")
    cart = await cart_of(member)

    disabled = await _patch(manager, campaign, is_active=False)
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    assert disabled.json()["valid_until"] is None  # untouched
    assert (await activate(member, cart["id"], first)).json() == INVALID
    enabled = await _patch(manager, campaign, is_active=True)
    assert enabled.json()["is_active"] is True
    assert (await activate(member, cart["id"], first)).json() == SUCCESS

    dated = await _patch(manager, campaign, valid_until=_in(timedelta(days=40)))
    assert dated.json()["valid_until"] is not None
    endless = await _patch(manager, campaign, valid_until=None)
    assert endless.json()["valid_until"] is None
    assert (await activate(member, cart["id"], second)).json() == SUCCESS
    past = await _patch(manager, campaign, valid_until=_in(timedelta(seconds=-5)))
    assert past.status_code == 422 and past.json()["error"]["code"] == "invalid_valid_until"
    unknown = await manager.patch(f"/api/v1/admin/promo-campaigns/{uuid.uuid4()}", json={})
    assert unknown.status_code == 404
    learner = await client_for(sub="no-end-2")
    assert (await _patch(learner, campaign, is_active=False)).status_code == 403


async def test_more_codes_are_drawn_for_a_ready_campaign(manager, client_for, membership) -> None:
    campaign = await create_campaign(manager, membership, count=10, name="Réimpression")
    await until_status(manager, campaign, "ready")
    base = f"/api/v1/admin/promo-campaigns/{campaign['id']}/codes"
    added = await manager.post(base, json={"count": 15})
    assert added.status_code == 202, added.text
    assert added.json()["codes_count"] == 25
    ready = await until_status(manager, campaign, "ready")
    assert (ready["codes_count"], ready["generated_count"]) == (25, 25)
    listed = await codes_of(manager, campaign)
    assert len({item["code"] for item in listed}) == 25
    member = await client_for(sub="reprint-1")
    assert (await activate(member, (await cart_of(member))["id"], listed[-1]["code"])).json() == (
        SUCCESS
    )
    too_many = await manager.post(base, json={"count": 80})  # 105 > GUICHET_PROMO_MAX_CODES
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "too_many_codes"
    assert (await manager.post(base, json={"count": 0})).status_code == 422


async def test_the_creator_hears_a_week_before_the_end(
    client_for, membership, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox = smtp[0]
    creator = await client_for(sub="creator-1", roles=["promo_manager"], email="ops@example.org")
    # Ends in five days: the notice is due already.
    campaign = await create_campaign(
        creator, membership, count=5, name="Fin proche", valid_until=_in(timedelta(days=5))
    )
    await until_status(creator, campaign, "ready")
    (mail,) = await _mails(inbox, 1)
    assert mail["To"] == "ops@example.org"
    assert "Fin proche" in str(mail["Subject"])
    body = mail.get_body(("plain",)).get_content()
    assert "0 codes ont été utilisés, 5 ne l'ont pas encore été" in body
    # A new end date a few days off: told again; far off: not yet.
    await _patch(creator, campaign, valid_until=_in(timedelta(days=6)))
    assert len(await _mails(inbox, 2)) == 2
    await _patch(creator, campaign, valid_until=_in(timedelta(days=60)))
    await _patch(creator, campaign, is_active=False)  # a change that wakes the workflow
    assert len(await _mails(inbox, 3, seconds=3)) == 2


async def test_a_code_held_too_long_goes_back_and_a_member_removes_a_line(
    manager, client_for, membership
) -> None:
    campaign = await create_campaign(manager, membership, count=5, name="Paniers oubliés")
    await until_status(manager, campaign, "ready")
    held, removed, *_ = [item["code"] for item in await codes_of(manager, campaign)]
    forgetful = await client_for(sub="forgetful-1")
    cart = await cart_of(forgetful)
    assert (await activate(forgetful, cart["id"], held)).json() == SUCCESS
    assert (await activate(forgetful, cart["id"], removed)).json() == SUCCESS

    # The member takes a line out (here through the existing client's path):
    # its code is free at once.
    (line,) = [item for item in (await cart_of(forgetful))["items"] if item["promocode"] == removed]
    out = await forgetful.delete(f"/tck.php/api/v2/carts/{cart['id']}/items/{line['id']}")
    assert out.status_code == 200, out.text
    assert [item["promocode"] for item in out.json()["items"]] == [held]
    again = await forgetful.delete(f"/api/v2/carts/{cart['id']}/items/{line['id']}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "cart_line_not_found"
    prompt = await client_for(sub="prompt-1")
    prompt_cart = await cart_of(prompt)
    assert (await activate(prompt, prompt_cart["id"], removed)).json() == SUCCESS
    paid = await prompt.post(f"/api/v2/checkouts/select-payment/{prompt_cart['id']}", json={})
    assert paid.json()["cart"]["state"] == "validated"
    (kept,) = paid.json()["cart"]["items"]
    locked = await prompt.delete(f"/api/v2/carts/{prompt_cart['id']}/items/{kept['id']}")
    assert locked.status_code == 409 and locked.json()["error"]["code"] == "cart_validated"
    stranger = await forgetful.delete(f"/api/v2/carts/{prompt_cart['id']}/items/{kept['id']}")
    assert stranger.status_code == 404

    # Nobody validated the first cart: past the hold, its code is free again.
    for _ in range(450):
        if not (await cart_of(forgetful))["items"]:
            break
        await asyncio.sleep(0.1)
    assert (await cart_of(forgetful))["items"] == []
    used = {item["code"] for item in await codes_of(manager, campaign, used="true")}
    assert used == {removed}  # the validated cart keeps its code
    later = await client_for(sub="later-1")
    assert (await activate(later, (await cart_of(later))["id"], held)).json() == SUCCESS


async def test_codes_of_another_format_and_codes_printed_elsewhere(
    manager, client_for, membership, settings
) -> None:
    """The seed's numeric YYY-XXX-000 codes; then codes printed elsewhere
    imported (by the route and by `guichet promo import`), activated like
    generated ones; a file with a bad line imports nothing."""
    numeric = {"alphabet": "digits", "length": 3, "check_character": False}
    campaign = await create_campaign(
        manager, membership, name="XXX", client_code="YYY", count=40, code_format=numeric
    )
    assert campaign["code_format"] == numeric and campaign["code_length"] == 3
    ready = await until_status(manager, campaign, "ready")
    listed = [item["code"] for item in await codes_of(manager, campaign)]
    assert ready["generated_count"] == len(set(listed)) == 40
    assert all(code[:8] == "YYY-XXX-" and code[8:].isdigit() and len(code) == 11 for code in listed)
    member = await client_for(sub="numeric-1")
    cart = await cart_of(member)
    assert (await activate(member, cart["id"], listed[0].lower())).json() == SUCCESS
    too_big = await manager.post(
        "/api/v1/admin/promo-campaigns",
        json={
            "name": "Trop",
            "count": 101,
            "product_id": str(membership.id),
            "code_format": numeric,
        },
    )
    assert too_big.status_code == 422  # over GUICHET_PROMO_MAX_CODES and 1,000 / 10

    base = f"/api/v1/admin/promo-campaigns/{campaign['id']}/codes/import"
    headers = {"Content-Type": "text/csv"}
    spoiled = f"code\nTEST-CODE-56FE78\nnot a code!\n{listed[1]}\nTEST-CODE-56fe78\n"
    refused = await manager.post(base, content=spoiled.encode(), headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "import_rejected"
    assert [(item["line"], item["reason"]) for item in refused.json()["error"]["details"]] == [
        (3, "only letters A-Z, digits and single dashes between them"),
        (4, "a code of a campaign already"),
        (5, "the same code as line 2"),
    ]
    unchanged = (await manager.get(f"/api/v1/admin/promo-campaigns/{campaign['id']}")).json()
    assert unchanged["codes_count"] == 40

    printed = "code\nTEST-CODE-56FE78\nTEST-CODE-0O0O\n"
    imported = await manager.post(base, content=printed.encode(), headers=headers)
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported"] == 2
    assert imported.json()["campaign"]["codes_count"] == 42
    # Typed as printed: an O of another alphabet stays an O.
    assert (await activate(member, cart["id"], "test-code-0o0o")).json() == SUCCESS
    assert (await activate(member, cart["id"], "TEST-CODE-56FE78")).json() == SUCCESS

    with_cli = settings.model_copy()
    source = with_cli.data_dir / "printed.csv"
    source.write_text("Code;Salle\nSALON-A-1;A\nSALON-A-2;A\n", encoding="utf-8")
    done = await _guichet(settings, "promo", "import", "XXX", str(source))
    assert done.returncode == 0, done.stderr
    assert "2 codes imported" in done.stderr
    source.write_text("code\nSALON-A-1\n", encoding="utf-8")
    again = await _guichet(settings, "promo", "import", "XXX", str(source))
    assert again.returncode == 2
    assert "line 2 'SALON-A-1': a code of a campaign already" in again.stderr
    assert "Traceback" not in again.stderr
    final = (await manager.get(f"/api/v1/admin/promo-campaigns/{campaign['id']}")).json()
    assert (final["codes_count"], final["generated_count"]) == (44, 44)
