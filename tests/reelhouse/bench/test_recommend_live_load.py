"""The serving load of `bench recommend-live` against a small local HTTP server: every request
counted once, refusals counted as errors, the server's own time measured."""

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reelhouse.bench.recommend_live import load

SERVER_SECONDS = 0.03


class _Recommendations(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn answers
    connections: set = set()

    def do_GET(self):  # noqa: N802 - the name http.server calls
        _Recommendations.connections.add(self.client_address)
        time.sleep(SERVER_SECONDS)
        known = not self.path.startswith("/users/ghost/")
        body = b'{"items": []}' if known else b'{"detail": "no"}'
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recommendations)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Recommendations.connections = set()
    yield httpd.server_address
    httpd.shutdown()
    httpd.server_close()


def test_every_request_is_answered_once_on_kept_alive_connections_and_refusals_are_errors(server):
    host, port = server
    users = ["u1", "u2", "u3", "ghost"]  # one request in four is for a user the server refuses
    figures = asyncio.run(load(host, port, users, rps=100, seconds=2, connections=8))
    assert figures["requests"] == 200
    assert figures["errors"] == 50
    assert len(_Recommendations.connections) <= 8  # the connections were reused, not one per request
    # what is measured is the server's time: each answer takes SERVER_SECONDS there
    assert SERVER_SECONDS * 1000 <= figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]


def test_a_server_that_is_not_there_is_counted_as_errors_not_a_crash():
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    figures = asyncio.run(load("127.0.0.1", port, ["u1"], rps=50, seconds=1, connections=4))
    assert figures["requests"] == figures["errors"] == 50
