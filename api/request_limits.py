"""What every request must respect before any route sees it.

A cap on request bodies (GUICHET_MAX_BODY_BYTES): a webhook or a form is
read whole before its signature or CSRF token can be checked, so an
unauthenticated 300 MB POST once took the API from 190 MB to 800 MB. Over
the cap: 413 `payload_too_large`, and what was sent past the cap is never
buffered.

No NUL character in the path or the query: PostgreSQL text cannot hold one,
so a `%00` in a path parameter or a filter reached the database as a 500.
It is a 422 `validation_error` naming where it was, as for a body."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        where = _nul_in(scope)
        if where is not None:
            await _refuse_nul(where, scope, receive, send)
            return
        declared, framed = self._framing(scope)
        if declared > self._max:
            await self._refuse(scope, receive, send)
            return
        if not framed:
            # Neither a length nor chunks: HTTP/1.1 says there is no body
            # (every GET of a page or a link): nothing to read or cap.
            await self._app(scope, receive, send)
            return
        # Read up to the cap here (routes read whole bodies anyway), then
        # hand the body on: a chunked body that lies about nothing is capped too.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self._app(scope, _replaying(message, receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self._max:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self._app(scope, _replaying(whole, receive), send)

    @staticmethod
    def _framing(scope: Scope) -> tuple[int, bool]:
        """(the declared length, whether a body may follow at all)."""
        length, framed = 0, False
        for name, value in scope["headers"]:
            if name == b"content-length":
                framed = True
                try:
                    length = int(value)
                except ValueError:
                    length = 0  # the server refuses a malformed length itself
            elif name == b"transfer-encoding":
                framed = True
        return length, framed

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"The request body is larger than {self._max} bytes.",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _replaying(first: Message, receive: Receive) -> Receive:
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _nul_in(scope: Scope) -> list[str] | None:
    """Where a NUL character is (["path"] or ["query", name]), if anywhere."""
    if "\x00" in scope["path"]:  # the server has decoded the path already
        return ["path"]
    raw = scope.get("query_string", b"")
    if b"%00" not in raw and b"\x00" not in raw:
        return None  # the common case, without parsing the query
    query = raw.decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return ["query", name.replace("\x00", "")]
    return None


async def _refuse_nul(where: list[str], scope: Scope, receive: Receive, send: Send) -> None:
    details = [
        {"loc": where, "msg": "Text must not contain NUL characters.", "type": "value_error"}
    ]
    response = error_response(422, "validation_error", "The request is not valid.", details)
    await response(scope, receive, send)
