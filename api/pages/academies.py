"""Back office: academies as synced from the catalogue, their prices, the
last sync's result and a "sync now" button (admin)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import Claims
from api.pages.access import PREFIX, csrf_checked, render, see_other, staff_with
from domain.errors import DomainError
from services import academies as academy_services

Admin = Annotated[Claims, Depends(staff_with())]
router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/academies")
async def academies_page(request: Request, staff: Admin) -> HTMLResponse:
    async with request.app.state.read_sessionmaker() as session:
        found = await academy_services.products(session=session, tags=[], include_inactive=True)
        last = await academy_services.last_sync(session=session)
    return render(
        request,
        "academies.html",
        staff=staff,
        academies=found,
        last=last,
        notice=request.query_params.get("done"),
    )


@router.post("/academies/sync", dependencies=[Depends(csrf_checked)])
async def sync_now(request: Request, staff: Admin) -> Response:
    try:
        workflow_id = await academy_services.trigger_sync(
            temporal=request.app.state.temporal, settings=request.app.state.settings
        )
    except DomainError as error:
        return see_other(f"{PREFIX}/academies?done={quote(error.message)}")
    done = f"Sync started ({workflow_id}); reload in a few seconds for its result."
    return see_other(f"{PREFIX}/academies?done={quote(done)}")
