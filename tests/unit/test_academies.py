"""The academy rules without I/O: catalogue normalisation, settings' rules,
which prices count, and checkout intents' transitions."""

from __future__ import annotations

import uuid

import pytest

from domain.academies import (
    TRANSITIONS,
    IntentState,
    InvalidIntentTransition,
    SyncRules,
    apply_rules,
    check_intent_transition,
    keep_price,
    normalise,
)

RAW = {
    "uuid": "00000000-0000-4000-8000-000000000001",
    "title": " AI Academy ",
    "short_description": "Short.",
    "long_description": "Long.",
    "image": {"url": "/media/ai.png"},
    "tags": [{"title": "AI"}, {"title": ""}, {"title": "Data"}],
}


def test_a_catalogue_academy_in_our_terms() -> None:
    academy = normalise(RAW)
    assert academy.external_uuid == uuid.UUID(RAW["uuid"])
    assert (academy.name, academy.description) == ("AI Academy", "Short.")
    assert academy.thumbnail_url == "/media/ai.png"
    assert academy.tags == ["AI", "Data"]
    assert normalise(RAW | {"short_description": ""}).description == "Long."


def test_rules_allowlist_overrides_and_query_ids() -> None:
    ai, data = normalise(RAW), normalise({"title": "Data Academy"})
    rules = SyncRules(
        allowlist=frozenset({"data academy", RAW["uuid"]}),
        overrides={"DATA ACADEMY": {"stripe_product_id": "prod_data"}},
        catalog_query_ids={RAW["uuid"]: 7},
        default_catalog_query_id=1,
    )
    kept, skipped = apply_rules([ai, data, normalise({"title": "Other"})], rules)
    assert skipped == 1
    assert [(item.name, item.catalog_query_id) for item in kept] == [
        ("AI Academy", 7),
        ("Data Academy", 1),
    ]
    assert kept[1].stripe_product_id == "prod_data"
    # No allowlist: everything named is kept.
    assert apply_rules([ai, normalise({"title": ""})], SyncRules()) == ([ai], 1)


def test_only_recurring_prices_with_a_lookup_key_count() -> None:
    assert keep_price({"lookup_key": "k", "recurring": {"interval": "month"}})
    assert not keep_price({"lookup_key": None, "recurring": {"interval": "month"}})
    assert not keep_price({"lookup_key": "k", "recurring": None})


@pytest.mark.parametrize("current", list(IntentState))
@pytest.mark.parametrize("target", list(IntentState))
def test_intent_transitions(current: IntentState, target: IntentState) -> None:
    allowed = {
        (IntentState.CREATED, IntentState.PAID),
        (IntentState.CREATED, IntentState.EXPIRED),
        (IntentState.PAID, IntentState.FULFILLED),
        (IntentState.PAID, IntentState.ERRORED_BACKOFFICE),
        (IntentState.PAID, IntentState.ERRORED_FULFILLMENT_STALLED),
        (IntentState.PAID, IntentState.ERRORED_PROVISIONING),
        (IntentState.ERRORED_BACKOFFICE, IntentState.FULFILLED),
        (IntentState.ERRORED_FULFILLMENT_STALLED, IntentState.FULFILLED),
        (IntentState.ERRORED_PROVISIONING, IntentState.FULFILLED),
        (IntentState.EXPIRED, IntentState.CREATED),
    }
    assert set(TRANSITIONS) == set(IntentState)
    if (current, target) in allowed:
        check_intent_transition(current, target)
    else:
        with pytest.raises(InvalidIntentTransition) as refused:
            check_intent_transition(current, target)
        assert refused.value.status == 409
