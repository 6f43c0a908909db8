#!/usr/bin/env python3
"""A tiny HTTP endpoint that answers with a programmed sequence of responses.

For behaviour moto_server cannot produce (throttling, 5xx, slow answers,
expired tokens, credential endpoints).  Listens on 127.0.0.1 only.

    scripted_endpoint.py SCRIPT.json PORT_FILE LOG_FILE

SCRIPT.json is a list of responses, served in order (the last one repeats):
    {"status": 400, "headers": {"X-Amzn-ErrorType": "..."},
     "body": "...", "delay_ms": 0}
Once listening, the port is written to PORT_FILE (atomically).  Each request
is appended to LOG_FILE as one JSON line {"method", "path", "headers",
"body"} when it arrives, before any delay.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script = []
    log_path = ""
    lock = threading.Lock()
    served = 0

    def log_message(self, fmt, *args):  # quiet
        pass

    def _next(self):
        with Handler.lock:
            i = min(Handler.served, len(Handler.script) - 1)
            Handler.served += 1
            return Handler.script[i]

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        entry = {"method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body}
        with Handler.lock:
            with open(Handler.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        r = self._next()
        time.sleep(r.get("delay_ms", 0) / 1000.0)
        out = r.get("body", "").encode("utf-8")
        self.send_response(r.get("status", 200))
        for k, v in r.get("headers", {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


def main():
    script_path, port_file, log_path = sys.argv[1:4]
    with open(script_path, encoding="utf-8") as f:
        Handler.script = json.load(f)
    Handler.log_path = log_path
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
