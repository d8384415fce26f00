"""The remote codec the Temporal Web UI calls (`guichet codec-server`): it
decodes the encrypted payloads of a history for an admin, and nobody else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.auth import Claims, Forbidden, Role, Unauthenticated
from api.deps import optional_claims
from api.errors import ERROR_RESPONSES
from services import codec
from settings import Settings

router = APIRouter(tags=["codec"], responses=ERROR_RESPONSES)


async def admin_only(
    request: Request, claims: Annotated[Claims | None, Depends(optional_claims)]
) -> None:
    """Payloads hold learners' personal data: admins read them, only. In dev
    mode (`guichet dev`, demo data on this machine) the Web UI, which has no
    token to pass, is let through from its own origin."""
    settings: Settings = request.app.state.settings
    origin = request.headers.get("origin", "")
    if claims is None and settings.dev_mode and origin in settings.codec_cors_origins:
        return
    if claims is None:
        raise Unauthenticated("Authentication is required.")
    if not claims.has_any_role(Role.ADMIN):
        raise Forbidden("Decoding payloads is for admins.")


Admin = Annotated[None, Depends(admin_only)]
JSON = "application/json"


@router.post("/decode", summary="Decode payloads (Temporal remote codec)")
async def decode(request: Request, _admin: Admin) -> Response:
    body = await codec.decode(codec=request.app.state.codec, body=await request.body())
    return Response(body, media_type=JSON)


@router.post("/encode", summary="Encode payloads (Temporal remote codec)")
async def encode(request: Request, _admin: Admin) -> Response:
    body = await codec.encode(codec=request.app.state.codec, body=await request.body())
    return Response(body, media_type=JSON)
