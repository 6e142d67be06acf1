"""How the monitor speaks HTTP: the TLS context and the transport its httpx clients send through.

ClinicalTrials.gov's edge has been seen to answer 403 to Python's httpx while the standard
library's urllib gets through, most likely told apart by the TLS ClientHello; so the monitor
greets servers the way urllib does: `tls_context()` is urllib's own default context and
`StdlibTransport` sends each request through urllib.request, behind httpx's interface, so that
one `httpx.AsyncClient` keeps one code path for retries, pacing, streaming and size limits.

The transport's failures are httpx's exceptions (ConnectError, ConnectTimeout, ReadTimeout,
ReadError, RemoteProtocolError: all `httpx.TransportError`), translated once, here.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import http.client
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from monitor.core.errors import LimitError

CHUNK_BYTES = 64 * 1024
MAX_RETRY_AFTER_SECONDS = 300.0
_SCHEMES = ("http", "https")
# urllib frames the body itself from the bytes it is given (and always sends Connection: close).
_FRAMING_HEADERS = ("transfer-encoding", "connection", "keep-alive")
# What a parser raises on a body it cannot read: not JSON or not UTF-8 (ValueError and its
# UnicodeDecodeError), or nested deeper than it recurses. Each source's client turns these into
# a Retry, named, never a bare except: a bad answer, asked for again, then one line.
UNREADABLE = (ValueError, UnicodeDecodeError, RecursionError)


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """The TLS context urllib (http.client) builds when given none: system trust store (or
    `cafile`), ALPN http/1.1, TLS 1.3 post-handshake authentication offered.

    ClinicalTrials.gov's edge answers 403 to httpx's default client, most likely by its TLS
    fingerprint, while urllib gets through. httpx's context differs from urllib's ClientHello at
    least by the post_handshake_auth extension, so we build urllib's, extension for extension.
    """
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(["http/1.1"])
    # None means this OpenSSL cannot offer it; http.client makes the same check.
    if context.post_handshake_auth is not None:
        context.post_handshake_auth = True
    return context


class _KeepEveryResponse(urllib.request.HTTPErrorProcessor):
    """Hands every response back as it came: no HTTPError for non-2xx, and so no redirect
    followed either, since urllib's redirect handler is reached only through the error path this
    skips. The caller decides what a 3xx or a 5xx means."""

    def http_response(
        self, request: urllib.request.Request, response: http.client.HTTPResponse
    ) -> http.client.HTTPResponse:
        return response

    https_response = http_response


class StdlibTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request through urllib.request in a worker thread.

    One connection per request (urllib sends Connection: close), proxies from the environment as
    urllib honours them, redirects never followed, every status returned as a response. The body
    is streamed in chunks of at most CHUNK_BYTES. `timeout_seconds` bounds each socket operation
    (connect, handshake, each read); `request.extensions` timeouts are not read.
    """

    def __init__(self, context: ssl.SSLContext, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds
        # build_opener keeps its defaults (ProxyHandler among them) and puts ours in their place.
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _KeepEveryResponse()
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in _SCHEMES:
            raise httpx.UnsupportedProtocol(
                f"StdlibTransport sends only http and https, not {request.url.scheme!r}",
                request=request,
            )
        body = await request.aread()
        stdlib_request = _stdlib_request(request, body)
        response = await _in_thread_closing_if_abandoned(
            lambda: self._open(stdlib_request, request)
        )
        return httpx.Response(
            response.status,
            headers=response.headers.items(),
            stream=_ResponseStream(response, request),
            extensions={
                "http_version": b"HTTP/1.0" if response.version == 10 else b"HTTP/1.1",
                "reason_phrase": response.reason.encode("latin-1", "replace"),
            },
        )

    def _open(
        self, stdlib_request: urllib.request.Request, request: httpx.Request
    ) -> http.client.HTTPResponse:
        """Connect, send, and read the status line and headers; runs in a worker thread."""
        try:
            response = self._opener.open(stdlib_request, timeout=self._timeout)
        except urllib.error.URLError as exc:
            raise _connect_error(exc, request) from exc
        except TimeoutError as exc:
            raise httpx.ReadTimeout(
                f"no response within {self._timeout}s", request=request
            ) from exc
        except http.client.HTTPException as exc:
            # Before OSError: RemoteDisconnected is both.
            raise httpx.RemoteProtocolError(_describe(exc), request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(_describe(exc), request=request) from exc
        assert isinstance(response, http.client.HTTPResponse)
        return response


def _stdlib_request(request: httpx.Request, body: bytes) -> urllib.request.Request:
    """The urllib request for an httpx one: same method, URL and headers, the body as bytes."""
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in _FRAMING_HEADERS
    }
    # handle_async_request has checked the scheme: no file: or ftp: URL gets here.
    return urllib.request.Request(  # noqa: S310
        str(request.url), data=body or None, headers=headers, method=request.method
    )


def _connect_error(exc: urllib.error.URLError, request: httpx.Request) -> httpx.TransportError:
    """urllib wraps what fails while connecting, handshaking or sending in URLError."""
    reason = exc.reason
    if isinstance(reason, TimeoutError):
        return httpx.ConnectTimeout(f"connect timed out: {reason}", request=request)
    if isinstance(reason, ssl.SSLCertVerificationError):
        return httpx.ConnectError(
            f"server certificate not trusted: {reason.verify_message}", request=request
        )
    message = _describe(reason) if isinstance(reason, BaseException) else str(reason)
    return httpx.ConnectError(message, request=request)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _ResponseStream(httpx.AsyncByteStream):
    """The body of a urllib response, read a chunk at a time in a worker thread, so that a
    caller that stops early never waits for (or holds) the rest."""

    def __init__(self, response: http.client.HTTPResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        # A read abandoned by a cancelled caller still runs to its end in its thread; closing
        # waits for it rather than pulling the socket out from under it.
        self._lock = threading.Lock()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(self._read):
            yield chunk

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _read(self) -> bytes:
        with self._lock:
            try:
                chunk = self._response.read1(CHUNK_BYTES)
            except TimeoutError as exc:
                raise httpx.ReadTimeout("body read timed out", request=self._request) from exc
            except (http.client.HTTPException, OSError) as exc:
                raise httpx.ReadError(_describe(exc), request=self._request) from exc
            # http.client reports a body cut short of its Content-Length as a plain end.
            missing = self._response.length
            if not chunk and missing:
                raise httpx.ReadError(
                    f"connection closed with {missing} bytes of the body unread",
                    request=self._request,
                )
            return chunk

    def _close(self) -> None:
        with self._lock:
            self._response.close()


async def _in_thread_closing_if_abandoned(
    work: Callable[[], http.client.HTTPResponse],
) -> http.client.HTTPResponse:
    """Run `work` in a worker thread; if the caller is cancelled meanwhile (its own deadline),
    close the response the thread still produces, so no socket is left open behind it."""
    task = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_close_result)
        raise


def _close_result(task: asyncio.Future[http.client.HTTPResponse]) -> None:
    if not task.cancelled() and task.exception() is None:
        task.result().close()


@dataclass(frozen=True)
class NetworkFailure:
    """Why a request never got an answer, in the words an operator acts on: the kind (DNS,
    refused, timeout, TLS, proxy) and the system's own detail."""

    kind: str
    detail: str
    # Trying again in a few seconds is unlikely to help: the name does not resolve, nothing
    # listens, the certificate is not trusted. One more try, then a clear line.
    persistent: bool

    def __str__(self) -> str:
        return f"{self.kind} ({self.detail})" if self.detail else self.kind


def network_failure(exc: BaseException) -> NetworkFailure:
    """Classify a transport failure by the exceptions behind it (httpx wraps them)."""
    chain = list(_causes(exc))
    detail = next((str(e) for e in reversed(chain) if str(e)), type(exc).__name__)
    for cause in chain:
        if isinstance(cause, httpx.ProxyError):
            return NetworkFailure("the proxy failed", detail, persistent=True)
        if isinstance(cause, socket.gaierror) or "Name or service not known" in str(cause):
            return NetworkFailure("DNS lookup failed", detail, persistent=True)
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(cause):
            return NetworkFailure("TLS certificate not trusted", detail, persistent=True)
        if isinstance(cause, ssl.SSLError):
            return NetworkFailure("TLS handshake failed", detail, persistent=False)
        if isinstance(cause, ConnectionRefusedError) or "Connection refused" in str(cause):
            return NetworkFailure("connection refused", detail, persistent=True)
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return NetworkFailure("network unreachable", detail, persistent=True)
        if isinstance(cause, (TimeoutError, httpx.TimeoutException)):
            return NetworkFailure("timed out", detail, persistent=False)
    if isinstance(exc, (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)):
        return NetworkFailure("connection dropped", detail, persistent=False)
    return NetworkFailure("network error", detail, persistent=False)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


@dataclass
class RequestStats:
    """What one source's client asked and received in a cycle: the cycle's log line."""

    requests: int = 0
    bytes_received: int = 0


async def read_bounded(
    response: httpx.Response,
    limit: int,
    setting: str,
    stats: RequestStats,
    error: Callable[[str], Exception] = LimitError,
) -> bytes:
    """A response's body as it streams in, cut off past `limit` bytes (the config key named
    by `setting`) with `error`, so that a runaway answer cannot fill the memory."""
    content = bytearray()
    async for chunk in response.aiter_bytes():
        content += chunk
        stats.bytes_received += len(chunk)
        if len(content) > limit:
            raise error(
                f"a response from {response.url.host} passed {limit:,} bytes ({setting});"
                " stopped reading it"
            )
    return bytes(content)


def retry_after(headers: httpx.Headers) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), capped so a cycle cannot hang."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return float(min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS))


class Retry(Exception):
    """A failure worth another attempt, with the server's own wait when it gave one.
    `persistent`: unlikely to pass in seconds (DNS, refused, an untrusted certificate): tried
    once more, not max_attempts times, so an operator hears of it in seconds."""

    def __init__(self, problem: str, wait: float | None = None, persistent: bool = False) -> None:
        super().__init__(problem)
        self.wait = wait
        self.persistent = persistent

    def delay(self, backoff_seconds: float, attempt: int) -> float:
        """The wait before another try: the server's own, else `backoff_seconds` doubled each
        attempt, jittered by a fifth."""
        if self.wait is not None:
            return self.wait
        return backoff_seconds * 2.0 ** (attempt - 1) * random.uniform(0.8, 1.2)


def retry_for(exc: TimeoutError | httpx.TransportError, timeout_seconds: float) -> Retry:
    """A request that timed out, or whose connection failed, as a Retry."""
    if isinstance(exc, TimeoutError):
        return Retry(f"no whole answer within {timeout_seconds:g} s")
    failure = network_failure(exc)
    return Retry(str(failure), persistent=failure.persistent)


def spent(source: str, url: str, retry: Retry, failures: int, max_attempts: int) -> str | None:
    """The one line that ends a request's tries, once they are spent ("registry unreachable
    at URL: DNS lookup failed (after 2 attempts)"); None while tries remain."""
    if failures < (min(2, max_attempts) if retry.persistent else max_attempts):
        return None
    tries = f"{failures} attempt{'s' if failures != 1 else ''}"
    if retry.persistent:
        return f"{source} unreachable at {url}: {retry} (after {tries})"
    return f"{source} {url} failed after {tries}: {retry}"


class Pacer:
    """At least `interval` seconds between the starts of one client's requests."""

    def __init__(self, interval: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._interval = interval
        self._sleep = sleep
        self._last = 0.0

    async def turn(self) -> None:
        wait = self._last + self._interval - time.monotonic()
        if wait > 0:
            await self._sleep(wait)
        self._last = time.monotonic()


async def let_go(connection: asyncio.BaseTransport | None) -> None:
    """Finish closing a connection before the command's event loop ends, or its socket
    outlives the loop. aiosmtplib's close() only begins it: over TLS it then waits on the
    server's TLS goodbye, which a server may send late or never. Once nothing is left to say
    (QUIT answered, or a connection made only to see it can be), the connection is dropped;
    the loop's next turn closes the socket (also after a handshake that failed midway, which
    asyncio tears down by a callback). The mail transport, and doctor's mail and ping checks,
    use it."""
    if isinstance(connection, asyncio.Transport):
        connection.abort()
    await asyncio.sleep(0)
