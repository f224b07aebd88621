"""The HTTP layer's guards: request framing, content coding, and slow clients.

Two pieces, both below the routes:

* :class:`RequestGuard`, a pure ASGI middleware installed on the app (any server):
  a request carrying both ``Content-Length`` and ``Transfer-Encoding`` (ambiguous framing,
  the request-smuggling pattern; RFC 9112 section 6.1) is refused with 400 and
  ``Connection: close``; a body with ``Content-Encoding: gzip`` (or ``deflate``) is
  decompressed on the fly, in chunks of at most :data:`CHUNK` bytes, so the body limit
  (``IMPUTER_MAX_BODY_BYTES``) applies to the decompressed bytes (a decompression bomb
  stops at the limit); any other coding (``br``, ``zstd``, ...) is a 415 naming the
  codings accepted.
* :class:`GuardedH11Protocol`, uvicorn's h11 protocol with a deadline on the request
  head: a connection that has not sent a complete request line and headers within
  ``IMPUTER_HEADER_TIMEOUT_S`` seconds of connecting (or of its first byte) is
  answered 408 and closed (slowloris). Serve with
  ``uvicorn api.main:app --http api.http:GuardedH11Protocol``. A slow body is bounded by
  ``IMPUTER_BODY_TIMEOUT_S`` in :func:`api.body.read_body` (seconds between chunks).
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.problems import problem_response

__all__ = ["RequestGuard", "GuardedH11Protocol", "CHUNK", "CODINGS", "DECODING_ERROR", "DECODING_CODING"]

#: most bytes of decompressed body handed to the app per ``receive()``
CHUNK = 64 * 1024
#: content codings decoded (``identity`` is no coding), with their zlib window bits
CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

_CLOSE = {"Connection": "close"}
#: scope keys: the content coding decoded, and why the compressed body could not be (set when it ends)
DECODING_CODING, DECODING_ERROR = "imputer.content_coding", "imputer.content_decoding_error"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class _Decoder:
    """``receive`` of a compressed body: the decompressed bytes, :data:`CHUNK` at a time."""

    def __init__(self, receive: Receive, wbits: int, scope: dict[str, Any]) -> None:
        self.receive = receive
        self.scope = scope  # where a decoding failure is left for read_body (DECODING_ERROR)
        self.zlib = zlib.decompressobj(wbits)
        self.pending = b""  # compressed input not yet decompressed (output was capped)
        self.more = True  # the client has more body to send
        self.finished = False  # the whole body handed over: later calls wait for the disconnect

    async def __call__(self) -> Message:
        if self.finished:
            return await self.receive()
        while True:
            if self.pending or not self.more:
                try:
                    out = self.zlib.decompress(self.pending, CHUNK)
                except zlib.error as exc:
                    self.scope[DECODING_ERROR], self.finished = f"not valid ({exc})", True
                    return {"type": "http.request", "body": b"", "more_body": False}
                self.pending = self.zlib.unconsumed_tail
                done = not self.more and not self.pending
                if out or done:
                    if done:
                        self.finished = True
                        if not self.zlib.eof:
                            self.scope[DECODING_ERROR] = "cut short (the compressed stream does not end)"
                    return {"type": "http.request", "body": out, "more_body": not done}
            message = await self.receive()
            if message["type"] != "http.request":
                return message  # a disconnect
            self.pending += message.get("body", b"")
            self.more = bool(message.get("more_body", False))


class RequestGuard:
    """ASGI middleware: refuse ambiguous framing (400), decode gzip/deflate bodies, 415 on other codings."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path")
        if _header(scope, b"content-length") is not None and _header(scope, b"transfer-encoding") is not None:
            answer = problem_response(
                400, "The request has both Content-Length and Transfer-Encoding (ambiguous framing); send one.",
                instance=path, headers=_CLOSE,
            )
            await answer(scope, receive, send)
            return
        coding = (_header(scope, b"content-encoding") or b"").decode("latin-1").strip().lower()
        if coding in ("", "identity"):
            await self.app(scope, receive, send)
            return
        if coding not in CODINGS:
            answer = problem_response(
                415, f"Unsupported Content-Encoding {coding!r}; send the body uncompressed, or with one of: gzip, "
                "deflate.", instance=path, headers=_CLOSE,
            )
            await answer(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"content-encoding", b"content-length")]
        inner = {**scope, "headers": headers, DECODING_CODING: coding}
        await self.app(inner, _Decoder(receive, CODINGS[coding], inner), send)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request head (slowloris).

    The deadline (``IMPUTER_HEADER_TIMEOUT_S``) runs from the connection, or from the first
    byte of a later request on it, to the end of the request's headers; past it the
    connection is answered 408 and closed. An idle kept-alive connection is closed by
    uvicorn's ``--timeout-keep-alive``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from api.settings import get_settings

        self.header_timeout_s = get_settings().header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\nconnection: close\r\n"
                b"content-length: 35\r\n\r\nThe request headers came too slowly"
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self._head_timer is not None and self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # a request's head arrived: its body is read_body's business

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of the next request's head (idle time is --timeout-keep-alive's)
        super().data_received(data)
