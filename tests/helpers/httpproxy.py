"""An HTTP proxy on 127.0.0.1 in front of an S3 server: counts requests, can drop headers.

``HttpProxy(upstream, drop_headers=["If-None-Match", "If-Match"])`` turns moto into a
server that ignores conditional writes, as an old or partial S3 implementation
does: requests go through unchanged except for the dropped headers, so every
other S3 behaviour is moto's own. ``requests`` records ``(method, path)`` of each
request, to assert how many round trips an operation costs.

Only for servers that do not verify signatures (dropping a signed header breaks
SigV4); the session's moto server does not.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


class HttpProxy:
    def __init__(self, upstream: str, drop_headers: Iterable[str] = ()) -> None:
        target = urlparse(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.drop = {h.lower() for h in drop_headers}
        self.requests: list[tuple[str, str]] = []
        self.dropped: list[str] = []  # "<header> on <method> <path>" for each one removed
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    self.send_error(501, "chunked request bodies are not supported")
                    return
                body = self.rfile.read(length) if length else None
                headers = {}
                for name, value in self.headers.items():
                    if name.lower() in proxy.drop:
                        with proxy._lock:
                            proxy.dropped.append(f"{name} on {self.command} {self.path}")
                        continue
                    if name.lower() not in _HOP_BY_HOP:
                        headers[name] = value
                with proxy._lock:
                    proxy.requests.append((self.command, self.path))
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status, resp.reason)
                    for name, value in resp.getheaders():
                        if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
                            continue
                        self.send_header(name, value)
                    # HEAD answers carry the length of the body they do not send.
                    upstream_length = resp.getheader("Content-Length")
                    if self.command == "HEAD" and upstream_length is not None:
                        self.send_header("Content-Length", upstream_length)
                    else:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def count(self, method: str, path_contains: str = "") -> int:
        """How many ``method`` requests whose path contains ``path_contains`` were seen."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and path_contains in p)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.dropped.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
