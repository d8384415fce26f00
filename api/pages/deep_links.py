"""Back office: an offering's page, its selling organizations and its CPF
deep links (admin). The offerings list and creation are catalogue pages
(api/pages/catalog.py).

Every change goes through services/deep_links.py and services/catalog.py,
the functions the JSON API calls: a refusal there (an active link deleted, a
URL used elsewhere, an organization removed while it has a link…) is shown
on the page with its reason."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.auth import Claims
from api.cache import cleared_after_writes
from api.pages.access import (
    PREFIX,
    csrf_checked,
    render,
    see_other,
    staff_with,
)
from api.schemas.catalog import OfferingUpdate
from domain.errors import DomainError
from services import catalog, deep_links

Admin = Annotated[Claims, Depends(staff_with())]
router = APIRouter(
    prefix=PREFIX, include_in_schema=False, dependencies=[Depends(cleared_after_writes)]
)


async def _offering_page(
    request: Request,
    staff: Claims,
    offering_id: uuid.UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> HTMLResponse:
    async with request.app.state.read_sessionmaker() as session:
        offering = (await catalog.get_offering(session=session, id=offering_id)).offering
        links = await deep_links.list_for_offering(session=session, offering_id=offering_id)
        organizations = await catalog.organizations_by_title(session=session)
    names = {item.id: item.title for item in offering.organizations}
    return render(
        request,
        "offering.html",
        staff=staff,
        offering=offering,
        links=links,
        names=names,
        organizations=organizations,
        selling={item.id for item in offering.organizations},
        free_organizations=[
            item
            for item in offering.organizations
            if item.id not in {link.organization_id for link in links}
        ],
        error=error,
        notice=notice,
        status_code=status_code,
    )


@router.get("/offerings/{offering_id}")
async def offering(request: Request, staff: Admin, offering_id: uuid.UUID) -> HTMLResponse:
    return await _offering_page(
        request, staff, offering_id, notice=request.query_params.get("done")
    )


async def _change(
    request: Request, staff: Claims, offering_id: uuid.UUID, change, done: str
) -> Response:
    """One transaction; a refusal re-renders the page with its reason and status."""
    try:
        async with request.app.state.sessionmaker.begin() as session:
            await change(session)
    except DomainError as error:
        return await _offering_page(
            request, staff, offering_id, error=error.message, status_code=error.status
        )
    return see_other(f"{PREFIX}/offerings/{offering_id}?done={quote(done)}")


@router.post("/offerings/{offering_id}/organizations", dependencies=[Depends(csrf_checked)])
async def set_organizations(request: Request, staff: Admin, offering_id: uuid.UUID) -> Response:
    """The organizations that sell it: those ticked (at least one)."""
    ticked = (await request.form()).getlist("organization_ids")
    try:
        body = OfferingUpdate.model_validate({"organization_ids": ticked})
    except ValidationError:
        said = "Tick at least one organization: an offering is sold by someone."
        return await _offering_page(request, staff, offering_id, error=said, status_code=422)

    async def change(session) -> None:
        await catalog.set_offering_organizations(
            session=session, id=offering_id, organization_ids=body.organization_ids
        )

    return await _change(request, staff, offering_id, change, "Organizations saved.")


@router.post("/offerings/{offering_id}/deep-links", dependencies=[Depends(csrf_checked)])
async def add_link(
    request: Request,
    staff: Admin,
    offering_id: uuid.UUID,
    organization_id: Annotated[uuid.UUID, Form()],
    deep_link: Annotated[str, Form()],
    is_active: Annotated[bool, Form()] = False,
) -> Response:
    async def change(session) -> None:
        await deep_links.create_link(
            session=session,
            offering_id=offering_id,
            organization_id=organization_id,
            deep_link=deep_link,
            is_active=is_active,
        )

    return await _change(request, staff, offering_id, change, "Deep link added.")


@router.post("/offerings/{offering_id}/deep-links/activation", dependencies=[Depends(csrf_checked)])
async def activate_all(
    request: Request, staff: Admin, offering_id: uuid.UUID, is_active: Annotated[bool, Form()]
) -> Response:
    async def change(session) -> None:
        await deep_links.set_all_active(
            session=session, offering_id=offering_id, is_active=is_active
        )

    done = "Every deep link activated." if is_active else "Every deep link deactivated."
    return await _change(request, staff, offering_id, change, done)


@router.post("/offerings/{offering_id}/deep-links/{link_id}", dependencies=[Depends(csrf_checked)])
async def edit_link(
    request: Request,
    staff: Admin,
    offering_id: uuid.UUID,
    link_id: uuid.UUID,
    action: Annotated[str, Form()],
    deep_link: Annotated[str, Form()] = "",
) -> Response:
    """`action`: save (a new URL), toggle (on ↔ off) or delete (inactive only)."""

    async def change(session) -> None:
        await deep_links.edit_offering_link(
            session=session,
            offering_id=offering_id,
            link_id=link_id,
            action=action,
            deep_link=deep_link,
        )

    done = {"delete": "Deep link deleted.", "toggle": "Deep link switched."}.get(
        action, "Deep link saved."
    )
    return await _change(request, staff, offering_id, change, done)
