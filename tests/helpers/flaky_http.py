"""A real HTTP/1.1 server on 127.0.0.1 that answers from a script, then succeeds.

Each entry of ``script`` answers one request, in order: ``(status, headers)`` (a JSON
error body is added), or ``"drop"`` to close the connection without an answer, as a
replica killed mid-request does. After the script every request gets ``ok`` (200,
JSON). The server counts requests (with their arrival times) and TCP connections, so
tests can check retries, Retry-After and connection reuse from the server's side.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str]] | str


class FlakyServer:
    def __init__(self, script: list[Answer], ok: dict[str, Any] | None = None) -> None:
        self.script = list(script)
        self.ok = ok if ok is not None else {"predictions": [1.0], "request_id": "r-1"}
        self.requests: list[tuple[float, str, str]] = []  # (monotonic time, method, path)
        self.bodies: list[tuple[dict[str, str], bytes]] = []  # (headers, body) of each
        self.connections = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so a reused connection shows

            def setup(self) -> None:
                super().setup()
                with lock:
                    server.connections += 1

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with lock:
                    server.requests.append((time.monotonic(), self.command, self.path))
                    server.bodies.append((dict(self.headers.items()), body))
                    answer = server.script.pop(0) if server.script else None
                if answer == "drop":
                    self.close_connection = True
                    return
                if answer is None:
                    status, headers, doc = 200, {}, server.ok
                else:
                    assert not isinstance(answer, str)
                    status, headers = answer
                    doc = {"error": f"Scripted {status}.", "type": "ScriptedError"}
                body = json.dumps(doc).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - the http.server API

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests."""
        times = [t for t, _, _ in self.requests]
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FlakyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
