"""Custom search attributes: what an operator finds processes by in the
Temporal Web UI and `temporal workflow list --query`, without knowing an id.

Ids, codes and states only, never an email or a name: Temporal's visibility
store is not encrypted. Registered by the dev server's flags (`guichet dev`,
the tests) and by `guichet temporal setup` on a cluster; a worker refuses to
start where one is missing (a workflow upserting it would fail its tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.orders import PAYABLE_NOW, InstallmentInfo, InstallmentState, OrderProcess
from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributeUpdate,
)

KIND = SearchAttributeKey.for_keyword("GuichetKind")
ORDER_STATE = SearchAttributeKey.for_keyword("GuichetOrderState")
LEARNER = SearchAttributeKey.for_keyword("GuichetLearner")
OFFERING = SearchAttributeKey.for_keyword("GuichetOffering")
PRODUCT = SearchAttributeKey.for_keyword("GuichetProduct")
ORGANIZATION = SearchAttributeKey.for_keyword("GuichetOrganization")
CAMPAIGN = SearchAttributeKey.for_keyword("GuichetCampaign")
NEXT_DUE_AT = SearchAttributeKey.for_datetime("GuichetNextDueAt")
OVERDUE_SINCE = SearchAttributeKey.for_datetime("GuichetOverdueSince")

ALL: tuple[SearchAttributeKey, ...] = (
    KIND,
    ORDER_STATE,
    LEARNER,
    OFFERING,
    PRODUCT,
    ORGANIZATION,
    CAMPAIGN,
    NEXT_DUE_AT,
    OVERDUE_SINCE,
)

# Runs started before search attributes existed replay without upserting
# them (and stay unindexed: find them in the database).
PATCH = "search-attributes"

# What `temporal server start-dev --search-attribute NAME=TYPE` calls the types.
_CLI_TYPES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
}

Value = str | datetime | None


def dev_server_flags() -> list[str]:
    """`--search-attribute` flags registering every attribute on a dev server."""
    flags = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type]}"]
    return flags


def update(key: SearchAttributeKey, value: Value) -> SearchAttributeUpdate:
    """Set `key`, or unset it for None (an attribute that no longer applies)."""
    return key.value_unset() if value is None else key.value_set(value)


def order_attributes(process: OrderProcess) -> list[tuple[SearchAttributeKey, Value]]:
    snapshot = process.snapshot
    return [
        (ORDER_STATE, process.state.value),
        (LEARNER, snapshot.owner_id),
        (PRODUCT, str(snapshot.product_id) if snapshot.product_id else None),
        (ORGANIZATION, snapshot.organization_code),
        (NEXT_DUE_AT, process.next_due_at),
        (OVERDUE_SINCE, process.overdue_since),
    ]


def order_details(process: OrderProcess) -> str:
    """What is next for the order, as the Web UI shows it ("current details")."""
    snapshot = process.snapshot
    schedule = snapshot.schedule
    lines = [f"state: {process.state.value}"]

    def installment(item: InstallmentInfo) -> str:
        amount = f", {item.amount} {snapshot.currency or ''}".rstrip() if item.amount else ""
        return f"installment {schedule.index(item) + 1}/{len(schedule)}{amount}"

    refused = [item for item in schedule if item.state in PAYABLE_NOW]
    for item in refused:
        reason = f" ({item.decline_code})" if item.decline_code else ""
        lines.append(f"overdue: {installment(item)}, {item.state.value}{reason}")
    waiting = [item for item in schedule if item.state is InstallmentState.PENDING]
    if waiting and not process.is_over:
        item = min(waiting, key=lambda each: each.due_at)
        lines.append(f"next: {installment(item)}, due {item.due_at:%Y-%m-%d}")
    if process.suspended:
        lines.append("enrollments suspended until paid")
    return "\n".join(lines)


class Index:
    """A workflow's search attributes: set at its start, then each one again
    only when its value changes (an upsert is a command in the history)."""

    def __init__(self) -> None:
        self._on: bool | None = None
        self._current: dict[str, Value] = {}

    def set(self, values: Sequence[tuple[SearchAttributeKey, Value]]) -> None:
        if self._on is None:
            self._on = workflow.patched(PATCH)
        if not self._on:
            return
        # Never set and None: nothing to unset.
        changed = [(key, value) for key, value in values if self._current.get(key.name) != value]
        if not changed:
            return
        workflow.upsert_search_attributes([update(key, value) for key, value in changed])
        self._current.update({key.name: value for key, value in changed})


def index_start(kind: str, *values: tuple[SearchAttributeKey, Value]) -> Index:
    """A new run's index with its kind (and what else it knows at its start)."""
    index = Index()
    index.set([(KIND, kind), *values])
    return index
