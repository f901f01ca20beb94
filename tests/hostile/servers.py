"""Hostile loopback servers: real TCP servers on 127.0.0.1 that misbehave the way broken endpoints do.

Each runs in a thread of the test process; the command under test runs in its own
process (`python -m llmdeploy ...`) and talks to it over a real socket.

- `silent`: accepts, reads the request, never answers.
- `drip`: answers 200 with a long Content-Length, then one byte every `DRIP_SECONDS`.
- `endless`: answers 200 and streams bytes without end.
- `not_xml`: answers 200 with an HTML page, as a captive portal or a wrong proxy does.
- `echo`: answers 400 with the request's headers (Authorization included) in a JSON error body,
  or 200 with them inside a `config.json` when the path asks for one.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

DRIP_SECONDS = 1.0


def _read_request(sock: socket.socket) -> tuple[str, dict[str, str]]:
    data = b""
    sock.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return (lines[0] if lines else ""), headers


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            request_line, headers = _read_request(sock)
            getattr(self, f"_{self.server.behaviour}")(sock, request_line, headers)
        except OSError:
            pass  # the client gave up: what these servers are for

    def _silent(self, sock: socket.socket, request_line: str, headers: dict[str, str]) -> None:
        self.server.stopping.wait()

    def _drip(self, sock: socket.socket, request_line: str, headers: dict[str, str]) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
        while not self.server.stopping.wait(DRIP_SECONDS):
            sock.sendall(b" ")

    def _endless(self, sock: socket.socket, request_line: str, headers: dict[str, str]) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[")
        chunk = b'"x",' * 16384
        while not self.server.stopping.is_set():
            sock.sendall(chunk)

    def _not_xml(self, sock: socket.socket, request_line: str, headers: dict[str, str]) -> None:
        body = b"<html><body>Welcome to the hotel wifi. <b>Log in</b></body></html"
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % len(body)
            + body
        )

    def _echo(self, sock: socket.socket, request_line: str, headers: dict[str, str]) -> None:
        if "config.json" in request_line:
            status = b"200 OK"
            body = json.dumps({"model_type": "llama", "echo": headers}).encode()
        else:
            status = b"400 Bad Request"
            message = f"bad key: {headers.get('authorization')} for {request_line}"
            body = json.dumps({"error": {"message": message}}).encode()
        sock.sendall(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(body) + body
        )


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behaviour: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.stopping = threading.Event()


@contextmanager
def hostile_server(behaviour: str) -> Iterator[str]:
    """`http://127.0.0.1:PORT` of a server behaving as `behaviour`, for the block."""
    server = _Server(behaviour)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        time.sleep(0.05)
