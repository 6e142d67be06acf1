"""monitor.sources.http against real sockets on loopback: the urllib transport's responses and failures,
TLS trust, and the ClientHello it sends compared field by field with urllib's and httpx's."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import queue
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import trustme

from monitor.sources.http import CHUNK_BYTES, StdlibTransport, tls_context

T = TypeVar("T")

LARGE_BYTES = 32 * 1024 * 1024  # far more than loopback's socket buffers can hold in flight
BLOCK = b"x" * CHUNK_BYTES
GZIPPED = b"NCT04270877 " * 1000
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
POST_HANDSHAKE_AUTH = 49  # TLS extension type (RFC 8446)


class Handler(BaseHTTPRequestHandler):
    """One route per behaviour under test; a request line with an absolute URL is a proxy's."""

    protocol_version = "HTTP/1.1"  # chunked bodies need it
    server: LoopbackServer

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        route = getattr(self, "route_" + self.path.strip("/").replace("-", "_"), None)
        if self.path.startswith("http://"):
            self._send(200, f"proxied {self.path}".encode())
        elif route is None:
            self._send(404, b"no such trial", {"Content-Type": "text/plain"})
        else:
            route()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(200, self.command.encode() + b" " + body)

    def route_ok(self) -> None:
        self._send(200, b"hello", {"X-Seen-User-Agent": self.headers["User-Agent"]})

    def route_moved(self) -> None:
        self._send(301, b"", {"Location": "/ok"})

    def route_gzip(self) -> None:
        self._send(200, gzip.compress(GZIPPED), {"Content-Encoding": "gzip"})

    def route_large(self) -> None:
        self._head(200, {"Content-Length": str(LARGE_BYTES)})
        sent = 0
        try:
            while sent < LARGE_BYTES:
                self.wfile.write(BLOCK)
                sent += len(BLOCK)
        except ConnectionError:
            self.close_connection = True  # the client stopped reading and hung up, as it should
        self.server.large_sent.put(sent)

    def route_slow(self) -> None:
        self.server.stop.wait(5)  # released when the test ends
        self.close_connection = True

    def route_stall(self) -> None:
        self._head(200, {"Content-Length": "1000"})
        self.wfile.write(b"x" * 100)
        self.wfile.flush()
        self.server.stop.wait(5)
        self.close_connection = True

    def route_cut(self) -> None:
        self._head(200, {"Content-Length": "1000"})
        self.wfile.write(b"x" * 100)
        self.close_connection = True

    def route_cut_chunked(self) -> None:
        self._head(200, {"Transfer-Encoding": "chunked"})
        self.wfile.write(b"64\r\n" + b"x" * 100 + b"\r\n")
        self.close_connection = True

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self._head(status, {"Content-Length": str(len(body)), **(headers or {})})
        self.wfile.write(body)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the tests assert what matters; the log would only be noise


class LoopbackServer(ThreadingHTTPServer):
    # Not daemons: server_close joins the handler threads, so nothing of a test outlives it.
    daemon_threads = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.stop = threading.Event()
        self.paths: list[str] = []
        self.large_sent: queue.Queue[int] = queue.Queue()

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback is reached directly whatever proxy the machine running the tests sets."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with serving() as server:
        yield server


def run(
    work: Callable[[httpx.AsyncClient], Awaitable[T]],
    timeout: float = 5,
    context: ssl.SSLContext | None = None,
) -> T:
    """Run `work` with a client that sends through a StdlibTransport."""

    async def go() -> T:
        transport = StdlibTransport(context or tls_context(), timeout)
        async with httpx.AsyncClient(transport=transport) as client:
            return await work(client)

    return asyncio.run(go())


def test_a_200_comes_back_with_its_body_and_the_request_headers_go_through(
    server: LoopbackServer,
) -> None:
    response = run(lambda c: c.get(f"{server.url}/ok", headers={"User-Agent": "trial-monitor/t"}))
    assert (response.status_code, response.text) == (200, "hello")
    assert response.headers["X-Seen-User-Agent"] == "trial-monitor/t"
    assert response.reason_phrase == "OK"


def test_a_body_is_sent_with_its_method(server: LoopbackServer) -> None:
    response = run(lambda c: c.post(f"{server.url}/echo", content=b"NCT02806440"))
    assert response.content == b"POST NCT02806440"


def test_a_404_is_a_response_not_an_exception(server: LoopbackServer) -> None:
    response = run(lambda c: c.get(f"{server.url}/missing"))
    assert (response.status_code, response.text) == (404, "no such trial")
    assert response.headers["Content-Type"] == "text/plain"


def test_a_redirect_is_returned_not_followed(server: LoopbackServer) -> None:
    response = run(lambda c: c.get(f"{server.url}/moved"))
    assert (response.status_code, response.headers["Location"]) == (301, "/ok")
    assert server.paths == ["/moved"]


def test_a_large_body_is_read_a_chunk_at_a_time(server: LoopbackServer) -> None:
    async def first_chunk(client: httpx.AsyncClient) -> bytes:
        async with client.stream("GET", f"{server.url}/large") as response:
            async for chunk in response.aiter_bytes():
                return chunk
        raise AssertionError("the body was empty")

    assert 0 < len(run(first_chunk)) <= CHUNK_BYTES
    # Had the transport read the body to its end, the server would have sent all of it.
    assert server.large_sent.get(timeout=5) < LARGE_BYTES


def test_a_gzip_body_is_decoded_by_httpx(server: LoopbackServer) -> None:
    response = run(lambda c: c.get(f"{server.url}/gzip"))
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.content == GZIPPED


def test_a_server_that_does_not_answer_is_a_read_timeout(server: LoopbackServer) -> None:
    with pytest.raises(httpx.ReadTimeout):
        run(lambda c: c.get(f"{server.url}/slow"), timeout=0.2)


def test_a_body_that_stops_coming_is_a_read_timeout(server: LoopbackServer) -> None:
    with pytest.raises(httpx.ReadTimeout):
        run(lambda c: c.get(f"{server.url}/stall"), timeout=0.2)


def test_a_tls_handshake_that_stalls_is_a_connect_timeout() -> None:
    # The kernel completes the TCP connection into the backlog; nobody answers the ClientHello.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        with pytest.raises(httpx.ConnectTimeout):
            run(lambda c: c.get(f"https://127.0.0.1:{port}/"), timeout=0.2)


@pytest.mark.parametrize("route", ["cut", "cut-chunked"])
def test_a_connection_closed_mid_body_is_a_read_error(server: LoopbackServer, route: str) -> None:
    with pytest.raises(httpx.ReadError):
        run(lambda c: c.get(f"{server.url}/{route}"))


def test_a_closed_port_is_a_connect_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        run(lambda c: c.get(f"http://127.0.0.1:{port}/"))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd"])
def test_only_http_and_https_are_sent(url: str) -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        run(lambda c: c.get(url))


def test_a_proxy_from_the_environment_is_used(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", server.url)
    response = run(lambda c: c.get("http://clinicaltrials.invalid/api/v2/studies"))
    assert response.text == "proxied http://clinicaltrials.invalid/api/v2/studies"


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[LoopbackServer, str]]:
    """A server whose certificate only a CA made for this test vouches for, and that CA's file."""
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with serving(tls) as server:
        yield server, str(ca_file)


def test_https_succeeds_with_the_ca_given(https_server: tuple[LoopbackServer, str]) -> None:
    server, ca_file = https_server
    url = f"https://127.0.0.1:{server.port}/ok"
    response = run(lambda c: c.get(url), context=tls_context(cafile=ca_file))
    assert (response.status_code, response.text) == (200, "hello")


def test_https_fails_against_the_system_store(https_server: tuple[LoopbackServer, str]) -> None:
    server, _ = https_server
    with pytest.raises(httpx.ConnectError, match="certificate"):
        run(lambda c: c.get(f"https://127.0.0.1:{server.port}/ok"))


# The ClientHello: what each client offers a server in its first TLS message.


@dataclass(frozen=True)
class ClientHello:
    """A ClientHello less what changes from one connection to the next: the random, the
    session id's bytes (random in TLS 1.3's middlebox compatibility mode), key_share's public
    keys (fresh each time; the groups are kept) and the padding extension's contents (its length
    depends on the size of the rest)."""

    legacy_version: int
    session_id_length: int
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    # In order: OpenSSL, unlike BoringSSL, does not shuffle its extensions.
    extension_types: tuple[int, ...]
    alpn: tuple[bytes, ...]
    supported_versions: tuple[int, ...]
    supported_groups: tuple[int, ...]
    signature_algorithms: tuple[int, ...]
    key_share_groups: tuple[int, ...]
    other_extensions: tuple[tuple[int, bytes], ...]  # every other extension, byte for byte


class Reader:
    """TLS's wire format: big-endian numbers and vectors prefixed by their length."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    @property
    def more(self) -> bool:
        return self._at < len(self._data)

    def take(self, size: int) -> bytes:
        chunk = self._data[self._at : self._at + size]
        if len(chunk) != size:
            raise ValueError("the ClientHello is cut short")
        self._at += size
        return chunk

    def rest(self) -> bytes:
        return self.take(len(self._data) - self._at)

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> Reader:
        return Reader(self.take(self.number(length_size)))

    def numbers(self, size: int) -> tuple[int, ...]:
        values = []
        while self.more:
            values.append(self.number(size))
        return tuple(values)


ALPN, SUPPORTED_VERSIONS, SUPPORTED_GROUPS = 16, 43, 10
SIGNATURE_ALGORITHMS, KEY_SHARE, PADDING = 13, 51, 21


def parse_client_hello(record: bytes) -> ClientHello:
    outer = Reader(record)
    assert outer.number(1) == 22, "not a TLS handshake record"
    outer.take(2)  # the record layer's version
    handshake = outer.vector(2)
    assert handshake.number(1) == 1, "not a ClientHello"
    hello = handshake.vector(3)
    legacy_version = hello.number(2)
    hello.take(32)  # random
    session_id_length = len(hello.vector(1).rest())
    cipher_suites = hello.vector(2).numbers(2)
    compression_methods = hello.vector(1).rest()
    extensions = hello.vector(2)
    types: list[int] = []
    contents: dict[int, bytes] = {}
    while extensions.more:
        types.append(extensions.number(2))
        contents[types[-1]] = extensions.vector(2).rest()
    return ClientHello(
        legacy_version=legacy_version,
        session_id_length=session_id_length,
        cipher_suites=cipher_suites,
        compression_methods=compression_methods,
        extension_types=tuple(types),
        alpn=_alpn(contents.get(ALPN, b"")),
        supported_versions=Reader(contents.get(SUPPORTED_VERSIONS, b"")).vector(1).numbers(2),
        supported_groups=Reader(contents.get(SUPPORTED_GROUPS, b"")).vector(2).numbers(2),
        signature_algorithms=Reader(contents.get(SIGNATURE_ALGORITHMS, b"")).vector(2).numbers(2),
        key_share_groups=_key_share_groups(contents.get(KEY_SHARE, b"")),
        other_extensions=tuple(
            (kind, data)
            for kind, data in contents.items()
            if kind
            not in {ALPN, SUPPORTED_VERSIONS, SUPPORTED_GROUPS, SIGNATURE_ALGORITHMS, KEY_SHARE}
            and kind != PADDING
        ),
    )


def _alpn(data: bytes) -> tuple[bytes, ...]:
    if not data:
        return ()
    names = Reader(data).vector(2)
    protocols = []
    while names.more:
        protocols.append(names.vector(1).rest())
    return tuple(protocols)


def _key_share_groups(data: bytes) -> tuple[int, ...]:
    if not data:
        return ()
    shares = Reader(data).vector(2)
    groups = []
    while shares.more:
        groups.append(shares.number(2))
        shares.vector(2)  # the public key
    return tuple(groups)


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client hung up before its ClientHello was whole")
        data += chunk
    return data


def capture_client_hello(connect: Callable[[str], None]) -> ClientHello:
    """Run `connect` against a listener that reads the first TLS record and hangs up, so the
    client's handshake fails (`connect` expects that) after it has said everything we want."""
    records: queue.Queue[bytes] = queue.Queue()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def catch() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(5)
                header = _recv_exactly(conn, 5)
                records.put(header + _recv_exactly(conn, int.from_bytes(header[3:5], "big")))

        thread = threading.Thread(target=catch)
        thread.start()
        try:
            # "localhost", not an IP address, so that server_name is sent and compared too.
            connect(f"https://localhost:{listener.getsockname()[1]}/")
        finally:
            thread.join()
    return parse_client_hello(records.get_nowait())


def urllib_defaults(url: str) -> None:
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def httpx_client(make: Callable[[], httpx.AsyncClient]) -> Callable[[str], None]:
    def connect(url: str) -> None:
        async def go() -> None:
            async with make() as client:
                await client.get(url)

        with pytest.raises(httpx.ConnectError):
            asyncio.run(go())

    return connect


def differences(one: ClientHello, other: ClientHello) -> dict[str, tuple[object, object]]:
    return {
        field.name: (getattr(one, field.name), getattr(other, field.name))
        for field in dataclasses.fields(one)
        if getattr(one, field.name) != getattr(other, field.name)
    }


def test_urllib_offers_http_1_1_and_post_handshake_auth() -> None:
    first, second = capture_client_hello(urllib_defaults), capture_client_hello(urllib_defaults)
    # What ClientHello leaves out is all that changes between two connections of one client.
    assert first == second, differences(first, second)
    assert first.alpn == (b"http/1.1",)
    assert POST_HANDSHAKE_AUTH in first.extension_types


def test_tls_context_and_the_transport_greet_a_server_exactly_as_urllib_does() -> None:
    urllib_hello = capture_client_hello(urllib_defaults)
    with_context = capture_client_hello(
        httpx_client(lambda: httpx.AsyncClient(verify=tls_context()))
    )
    through_urllib = capture_client_hello(
        httpx_client(lambda: httpx.AsyncClient(transport=StdlibTransport(tls_context(), 5)))
    )
    assert with_context == urllib_hello, differences(urllib_hello, with_context)
    assert through_urllib == urllib_hello, differences(urllib_hello, through_urllib)


def test_httpx_defaults_greet_a_server_otherwise() -> None:
    urllib_hello = capture_client_hello(urllib_defaults)
    plain = capture_client_hello(httpx_client(httpx.AsyncClient))
    found = differences(urllib_hello, plain)
    assert found, "httpx's defaults send the same ClientHello as urllib"
    assert POST_HANDSHAKE_AUTH not in plain.extension_types, f"(urllib, httpx): {found}"
