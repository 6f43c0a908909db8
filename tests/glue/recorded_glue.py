#!/usr/bin/env python3
"""Serves recorded Glue pages, keyed by X-Amz-Target and the request's
NextToken, because moto_server never pages Glue results.

    recorded_glue.py PAGES.json PORT_FILE LOG_FILE

PAGES.json: {"AWSGlue.GetTables": {"": page1, "token": page2, ...}, ...}
(the key "" answers a request without NextToken; pages recorded from Glue's
answer shape).  An unknown token gets Glue's InvalidInputException.  Each
request's JSON body is appended to LOG_FILE as one line with its target.
Listens on 127.0.0.1 only; the port is written to PORT_FILE atomically.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pages = {}
    log_path = ""
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet
        pass

    def _answer(self, status, doc, error_type=None):
        out = json.dumps(doc).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        if error_type:
            self.send_header("X-Amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        target = self.headers.get("X-Amz-Target", "")
        with Handler.lock, open(Handler.log_path, "a") as f:
            f.write(json.dumps({"target": target, "body": body,
                                "auth": "Authorization" in self.headers,
                                "content_type":
                                    self.headers.get("Content-Type")}) + "\n")
        page = Handler.pages.get(target, {}).get(body.get("NextToken", ""))
        if page is None:
            self._answer(400, {"__type": "InvalidInputException",
                               "message": "bad token or target"},
                         "InvalidInputException")
        else:
            self._answer(200, page)


def main():
    pages_path, port_file, log_path = sys.argv[1:4]
    with open(pages_path, encoding="utf-8") as f:
        Handler.pages = json.load(f)
    Handler.log_path = log_path
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
