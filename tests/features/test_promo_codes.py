"""The promo-code acceptance scenarios (promo_codes.feature), in the words
the business validated, run against the real app, worker and database.

pytest-bdd steps are plain functions: each drives the test session's event
loop (where the worker runs) until its requests are answered."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from sqlalchemy import select

from api.app import create_app
from domain import codes
from domain.catalog import ProductType
from models.carts import Membership
from tests.api.test_promo_codes import (
    activate,
    cart_of,
    codes_of,
    create_campaign,
    until_status,
)
from tests.api.test_promo_codes import settings as settings
from tests.conftest import token_for
from tests.factories import Factory

scenarios("promo_codes.feature")

T = TypeVar("T")


class World:
    """What the scenario has seen so far, and the app it talks to."""

    def __init__(self, loop: asyncio.AbstractEventLoop, settings, factory: Factory) -> None:
        self.loop = loop
        self.settings = settings
        self.factory = factory
        self.stack = AsyncExitStack()
        self.application: Any = None
        self.campaigns: dict[str, dict] = {}
        self.product: Any = None
        self.student: httpx.AsyncClient | None = None
        self.cart: dict = {}
        self.answer: httpx.Response | None = None
        self.code = ""
        # When a campaign of the scenario was due to end.
        self.ends = datetime.now(UTC)

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def restart(self, **overrides: Any) -> None:
        """The app with other settings (the worker keeps running)."""
        self.run(self.stack.aclose())
        self.stack = AsyncExitStack()
        self.settings = self.settings.model_copy(update=overrides)
        self.application = None

    def client(self, sub: str | None = None, roles: tuple[str, ...] = ()) -> httpx.AsyncClient:
        if self.application is None:
            self.application = create_app(self.settings)
            lifespan = self.application.router.lifespan_context(self.application)
            self.run(self.stack.enter_async_context(lifespan))
        headers = (
            {"Authorization": f"Bearer {token_for(sub=sub, roles=list(roles))}"} if sub else {}
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.application),
            base_url="http://test",
            headers=headers,
        )
        self.stack.push_async_callback(client.aclose)
        return client

    @property
    def manager(self) -> httpx.AsyncClient:
        return self.client("manager-1", ("promo_manager",))


@pytest.fixture
async def loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


@pytest.fixture
def world(loop, settings, worker, factory: Factory) -> Iterator[World]:
    state = World(loop, settings, factory)
    yield state
    state.run(state.stack.aclose())


def _campaign(world: World, name: str, count: int, client: str = "YOOT", length: int = 8):
    world.campaigns[name] = world.run(
        create_campaign(
            world.manager,
            world.product,
            name=name,
            count=count,
            client_code=client,
            code_length=length,
        )
    )


# --- Contexte ------------------------------------------------------------------------------


@given(parsers.parse('l\'adhésion "{title}" à {price} €'))
def membership_product(world: World, title: str, price: str) -> None:
    world.product = world.run(
        world.factory.product(type=ProductType.MEMBERSHIP, price=price, title=title)
    )


@given("un responsable de campagne connecté")
def manager_signed_in(world: World) -> None:
    world.manager  # noqa: B018 - the app starts with its first client


@given(parsers.parse("les campagnes peuvent compter {count:d} codes"))
def max_codes(world: World, count: int) -> None:
    world.restart(promo_max_codes=count)


# --- campagnes -----------------------------------------------------------------------------


@when(parsers.parse('il crée la campagne "{name}" de {count:d} codes pour le client "{client}"'))
def create(world: World, name: str, count: int, client: str) -> None:
    _campaign(world, name, count, client)


@when(
    parsers.parse(
        'il crée la campagne "{name}" de {count:d} codes de {length:d} caractères '
        'pour le client "{client}"'
    )
)
def create_with_length(world: World, name: str, count: int, length: int, client: str) -> None:
    _campaign(world, name, count, client, length)


@when(parsers.parse('il demande la campagne "{name}" de {count:d} codes de {length:d} caractères'))
def ask(world: World, name: str, count: int, length: int) -> None:
    world.answer = world.run(
        world.manager.post(
            "/api/v1/admin/promo-campaigns",
            json={
                "name": name,
                "valid_until": "2099-01-01T00:00:00Z",
                "count": count,
                "product_id": str(world.product.id),
                "code_length": length,
            },
        )
    )


@given(parsers.parse('la campagne "{name}" prête'))
def ready_campaign(world: World, name: str) -> None:
    _campaign(world, name, 20)
    world.run(until_status(world.manager, world.campaigns[name], "ready"))


def _codes(world: World, name: str) -> list[str]:
    return [item["code"] for item in world.run(codes_of(world.manager, world.campaigns[name]))]


@then(parsers.parse("la campagne est prête avec {count:d} codes"))
def is_ready(world: World, count: int) -> None:
    (campaign,) = world.campaigns.values()
    ready = world.run(until_status(world.manager, campaign, "ready"))
    assert ready["generated_count"] == ready["codes_count"] == count


@then(parsers.parse("les deux campagnes sont prêtes avec {count:d} codes chacune"))
def both_ready(world: World, count: int) -> None:
    for campaign in world.campaigns.values():
        ready = world.run(until_status(world.manager, campaign, "ready", seconds=120))
        assert ready["generated_count"] == count


@then(
    parsers.parse(
        'chaque code s\'écrit "{prefix}" puis {length:d} caractères aléatoires '
        "et 1 caractère de contrôle"
    )
)
def code_format(world: World, prefix: str, length: int) -> None:
    (name,) = world.campaigns
    for code in _codes(world, name):
        assert code.startswith(prefix) and len(code) == len(prefix) + length + 1
        assert all(character in codes.CODE_ALPHABET for character in code[len(prefix) :])
        assert codes.is_well_formed(code)


@then("chaque code recopié avec un caractère faux n'est le code de personne")
def typos_refused(world: World) -> None:
    (name,) = world.campaigns
    for code in _codes(world, name):
        for position in range(len(code) - 9, len(code)):
            wrong = codes.CODE_ALPHABET[(codes.CODE_ALPHABET.index(code[position]) + 7) % 32]
            assert not codes.is_well_formed(code[:position] + wrong + code[position + 1 :])


def _csv(world: World, name: str) -> httpx.Response:
    campaign = world.campaigns[name]
    return world.run(world.manager.get(f"/api/v1/admin/promo-campaigns/{campaign['id']}/codes.csv"))


@then(parsers.parse('le fichier CSV "{filename}" liste {count:d} codes tous différents'))
def csv_export(world: World, filename: str, count: int) -> None:
    (name,) = world.campaigns
    export = _csv(world, name)
    assert filename.replace(" ", "%20") in export.headers["content-disposition"]
    header, *rows = list(csv.reader(io.StringIO(export.text)))
    assert header == ["campaign", "code", "contact_email", "activated_at"]
    assert len({row[1] for row in rows}) == len(rows) == count


@then(parsers.parse('leurs {total:d} codes commencent tous par "{prefix}" et sont tous différents'))
def all_distinct(world: World, total: int, prefix: str) -> None:
    found = [
        row[1]
        for name in world.campaigns
        for row in list(csv.reader(io.StringIO(_csv(world, name).text)))[1:]
    ]
    assert len(found) == len(set(found)) == total
    assert all(code.startswith(prefix) for code in found)


@then(parsers.parse('la demande est refusée avec l\'erreur "{code}"'))
def refused(world: World, code: str) -> None:
    assert world.answer is not None
    assert (world.answer.status_code, world.answer.json()["error"]["code"]) == (422, code)


@then("aucune campagne n'existe")
def no_campaign(world: World) -> None:
    listed = world.run(world.manager.get("/api/v1/admin/promo-campaigns")).json()
    assert listed["count"] == 0


# --- site adhérent -------------------------------------------------------------------------


@given("un étudiant connecté avec son panier")
def student_with_cart(world: World) -> None:
    world.student = world.client("student-1")
    world.cart = world.run(cart_of(world.student))


def _first_campaign(world: World) -> str:
    return next(iter(world.campaigns))


@when("l'étudiant active un code de la campagne")
@given("l'étudiant a activé un code de la campagne")
def student_activates(world: World) -> None:
    assert world.student is not None
    world.code = _codes(world, _first_campaign(world))[0]
    world.answer = world.run(activate(world.student, world.cart["id"], world.code))


@when("un visiteur non identifié active un code de la campagne dans ce panier")
def anonymous_activates(world: World) -> None:
    code = _codes(world, _first_campaign(world))[0]
    world.answer = world.run(activate(world.client(), world.cart["id"], code))


@when(parsers.parse('l\'étudiant active le code "{code}"'))
def student_types(world: World, code: str) -> None:
    assert world.student is not None
    world.answer = world.run(activate(world.student, world.cart["id"], code))


@when("un autre étudiant a déjà utilisé un code de la campagne")
def someone_else_used(world: World) -> None:
    other = world.client("student-2")
    world.code = _codes(world, _first_campaign(world))[0]
    answer = world.run(activate(other, world.run(cart_of(other))["id"], world.code))
    assert answer.status_code == 200


@when("l'étudiant active ce même code")
def student_reuses(world: World) -> None:
    assert world.student is not None
    world.answer = world.run(activate(world.student, world.cart["id"], world.code))


@then(parsers.parse('la réponse est {status:d} "{message}" sans erreur'))
def answered(world: World, status: int, message: str) -> None:
    assert world.answer is not None
    assert (world.answer.status_code, world.answer.json()) == (
        status,
        {"code": status, "message": message, "errors": []},
    )


@then(parsers.parse('la réponse est {status:d} "{message}" avec l\'erreur "{error}"'))
def answered_error(world: World, status: int, message: str, error: str) -> None:
    assert world.answer is not None
    assert (world.answer.status_code, world.answer.json()) == (
        status,
        {"code": status, "message": message, "errors": [error]},
    )


@then(
    parsers.parse(
        'son panier contient "{title}" au tarif "{tariff}" à {price} € au lieu de {list_price} €'
    )
)
def cart_line(world: World, title: str, tariff: str, price: str, list_price: str) -> None:
    assert world.student is not None
    (item,) = world.run(cart_of(world.student))["items"]
    assert (item["product_title"], item["tariff"]) == (title, tariff)
    assert (item["unit_price"], item["list_price"]) == (price, list_price)


@then("le code est marqué utilisé par l'étudiant dans la campagne")
def code_used(world: World) -> None:
    campaign = world.campaigns[_first_campaign(world)]
    (used,) = world.run(codes_of(world.manager, campaign, used="true"))
    assert (used["code"], used["used_by"]) == (world.code, "student-1@example.org")


@when("l'étudiant choisit son moyen de paiement")
def select_payment(world: World) -> None:
    assert world.student is not None
    world.answer = world.run(
        world.student.post(
            f"/api/v2/checkouts/select-payment/{world.cart['id']}", json={"method_id": 1}
        )
    )


@then(parsers.parse('la réponse indique "{methods}" et le panier est validé'))
def nothing_to_pay(world: World, methods: str) -> None:
    assert world.answer is not None and world.answer.status_code == 200, world.answer.text
    assert world.answer.json()["methods"] == methods
    assert world.answer.json()["cart"]["state"] == "validated"


@then(parsers.parse("l'adhésion \"{title}\" de l'étudiant est active"))
def membership_active(world: World, title: str, sessionmaker) -> None:
    async def memberships() -> list[Membership]:
        async with sessionmaker() as session:
            return list((await session.scalars(select(Membership))).all())

    (member,) = world.run(memberships())
    assert (member.user_id, member.product_id, member.active) == (
        "student-1",
        world.product.id,
        True,
    )
    assert world.product.title == title


@then(
    parsers.parse(
        'le livre de caisse du jour montre "{label}" pour {amount} € dont {net} € encaissé'
    )
)
def cash_book(world: World, label: str, amount: str, net: str) -> None:
    today = datetime.now(UTC).date().isoformat()
    accountant = world.client("accountant-1", ("accountant",))
    book = world.run(
        accountant.get("/api/v1/admin/accounting/cash-book", params={"from": today, "to": today})
    ).json()
    (entry,) = book["entries"]
    assert (entry["label"], entry["amount"], entry["net_amount"]) == (label, amount, net)


# --- la vie d'une campagne après son lancement ------------------------------------------


def _campaign_url(world: World) -> str:
    return f"/api/v1/admin/promo-campaigns/{world.campaigns[_first_campaign(world)]['id']}"


def _nth_code(world: World, rank: str) -> str:
    index = {"premier": 0, "deuxième": 1}[rank]
    return _codes(world, _first_campaign(world))[index]


@given(parsers.parse('la campagne "{name}" prête qui se termine dans {seconds:d} secondes'))
def ending_campaign(world: World, name: str, seconds: int) -> None:
    world.ends = datetime.now(UTC) + timedelta(seconds=seconds)
    world.campaigns[name] = world.run(
        create_campaign(
            world.manager,
            world.product,
            name=name,
            count=3,
            valid_until=world.ends.isoformat(),
        )
    )
    world.run(until_status(world.manager, world.campaigns[name], "ready"))


@given(parsers.parse('la campagne "{name}" prête avec {limit:d} code par étudiant'))
def limited_campaign(world: World, name: str, limit: int) -> None:
    world.campaigns[name] = world.run(
        create_campaign(
            world.manager, world.product, name=name, count=5, max_codes_per_member=limit
        )
    )
    world.run(until_status(world.manager, world.campaigns[name], "ready"))


@when(parsers.parse('il crée la campagne "{name}" de {count:d} codes sans date de fin'))
def create_endless(world: World, name: str, count: int) -> None:
    world.campaigns[name] = world.run(
        create_campaign(world.manager, world.product, name=name, count=count, valid_until=None)
    )


@when(parsers.parse("le responsable {action} le {rank} code de la campagne"))
def revoke_or_restore(world: World, action: str, rank: str) -> None:
    verb = {"révoque": "revoke", "rétablit": "restore"}[action]
    code = _nth_code(world, rank)
    answer = world.run(world.manager.post(f"{_campaign_url(world)}/codes/{code}/{verb}"))
    assert answer.status_code == 200, answer.text


@when("le responsable désactive la campagne")
def disable(world: World) -> None:
    _set_active(world, False)


@when("le responsable réactive la campagne")
def enable(world: World) -> None:
    _set_active(world, True)


def _set_active(world: World, active: bool) -> None:
    answer = world.run(world.manager.patch(_campaign_url(world), json={"is_active": active}))
    assert answer.status_code == 200 and answer.json()["is_active"] is active, answer.text


@when(parsers.parse("le responsable repousse sa fin de {days:d} jours"))
def extend(world: World, days: int) -> None:
    later = (datetime.now(UTC) + timedelta(days=days)).isoformat()
    answer = world.run(world.manager.patch(_campaign_url(world), json={"valid_until": later}))
    assert answer.status_code == 200, answer.text


@when("son terme d'origine est passé")
def original_end_passed(world: World) -> None:
    # Nothing to poll for: the old end must come and go without effect.
    wait = (world.ends + timedelta(seconds=3) - datetime.now(UTC)).total_seconds()
    world.run(asyncio.sleep(max(wait, 0)))


@when(parsers.parse("le responsable ajoute {count:d} codes à la campagne"))
def add_codes(world: World, count: int) -> None:
    answer = world.run(world.manager.post(f"{_campaign_url(world)}/codes", json={"count": count}))
    assert answer.status_code == 202, answer.text


@when(parsers.parse("l'étudiant active le {rank} code de la campagne"))
def student_activates_nth(world: World, rank: str) -> None:
    assert world.student is not None
    world.answer = world.run(activate(world.student, world.cart["id"], _nth_code(world, rank)))


@then("la campagne est toujours prête")
def still_ready(world: World) -> None:
    found = world.run(world.manager.get(_campaign_url(world))).json()
    assert found["status"] == "ready"


@then("la campagne n'a pas de date de fin")
def no_end(world: World) -> None:
    assert world.run(world.manager.get(_campaign_url(world))).json()["valid_until"] is None


@when("l'étudiant retire cette ligne de son panier")
def remove_line(world: World) -> None:
    assert world.student is not None
    (line,) = world.run(cart_of(world.student))["items"]
    path = f"/api/v2/carts/{world.cart['id']}/items/{line['id']}"
    world.answer = world.run(world.student.delete(path))
    assert world.answer.status_code == 200, world.answer.text


@then("son panier est vide")
def cart_empty(world: World) -> None:
    assert world.student is not None
    assert world.run(cart_of(world.student))["items"] == []


@then("un autre étudiant peut activer ce code")
def another_takes_it(world: World) -> None:
    other = world.client("student-2")
    answer = world.run(activate(other, world.run(cart_of(other))["id"], world.code))
    assert answer.status_code == 200, answer.text
