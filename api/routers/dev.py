"""Development helpers, served only with GUICHET_DEV_MODE=true (`guichet dev`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from api.deps import SettingsDep
from api.errors import HTML_ROUTE_ERROR_RESPONSES
from domain.emails import EmailKind
from domain.errors import NotFound, error_class
from services import emails

router = APIRouter(prefix="/api/v1/dev", tags=["dev"], responses=HTML_ROUTE_ERROR_RESPONSES)
DevModeOff = error_class(NotFound, "not_found")


@router.get(
    "/mail-preview/{template}",
    summary="Render an email template with sample data (dev mode only)",
    response_class=HTMLResponse,
)
async def mail_preview(
    template: EmailKind,
    settings: SettingsDep,
    lang: Annotated[Literal["fr", "en"], Query()] = "fr",
    format: Annotated[Literal["html", "text"], Query()] = "html",
) -> Response:
    if not settings.dev_mode:
        raise DevModeOff("Not Found")
    mail = emails.preview(kind=template, language=lang)
    if format == "text":
        return PlainTextResponse(f"Subject: {mail.subject}\n\n{mail.text}")
    return HTMLResponse(mail.html)
