"""The replica's HTTP/1.1 server (stdlib, keep-alive, one thread per connection).

The stdlib server gives full control of the bytes on the wire, which the connection faults need: a
body cut off by a reset, a short but well-formed body, a response that starts only after the
client's timeout.
"""

from __future__ import annotations

import gc
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from . import wire
from .app import Replica, Request


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubdex-replica"
    sys_version = ""
    app: Replica = None  # set per server

    def setup(self):
        super().setup()
        self.server.connections.add(self.connection)
        # Headers and body leave in one write, and without Nagle's delay: a small response must not
        # wait 40 ms for the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self):
        self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, fmt, *args):  # quiet: the replica's request log is /_replica/requests
        pass

    def _serve(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()},
                      body, self.client_address[0], on_cdn=self.server.is_cdn)
        try:
            resp = self.server.app.handle(req)
        except Exception as e:  # a replica bug must look like a Hub 500, not a dropped connection
            resp = wire.error(500, f"replica error: {type(e).__name__}: {e}")
        self._send(resp, req)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

    def _send(self, resp: wire.Response, req: Request):
        if resp.delay:
            time.sleep(resp.delay)
        stream = resp.stream or wire.Stream(len(resp.body), lambda a, b, body=resp.body: iter((body[a:b],)))
        length = stream.length
        if resp.action == "truncate" and length:
            length = max(1, length // 2)
        self.send_response_only(resp.status)
        headers = {"Date": wire.http_date(), "X-Powered-By": "huggingface-moon",
                   "X-Request-Id": wire.request_id(req.headers.get("x-amzn-trace-id")),
                   "Access-Control-Expose-Headers": wire.EXPOSE_HEADERS, "Vary": "Origin"}
        headers.update(resp.headers)
        headers["Content-Length"] = str(length)
        for k, v in headers.items():
            self.send_header(k, v)
        self._headers_buffer.append(b"\r\n")
        if self.command == "HEAD":
            self.flush_headers()
            return
        if resp.action in ("reset", "drop"):
            length = length // 2  # half the body, then the connection goes
        if length <= 65536:  # headers and a small body leave in one write
            self._headers_buffer.append(b"".join(stream.source(0, length)))
            self.flush_headers()
        else:
            self.flush_headers()
            for chunk in stream.source(0, length):
                self.wfile.write(chunk)
        if resp.action == "reset":
            # SO_LINGER 0: close() sends RST, so the client sees a connection reset mid-body.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
        elif resp.action == "drop":
            # A clean close (FIN) before the body is complete: the client sees a short body.
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *args, is_cdn: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections: set = set()
        self.is_cdn = is_cdn

    def handle_error(self, request, client_address):  # clients that hang up mid-response are normal here
        pass


def quiet_gc():
    """Keep the garbage collector off the serving path: the objects that exist once the catalogue is
    built live as long as the server, so they are frozen out of every collection; and a page allocates
    tens of thousands of short-lived containers, so the young generation is collected less often.
    Full collections otherwise rescan the render caches and stall a page by 50-100 ms.
    Process-wide, so only `hubdex replica serve` calls it: a test process that starts and stops
    replicas must still collect them."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class ReplicaServer:
    """A running replica: `url`, `stop()`; usable as a context manager.

    Two listening sockets: the Hub's API at `url`, and the LFS file host at `cdn_url` (another port,
    so another origin, as the Hub's CDN is another host: clients stop at the Hub's 302 and read the
    file's metadata from it). `cdn_port=None` serves LFS files from the API's own origin instead."""

    def __init__(self, app: Replica, host: str = "127.0.0.1", port: int = 0, cdn_port: int | None = 0):
        self.app = app
        self.httpd = _Server((host, port), _Handler)
        self.httpd.app = app
        self.host, self.port = self.httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.cdn = None
        if cdn_port is not None:
            try:
                self.cdn = _Server((host, cdn_port), _Handler, is_cdn=True)
            except OSError:
                self.httpd.server_close()
                raise
            self.cdn.app = app
        app.cdn_port = self.cdn.server_address[1] if self.cdn else None
        self.cdn_url = f"http://{self.host}:{app.cdn_port}" if self.cdn else self.url
        self.thread: threading.Thread | None = None
        self.cdn_thread: threading.Thread | None = None

    def _start_cdn(self):
        if self.cdn is not None:
            self.cdn_thread = threading.Thread(target=self.cdn.serve_forever, kwargs={"poll_interval": 0.2},
                                               name="hubdex-replica-cdn", daemon=True)
            self.cdn_thread.start()

    def start(self) -> "ReplicaServer":
        self._start_cdn()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="hubdex-replica", daemon=True)
        self.thread.start()
        return self

    def serve_forever(self):
        self._start_cdn()
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self):
        """Stop serving and drop the connections clients keep alive, as a server going down would."""
        for httpd in filter(None, (self.httpd, self.cdn)):
            if httpd is self.httpd or self.cdn_thread is not None:
                httpd.shutdown()
            httpd.server_close()
            for conn in list(httpd.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        """Release the sockets of a server whose serve_forever has returned."""
        for httpd in filter(None, (self.httpd, self.cdn)):
            if httpd is self.cdn and self.cdn_thread is not None:
                httpd.shutdown()
            httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def start_replica(catalog: str = "demo", *, seed: int = 0, port: int = 0, faults: str = "",
                  quotas: dict | None = None, window: float | None = None) -> ReplicaServer:
    """Build a catalogue and serve it on 127.0.0.1 in a background thread."""
    from .catalog import build
    from .ratelimit import DEFAULT_WINDOW, RateLimiter

    store, recs = build(catalog, seed=seed)
    limiter = RateLimiter(quotas, window if window is not None else DEFAULT_WINDOW)
    app = Replica(store, recs, fault_spec=faults, seed=seed, limiter=limiter, catalog=catalog)
    return ReplicaServer(app, port=port).start()
