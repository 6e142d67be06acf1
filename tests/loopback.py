"""What the stand-ins (ClinicalTrials.gov's in standin.py, PubMed's in pubmed_standin.py) share:
an HTTP server on loopback that really stops when stopped (kept-alive connections cut), a
handler that answers without Nagle's delay, and the lifecycle, fault queue and request log a
test drives. What each service answers is its own."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        """Cut kept-alive connections so a stopped stand-in really stops answering."""
        with self.connections_lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self.connections.clear()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # client disconnects are normal here; stand-in bugs surface as 500 responses


class LoopbackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services
    timeout = 10  # idle keep-alive connections close after this many seconds
    server: LoopbackServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def version_string(self) -> str:
        return "standin"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class _Recorded(Protocol):
    @property
    def path(self) -> str: ...


FaultT = TypeVar("FaultT")
RequestT = TypeVar("RequestT", bound=_Recorded)


class LoopbackService(Generic[FaultT, RequestT]):
    """A stand-in's life on loopback: `with Service() as s:` starts it, `s.url` is its base URL
    (`prefix` after the port), `fail_next`/`fail_always` queue faults, `requests` logs what it
    was asked. `make_server` builds the service's own server."""

    prefix = ""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[RequestT] = []
        self._faults: deque[FaultT] = deque()
        self._always: FaultT | None = None
        self._aimed: list[tuple[str, FaultT]] = []
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    def make_server(self) -> LoopbackServer:
        raise NotImplementedError

    def start(self) -> Self:
        server = self.make_server()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.prefix}"

    def fail_next(self, *faults: FaultT) -> None:
        with self.lock:
            self._faults.extend(faults)

    def fail_always(self, fault: FaultT | None) -> None:
        with self.lock:
            self._always = fault

    def fail_next_to(self, path_suffix: str, fault: FaultT) -> None:
        """The next request to a path ending so gets this fault (before any fail_next ones):
        for a bad answer to one endpoint, wherever in the cycle its request comes."""
        with self.lock:
            self._aimed.append((path_suffix, fault))

    def requests_to(self, path_suffix: str) -> list[RequestT]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith(path_suffix)]

    def _take_fault(self, path: str = "") -> FaultT | None:
        with self.lock:
            for n, (suffix, fault) in enumerate(self._aimed):
                if path.endswith(suffix):
                    del self._aimed[n]
                    return fault
            return self._faults.popleft() if self._faults else self._always

    def _record(self, request: RequestT) -> None:
        with self.lock:
            self.requests.append(request)
