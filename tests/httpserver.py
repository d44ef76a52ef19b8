"""A loopback HTTP server for download tests: serves bytes, honours Range, injects faults."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Faults:
    errors_500: int = 0  # answer this many requests with 500 first
    drop_after: int | None = None  # on the first full request, close after this many bytes
    ignore_range: bool = False
    always_500: bool = False  # every request fails: retries run out
    log: list[str] = field(default_factory=list)


class Server:
    def __init__(self, files: dict[str, bytes], faults: Faults | None = None):
        self.files, self.faults = files, faults or Faults()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                f = server.faults
                f.log.append(f"GET {self.path} range={self.headers.get('Range')}")
                if f.errors_500 > 0 or f.always_500:
                    f.errors_500 -= 1
                    self.send_error(500, "injected")
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and not f.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):  # nothing left to send: the client already has it all
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if f.drop_after is not None and start == 0:
                    cut, f.drop_after = f.drop_after, None
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
