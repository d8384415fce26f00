"""Contracts and their signature: submit, who has signed, provider webhooks,
and the embedded (dummy) signature page."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.auth import Role
from api.deps import (
    CurrentUser,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    require_roles,
)
from api.errors import ERROR_RESPONSES, HTML_ROUTE_ERROR_RESPONSES, WEBHOOK_RESPONSES
from api.observability import timed_webhook
from api.pagination import Page, PageDep, build_page
from api.schemas.orders import ContractOut, InvitationLink, SignatureStateOut
from domain.errors import BadRequest, error_class
from domain.signatures import Recipient
from services import orders as order_services
from services import signatures

router = APIRouter(prefix="/api/v1/contracts", tags=["contracts"], responses=ERROR_RESPONSES)
orders_router = APIRouter(prefix="/api/v1/orders", tags=["contracts"], responses=ERROR_RESPONSES)
admin_router = APIRouter(
    prefix="/api/v1/admin/contracts",
    tags=["admin: contracts"],
    dependencies=[Depends(require_roles())],
    responses=ERROR_RESPONSES,
)
webhooks_router = APIRouter(
    prefix="/api/v1/webhooks", tags=["webhooks"], responses=WEBHOOK_RESPONSES
)
dummy_router = APIRouter(
    prefix="/api/v1/dummy-signature", tags=["dummy signature"], responses=HTML_ROUTE_ERROR_RESPONSES
)

UnknownSigner = error_class(BadRequest, "unknown_signer")

_pages = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[2] / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _owner(user) -> str | None:
    """Whose contracts the caller sees: their own, or any for an admin."""
    return None if user.has_any_role(Role.ADMIN) else user.sub


@orders_router.post(
    "/{order_id}/submit-for-signature",
    summary="Submit the order's contract for signature",
    description="Returns the learner's invitation link: submits the contract if it is not, "
    "or not anymore (expired, refused), else asks the link again. 409 `order_not_signable` "
    "(no contract, signed already, or the order is over).",
)
async def submit_for_signature(
    order_id: uuid.UUID,
    user: CurrentUser,
    session: ReadSessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> InvitationLink:
    link = await order_services.submit_for_signature(
        session=session, temporal=temporal, settings=settings, owner_id=user.sub, order_id=order_id
    )
    return InvitationLink(invitation_link=link)


@router.get("", summary="List my contracts")
async def list_contracts(
    request: Request, user: CurrentUser, session: ReadSessionDep, params: PageDep
) -> Page[ContractOut]:
    count, found = await signatures.page(
        session=session, owner_id=user.sub, offset=params.offset, limit=params.page_size
    )
    return build_page(
        request=request,
        params=params,
        count=count,
        results=[ContractOut.model_validate(item) for item in found],
    )


@router.get("/{contract_id}", summary="Read one of my contracts")
async def read_contract(
    contract_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep
) -> ContractOut:
    contract = await signatures.visible(
        session=session, contract_id=contract_id, owner_id=_owner(user)
    )
    return ContractOut.model_validate(contract)


@router.get(
    "/{contract_id}/signature-state",
    summary="Who has signed, as the provider says now",
    description="While the contract is out for signature, asks the provider (within about "
    "2 s) before answering; otherwise, or if it is slow, answers from what is recorded.",
)
async def signature_state(
    contract_id: uuid.UUID, user: CurrentUser, session: ReadSessionDep, temporal: TemporalDep
) -> SignatureStateOut:
    contract = await signatures.signature_state(
        session=session, temporal=temporal, contract_id=contract_id, owner_id=_owner(user)
    )
    return SignatureStateOut(
        student=contract.student_signed_on is not None,
        organization=contract.organization_signed_on is not None,
    )


@admin_router.get("", summary="List all contracts")
async def admin_list_contracts(
    request: Request, session: ReadSessionDep, params: PageDep
) -> Page[ContractOut]:
    count, found = await signatures.page(
        session=session, owner_id=None, offset=params.offset, limit=params.page_size
    )
    return build_page(
        request=request,
        params=params,
        count=count,
        results=[ContractOut.model_validate(item) for item in found],
    )


# --- webhooks -------------------------------------------------------------------------


@webhooks_router.post(
    "/signature/{backend}",
    summary="Signature provider notifications",
    description="Verified, stored once per (backend, event id), then passed to the contract's "
    "signature workflow. 200 once stored, even for an unknown contract; 401 if not authentic, "
    "400 if unreadable.",
)
async def signature_webhook(
    backend: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> dict[str, str]:
    started = time.perf_counter()
    status = await signatures.receive_webhook(
        session=session,
        temporal=temporal,
        provider=request.app.state.signature_provider,
        configured=settings.signature_backend.value,
        backend=backend,
        headers=request.headers,
        body=await request.body(),
    )
    timed_webhook(request, f"signature_{backend}", started)
    return {"status": status}


# --- the dummy provider's page -------------------------------------------------------


async def _page(
    request: Request, reference: str, recipient: Recipient, key: str, message: str | None = None
) -> HTMLResponse:
    procedure = await signatures.dummy_procedure(
        provider=request.app.state.signature_provider,
        reference=reference,
        recipient=recipient,
        key=key,
    )
    signed = (
        procedure.student_signed
        if recipient is Recipient.STUDENT
        else procedure.organization_signed
    )
    name = (
        procedure.student.name
        if recipient is Recipient.STUDENT
        else ", ".join(item.name for item in procedure.organization_signers) or "Organization"
    )
    html = _pages.get_template("dummy_signature.html").render(
        procedure=procedure,
        recipient=recipient.value,
        key=key,
        signer_name=name,
        already_signed=signed,
        message=message,
    )
    return HTMLResponse(html)


@dummy_router.get("/{reference}", summary="The dummy signature page", response_class=HTMLResponse)
async def dummy_page(
    reference: str, request: Request, signer: Recipient = Recipient.STUDENT, key: str = ""
) -> HTMLResponse:
    """For the signer its link was issued to (`key`); another is a 404."""
    return await _page(request, reference, signer, key)


@dummy_router.post(
    "/{reference}", summary="Sign or refuse on the dummy page", response_class=HTMLResponse
)
async def dummy_sign(reference: str, request: Request) -> HTMLResponse:
    form = parse_qs((await request.body()).decode(errors="replace"))
    signer = form.get("signer", [Recipient.STUDENT.value])[0]
    if signer not in {item.value for item in Recipient}:
        raise UnknownSigner(f"Unknown signer {signer!r}.")
    recipient = Recipient(signer)
    key = form.get("key", [""])[0]
    message = await signatures.dummy_act(
        provider=request.app.state.signature_provider,
        reference=reference,
        recipient=recipient,
        key=key,
        action=form.get("action", [""])[0],
    )
    return await _page(request, reference, recipient, key, message=message)
