"""Back-office access: staff log in by pasting a JWT; the server opens a
session (services/access.py) whose random secret the browser keeps in an
HttpOnly, SameSite=Strict cookie, and logging out ends it for good; pages
check roles as the API does; every form carries a CSRF token.

The CSRF token is an HMAC, under the JWT secret, of the session's secret
once logged in (a token from any other session, the attacker's own
included, is refused), and of a random per-browser seed on the login form."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Claims, Role, Unauthenticated, verify_token
from api.deps import ensure_user
from domain.errors import DomainError
from domain.payment_schedule import PARIS
from services import access

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "backoffice"
SESSION_COOKIE = "guichet_staff"
CSRF_COOKIE = "guichet_csrf"
PREFIX = "/backoffice"
STAFF_ROLES = (Role.ADMIN, Role.PROMO_MANAGER, Role.ACCOUNTANT)

templates = Jinja2Templates(directory=TEMPLATES)

# The colour of an order's or installment's state chip, by what it asks of
# an operator: done, under way, needs attention, over. Others are grey.
TONES = {
    "ok": {"completed", "paid"},
    "info": {
        "assigned",
        "to_own",
        "to_sign_and_to_save_payment_method",
        "to_sign",
        "signing",
        "to_save_payment_method",
        "pending",
        "pending_payment",
        "refunding",
    },
    "warn": {"no_payment", "failed_payment", "refused", "action_required", "error"},
}


def tone(state: object) -> str:
    """The chip class of a state (`ok`, `info`, `warn`, or `off`)."""
    value = getattr(state, "value", state)
    return next((name for name, states in TONES.items() if value in states), "off")


def paris(moment: datetime | None) -> str:
    """A moment as operators in France read it: Paris time, to the second."""
    if moment is None:
        return ""
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S")


def paris_input(moment: object) -> str:
    """A moment as a `datetime-local` field holds it, in Paris time; what was
    typed (a refused form shown again) stays as typed; nothing is empty."""
    if isinstance(moment, datetime):
        return moment.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")
    return str(moment) if isinstance(moment, str) else ""


def paris_moment(text: str) -> datetime | None:
    """A `datetime-local` field, typed in Paris time as every page shows
    times; the API keeps UTC. Empty: None."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"Not a date and time: {text!r}") from None
    return moment.replace(tzinfo=PARIS) if moment.tzinfo is None else moment


def refusal_of(error: Exception) -> tuple[str, int]:
    """What a page says of a refused form, and its status."""
    if isinstance(error, ValidationError):
        text = "; ".join(
            f"{'.'.join(map(str, item['loc'])) or 'form'}: {item['msg']}" for item in error.errors()
        )
        return text, 422
    if isinstance(error, DomainError):
        return error.message, error.status
    return str(error), 422


templates.env.globals["tone"] = tone
templates.env.filters["paris"] = paris
templates.env.filters["paris_input"] = paris_input
templates.env.filters["format_signatory"] = lambda person: f"{person['name']} <{person['email']}>"


@dataclass(frozen=True)
class MenuEntry:
    label: str
    path: str
    roles: tuple[Role, ...]  # admin sees everything


MENU = (
    MenuEntry("Offerings", f"{PREFIX}/offerings", ()),
    MenuEntry("Courses", f"{PREFIX}/courses", ()),
    MenuEntry("Course runs", f"{PREFIX}/course-runs", ()),
    MenuEntry("Products", f"{PREFIX}/products", ()),
    MenuEntry("Organizations", f"{PREFIX}/organizations", ()),
    MenuEntry("Orders", f"{PREFIX}/orders", ()),
    MenuEntry("Payment issues", f"{PREFIX}/payment-issues", ()),
    MenuEntry("Vouchers", f"{PREFIX}/vouchers", ()),
    MenuEntry("Promo campaigns", f"{PREFIX}/promo-campaigns", (Role.PROMO_MANAGER,)),
    MenuEntry("Cash book", f"{PREFIX}/cash-book", (Role.ACCOUNTANT,)),
    MenuEntry("Academies", f"{PREFIX}/academies", ()),
)


class LoginRequired(Exception):
    """No valid staff session: the page sends the browser to the login form."""


class PageForbidden(Exception):
    """A staff member without the role of the page."""


def _may(staff: Claims, roles: tuple[Role, ...]) -> bool:
    return staff.has_any_role(Role.ADMIN, *roles)


async def _staff(request: Request) -> Claims:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise LoginRequired
    async with request.app.state.read_sessionmaker() as session:
        claims = await access.session_claims(session=session, secret=secret)
    if claims is None:
        raise LoginRequired
    return Claims.model_validate(claims)


def staff_with(*roles: Role):
    """A page's dependency: a logged-in staff member holding one of `roles`
    (admin always), written to the users table like an API caller."""

    async def check(request: Request) -> Claims:
        staff = await _staff(request)
        if not _may(staff, roles):
            raise PageForbidden
        await ensure_user(request, staff)
        return staff

    return check


# --- CSRF ------------------------------------------------------------------------------------


def _csrf_binding(request: Request) -> str:
    """What this browser's CSRF token is bound to: its session once logged
    in, its random seed before."""
    return request.cookies.get(SESSION_COOKIE) or _browser_secret(request)


def _browser_secret(request: Request) -> str:
    """This browser's random CSRF seed (made on its first page)."""
    existing = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_seed", None)
    if existing:
        return existing
    request.state.csrf_seed = secrets.token_urlsafe(32)
    return request.state.csrf_seed


def csrf_token(request: Request) -> str:
    key = request.app.state.settings.require_jwt_secret().encode()
    binding = _csrf_binding(request).encode()
    return hmac.new(key, b"backoffice-csrf:" + binding, hashlib.sha256).hexdigest()


async def csrf_checked(
    request: Request, csrf_token_field: Annotated[str, Form(alias="csrf_token")] = ""
) -> None:
    """Every back-office POST: 403 without the form's CSRF token."""
    known = request.cookies.get(SESSION_COOKIE) or request.cookies.get(CSRF_COOKIE)
    if not known or not hmac.compare_digest(csrf_token_field, csrf_token(request)):
        raise PageForbidden


# --- rendering -------------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    *,
    staff: Claims | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page with the menu the staff member may see and this browser's CSRF token."""
    response = templates.TemplateResponse(
        request,
        template,
        {
            "staff": staff,
            "settings": request.app.state.settings,
            "menu": [entry for entry in MENU if staff and _may(staff, entry.roles)],
            "csrf_token": csrf_token(request),
            **context,
        },
        status_code=status_code,
    )
    _keep_csrf_seed(request, response)
    return response


def _keep_csrf_seed(request: Request, response: Response) -> None:
    if CSRF_COOKIE not in request.cookies:
        response.set_cookie(
            CSRF_COOKIE,
            _browser_secret(request),
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path=PREFIX,
        )


def _secure(request: Request) -> bool:
    return request.app.state.settings.effective_public_url.startswith("https://")


PAGE_SIZE = 50
# As the JSON API's bound: a page number past it (10**18) would overflow the
# database's OFFSET.
MAX_PAGE = 1_000_000


def page_number(page: int) -> int:
    """The page asked for, within 1..MAX_PAGE."""
    return min(max(page, 1), MAX_PAGE)


def pages_of(count: int) -> int:
    """How many pages of PAGE_SIZE rows `count` rows make (at least one)."""
    return max(1, -(-count // PAGE_SIZE))


def see_other(path: str) -> RedirectResponse:
    """After a POST: the browser GETs the result (refreshing it posts nothing again)."""
    return RedirectResponse(path, status_code=303)


# --- response headers -----------------------------------------------------------------------

# Scripts, styles and images from the back office itself only; never framed
# (clickjacking a refund button); no referrer leaving with an order id; and
# nothing kept in a shared cache once staff log out.
SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
)


class BackOfficeHeaders:
    """Adds SECURITY_HEADERS to every back-office response."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(f"{PREFIX}/"):
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                kept = [item for item in message.get("headers", []) if item[0] not in names]
                message["headers"] = [*kept, *SECURITY_HEADERS]
            await send(message)

        await self._app(scope, receive, with_headers)


# --- routes ----------------------------------------------------------------------------------

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    try:
        staff = await _staff(request)
    except LoginRequired:
        return see_other(f"{PREFIX}/login")
    first = next((entry for entry in MENU if _may(staff, entry.roles)), None)
    return see_other(first.path if first else f"{PREFIX}/login")


@router.get("/login")
async def login_form(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "login.html", staff=None, next=_local(next), error=None)


@router.post("/login", dependencies=[Depends(csrf_checked)])
async def login(
    request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""
) -> Response:
    settings = request.app.state.settings
    try:
        claims, expires_at = verify_token(token=token.strip(), settings=settings)
    except Unauthenticated as error:
        return _login_refused(request, next, error.message)
    if not claims.has_any_role(*STAFF_ROLES):
        return _login_refused(request, next, "This token gives no access to the back office.")
    async with request.app.state.sessionmaker.begin() as session:
        secret = await access.open_session(
            session=session,
            replacing=request.cookies.get(SESSION_COOKIE),
            user_id=claims.sub,
            claims=claims.model_dump(),
            expires_at=expires_at,
        )
    response = see_other(_local(next) or f"{PREFIX}/")
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=PREFIX,
    )
    return response


def _login_refused(request: Request, next: str, message: str) -> HTMLResponse:
    return render(
        request, "login.html", staff=None, next=_local(next), error=message, status_code=401
    )


def _local(path: str) -> str:
    """Only back-office paths: `next` must not send anyone elsewhere."""
    return path if path.startswith(f"{PREFIX}/") and "//" not in path else ""


@router.post("/logout", dependencies=[Depends(csrf_checked)])
async def logout(request: Request) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        async with request.app.state.sessionmaker.begin() as session:
            await access.close_session(session=session, secret=secret)
    response = see_other(f"{PREFIX}/login")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


def install(app: FastAPI) -> None:
    """The pages' static files and the answers of their access errors."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=TEMPLATES / "static"), name="backoffice")
    app.add_middleware(BackOfficeHeaders)

    async def to_login(request: Request, _exc: Exception) -> Response:
        return see_other(f"{PREFIX}/login?next={quote(request.url.path)}")

    async def forbidden(request: Request, _exc: Exception) -> Response:
        staff = None
        with contextlib.suppress(LoginRequired):
            staff = await _staff(request)
        return render(request, "forbidden.html", staff=staff, status_code=403)

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(PageForbidden, forbidden)
