"""What every request passes before the app sees it: a Host check (DNS rebinding), an Origin check on writes
(cross-site requests), and a body size limit counted as the bytes arrive (Content-Length is not trusted).

Pure ASGI, so a refused request costs no more memory than the limit, whatever the client sends or claims.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

__all__ = ["Guard", "local_names"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TooLarge(Exception):
    """The body went past the limit."""


def local_names(server: tuple[str, int] | None) -> set[str]:
    """The Host values that name the bound address itself: ``127.0.0.1:8000``, ``localhost:8000`` and so on."""
    if not server:
        return set()
    host, port = server[0], server[1]
    bound = f"[{host}]" if ":" in host else host
    names = {f"{bound}:{port}", f"localhost:{port}"}
    if port == 80:  # browsers leave the default port out
        names |= {bound, "localhost"}
    return names


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip().lower()
    return None


class Guard:
    """Refuse foreign Host headers (when ``check_hosts``) and Origins on writes, and bodies over ``max_body`` bytes.

    ``allowed_hosts`` are Host values accepted besides the bound address; ``"*"`` among them accepts any.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, check_hosts: bool, allowed_hosts: Sequence[str] = ()):
        self.app, self.max_body, self.check_hosts = app, max_body, check_hosts
        self.allowed = {host.lower() for host in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = nosniff(send)
        refused = self.refusal(scope)
        if refused is not None:
            await respond(send, *refused)
            return
        if scope["method"] not in WRITES and not header(scope, b"content-length"):
            await self.app(scope, receive, send)  # the app reads no body of a GET, HEAD or OPTIONS
            return
        try:
            body = await read_body(receive, self.max_body, header(scope, b"content-length"))
        except TooLarge:
            await respond(send, 413, f"request body over the limit of {self.max_body:,} bytes")
            return
        if body is None:  # the client left
            return
        await self.app(scope, replay(body, receive), send)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """Why the request is refused before its body is read, or None."""
        if not self.check_hosts or "*" in self.allowed:
            return None
        names = local_names(scope.get("server")) | self.allowed
        host = header(scope, b"host")
        if host not in names:
            return 400, f"Host {host!r} is not this server: open it as http://{sorted(names)[0]}/ (or --allowed-host)"
        origin = header(scope, b"origin")
        if scope["method"] in WRITES and origin is not None and origin.partition("://")[2] not in names:
            return 403, f"Origin {origin!r} may not write here (cross-site request)"
        return None


async def read_body(receive: Receive, limit: int, declared: str | None) -> bytes | None:
    """The whole body, counted as it arrives; TooLarge past ``limit``; None if the client disconnects."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body read already, then whatever comes next (a disconnect)."""
    given = False

    async def again() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def nosniff(send: Send) -> Send:
    """``send`` with ``X-Content-Type-Options: nosniff`` on every response: a browser takes the stated type."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]
        await send(message)

    return sending


async def respond(send: Send, status: int, detail: str) -> None:
    data = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
