#!/usr/bin/env python3
"""A scripted EMR Serverless + S3 endpoint on 127.0.0.1, for the job-run
paths moto_server cannot produce (it creates runs directly in SUCCESS).

    emr_endpoint.py CONFIG.json PORT_FILE LOG_FILE

CONFIG: {"states": ["PENDING", "RUNNING", "SUCCESS"],  # GetJobRun, in order
         "details": "...",           # stateDetails of the last state
         "start_failures": 1,        # StartJobRun answers 500 this often first
         "start_answers": [200, 400],  # status of the 1st, 2nd... StartJobRun
                                     # (then 200); 400: ValidationException
         "hold": {"POST": "FILE"},   # answer requests of that method only
                                     # once FILE exists (the work is done
                                     # first, like a reply lost in transit)
         "hold_state": {"state": "RUNNING", "until": "FILE"},
                                     # GetJobRun stays there until FILE exists
         "lost_answers": 3}          # the first 3 StartJobRuns that would
                                     # answer 200 start (or find) the run
                                     # and answer 500 instead: the answer
                                     # lost in transit
FILE names are relative to CONFIG's directory.  The last state repeats.
StartJobRun is idempotent on clientToken, as on AWS: the same token gets the
same run id (run-1, run-2, ... for new tokens).  ListJobRuns (GET
/applications/APP/jobruns, createdAtAfter honoured) lists the runs with
their name; GetJobRun answers a run's name and tags as StartJobRun set them.  After a DELETE (CancelJobRun)
GetJobRun answers CANCELLING once, then CANCELLED.  PUT (S3 PutObject) is
accepted.  Every request is appended to LOG_FILE as a JSON line {method, path,
headers, body} when it arrives.
"""
import json
import os
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
STATE = {"polls": 0, "starts": 0, "cancelled": 0, "runs": {}, "info": {},
         "lost": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    config = {}
    log_path = ""
    base = ""

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, obj):
        out = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def _get_run(self):
        cfg = Handler.config
        if STATE["cancelled"]:
            STATE["cancelled"] += 1
            state = "CANCELLING" if STATE["cancelled"] == 2 else "CANCELLED"
        else:
            states = cfg["states"]
            state = states[min(STATE["polls"], len(states) - 1)]
            hold = cfg.get("hold_state", {})
            if state != hold.get("state") or released(hold.get("until")):
                STATE["polls"] += 1
        rid = self.path.split("?")[0].rstrip("/").split("/")[-1]
        run = {"jobRunId": rid, "state": state}
        run.update({k: v for k, v in STATE["info"].get(rid, {}).items()
                    if k in ("name", "tags")})
        if state in ("FAILED", "SUCCESS") and cfg.get("details"):
            run["stateDetails"] = cfg["details"]
        return {"jobRun": run}

    def _route(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        if self.command == "PUT":
            return 200, None
        if parts[0] != "applications" or len(parts) < 3:
            return 404, {"message": "not found"}
        if self.command == "POST":
            STATE["starts"] += 1
            if STATE["starts"] <= Handler.config.get("start_failures", 0):
                return 500, {"message": "try again"}
            answers = Handler.config.get("start_answers", [])
            status = answers[STATE["starts"] - 1] \
                if STATE["starts"] <= len(answers) else 200
            if status == 400:
                return 400, {"__type": "ValidationException",
                             "message": "the execution role cannot be assumed"}
            if status != 200:
                return status, {"message": "try again"}
            req = json.loads(self.body or "{}")
            token = req.get("clientToken")
            runs = STATE["runs"]
            run = runs.setdefault(token, "run-%d" % (len(runs) + 1))
            STATE["info"].setdefault(run, {
                "name": req.get("name"), "tags": req.get("tags", {}),
                "createdAt": time.time()})
            if STATE["lost"] < Handler.config.get("lost_answers", 0):
                STATE["lost"] += 1
                return 500, {"message": "the answer was lost"}
            return 200, {"applicationId": parts[1], "jobRunId": run,
                         "arn": "arn:aws:emr-serverless:::" + run}
        if self.command == "GET" and len(parts) == 3:  # ListJobRuns
            after = parse_qs(urlsplit(self.path).query).get("createdAtAfter")
            since = datetime.fromisoformat(after[0].replace("Z", "+00:00")) \
                .timestamp() if after else 0
            return 200, {"jobRuns": [
                {"applicationId": parts[1], "id": rid, "name": i["name"],
                 "state": "RUNNING", "createdAt": i["createdAt"]}
                for rid, i in sorted(STATE["info"].items())
                if i["createdAt"] >= since]}
        if self.command == "DELETE":
            STATE["cancelled"] = max(STATE["cancelled"], 1)
            return 200, {"applicationId": parts[1], "jobRunId": "run-1"}
        return 200, self._get_run()

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        with LOCK:
            with open(Handler.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({
                    "method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.body}) + "\n")
            status, obj = self._route()
        until = Handler.config.get("hold", {}).get(self.command)
        while until and not released(until):
            time.sleep(0.02)
        self._reply(status, obj)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def released(name):
    """True when the release file `name` exists (or no file is named)."""
    return not name or os.path.exists(os.path.join(Handler.base, name))


def main():
    cfg_path, port_file, log_path = sys.argv[1:4]
    Handler.base = os.path.dirname(os.path.abspath(cfg_path))
    with open(cfg_path, encoding="utf-8") as f:
        Handler.config = json.load(f)
    Handler.log_path = log_path
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
