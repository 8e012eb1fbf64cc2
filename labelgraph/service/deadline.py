"""uvicorn's h11 protocol with a deadline for each request to arrive whole: a client that sends its headers or its
body a byte at a time (slowloris) is cut off, instead of holding a connection open for as long as it likes.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers 503 past ``limit_concurrency``, but
only once a request's headers are in: neither bounds a request that never finishes arriving. Here a request must
arrive, headers and body, within ``seconds`` of the connection being ready for it (opened, or done with the last
response); a streamed response (server-sent events) is not bounded, only the request before it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["REQUEST_SECONDS", "with_deadline"]

REQUEST_SECONDS = 15.0
"""Default time a request has to arrive whole (a 1 MB body at 70 KB/s fits)."""

ARRIVING = (h11.IDLE, h11.SEND_BODY)
"""The client's states while its next request is still on its way."""


class DeadlineProtocol(H11Protocol):
    """An h11 connection closed when its request has not arrived whole within ``seconds``."""

    seconds = REQUEST_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def _watch(self) -> None:
        """Start the clock when a request is awaited, stop it once it is in."""
        if self.conn.their_state not in ARRIVING or self.transport.is_closing():
            self._stop()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.seconds, self._expire)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()  # the app, if it waits for the body, is told the client left


def with_deadline(seconds: float) -> type[Any]:
    """The protocol class for uvicorn's ``http`` setting, giving each request ``seconds`` to arrive."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"seconds": float(seconds)})
