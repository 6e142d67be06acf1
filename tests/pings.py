"""A loopback stand-in for a dead-man's switch (healthchecks.io): it records every ping, its
path (`/fail` or not) and its body. `receiver` is the fixture: (the ping URL, the handler class
whose `received` lists what came)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, str, str]]  # method, path, body
    answer = 200

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("utf-8")
        self.received.append(("POST", self.path, body))
        self.send_response(self.answer)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    """A loopback stand-in for healthchecks.io: records every ping."""
    handler = type("Handler", (Receiver,), {"received": [], "answer": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping/5f1c", handler
    server.shutdown()
    server.server_close()
