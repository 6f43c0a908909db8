#!/usr/bin/env python3
"""The MCP endpoint /mcp at the protocol level: the real `dsbroker serve`
with the fixture plugins (tests/fixtures/confd-http, auth on), driven by
the official MCP Python SDK (PyPI `mcp`) in both generations — the
2026-07-28 `server/discover` and the legacy `initialize` — and by raw
HTTP for the edge cases the SDK never sends: bad JSON, batches, unknown
methods, missing, ended and expired session ids, wrong protocol versions,
header mismatches, a bad Origin, no token, a missing scope, an oversized
message, a schema-invalid argument, the response budget with cursors (tools,
resource pages, prompts), disabled tool groups, and live progress: a tool
held on a gate only the client's progress callback opens, and a client
that goes away mid-stream.  Tokens and the fixture password are canaries; every
MCP response is kept for the secret scan.  Prints "N passed, N failed".
"""
import asyncio
import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "faults"))
import faultlib as fl  # noqa: E402
from mcp_common import fixture_broker, keep, stop_checked  # noqa: E402

import httpx2  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

MODERN = "2026-07-28"
TOKENS = {k: fl.canary(f"mcp-{k}") for k in
          ("admin", "limited", "read", "sessions", "context", "jobs", "other")}


class Raw:
    """One POST/GET/DELETE to /mcp; the body is kept for the scan."""

    def __init__(self, port):
        self.port = port

    def send(self, method="POST", body=None, headers=None, token="admin",
             raw=None):
        h = {"Content-Type": "application/json",
             "Accept": "application/json, text/event-stream"}
        if token:
            h["Authorization"] = f"Bearer {TOKENS[token]}"
        h.update(headers or {})
        data = raw if raw is not None else (
            json.dumps(body) if body is not None else None)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, "/mcp", body=data, headers=h)
            r = c.getresponse()
            text = r.read().decode("utf-8", "replace")
            keep("mcp-response", text)
            try:
                js = json.loads(text) if text else None
            except ValueError:
                js = None
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), js
        finally:
            c.close()

    def initialize(self, token="admin", version="2025-11-25"):
        st, h, js = self.send(body={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {},
                       "clientInfo": {"name": "raw", "version": "1"}}},
            token=token)
        return st, h.get("mcp-session-id"), js

    def legacy(self, sid, method, params=None, token="admin", rid=2,
               version="2025-11-25"):
        h = {"MCP-Protocol-Version": version}
        if sid:
            h["Mcp-Session-Id"] = sid
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        return self.send(body=msg, headers=h, token=token)

    def modern(self, method, params=None, token="admin", headers=None,
               version=MODERN):
        p = dict(params or {})
        p["_meta"] = {"io.modelcontextprotocol/protocolVersion": version,
                      "io.modelcontextprotocol/clientCapabilities": {}}
        h = {"MCP-Protocol-Version": version, "Mcp-Method": method}
        if "name" in p:
            h["Mcp-Name"] = p["name"]
        h.update(headers or {})
        return self.send(body={"jsonrpc": "2.0", "id": 7, "method": method,
                               "params": p}, headers=h, token=token)


def err_code(js):
    return ((js or {}).get("error") or {}).get("code")


def structured(js):
    return ((js or {}).get("result") or {}).get("structuredContent") or {}


MARK = "\n\n[truncated at mcp.max_result_bytes: "


async def read_all(c, uri):
    """A resource's pages followed to the end: (mimeType, the text without
    the markers, pages, every cut page marked with the URI of its rest)."""
    text, pages, marked, mime = "", 0, True, None
    while uri and pages < 100:
        r = await c.read_resource(uri)
        part, mime = r.contents[0].text, r.contents[0].mime_type
        uri = (r.meta or {}).get("dsbroker/next_uri")
        cut = part.rfind(MARK)
        marked &= (cut >= 0 and uri in part[cut:]) if uri else cut < 0
        text += part[:cut] if uri else part
        pages += 1
    return mime, text, pages, marked


async def sdk_flow(t, port, mode):
    url = f"http://127.0.0.1:{port}/mcp"
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as h:
        async with Client(streamable_http_client(url, http_client=h),
                          mode=mode) as c:
            want = MODERN if mode == "auto" else "2025-11-25"
            t.check(f"{mode}: negotiated {want}", c.protocol_version == want,
                    c.protocol_version)
            tools = {x.name: x for x in (await c.list_tools()).tools}
            t.check(f"{mode}: sixteen tools with schemas",
                    len(tools) == 16 and all(x.output_schema for x in
                                             tools.values()), list(tools))
            t.check(f"{mode}: annotations", tools["cancel_job"].annotations
                    .destructive_hint is True and tools["get_job"]
                    .annotations.read_only_hint is True,
                    tools["cancel_job"].annotations)
            r = await c.call_tool("list_sources", {})
            names = [s["name"] for s in r.structured_content["items"]]
            t.check(f"{mode}: list_sources", not r.is_error and "main" in names
                    and r.content[0].type == "text", names)
            r = await c.call_tool("browse", {"source": "main",
                                             "database": "sales",
                                             "schema": "public"})
            t.check(f"{mode}: browse tables", not r.is_error and
                    r.structured_content["level"] == "tables",
                    r.structured_content)
            r = await c.call_tool("describe_table", {
                "source": "main", "database": "sales", "schema": "public",
                "table": "orders"})
            t.check(f"{mode}: describe_table", not r.is_error and
                    r.structured_content["columns"], r.structured_content)
            s = (await c.call_tool("create_session", {})).structured_content
            sid = s["session"]
            seen = []

            async def progress(done, total, message):
                seen.append((done, total, message))

            r = await c.call_tool("select_tables", {"session": sid, "tables": [
                {"source": "main", "database": "sales", "schema": "public",
                 "table": "orders"},
                {"source": "main", "database": "sales", "schema": "public",
                 "table": "Order Items"}]}, progress_callback=progress)
            t.check(f"{mode}: select_tables", not r.is_error, r.content)
            t.check(f"{mode}: select_tables reports progress (event stream)",
                    [(d, n) for d, n, _ in seen] == [(0, 2), (1, 2), (2, 2)]
                    and "orders" in seen[1][2], seen)
            r = await c.call_tool("get_spark_context",
                                  {"session": sid, "part": "code"})
            t.check(f"{mode}: context code", not r.is_error and
                    "orders" in r.structured_content.get("code", ""),
                    r.content)
            r = await c.call_tool("get_session", {"session": "nope"})
            t.check(f"{mode}: a service error is a tool error",
                    r.is_error and r.structured_content["code"] == "not_found"
                    and "retryable" in r.structured_content,
                    r.structured_content)
            await resources_prompts(t, c, mode, sid)
            r = await c.call_tool("select_tables", {"session": sid,
                                                    "tables": [{"source": 1}]})
            t.check(f"{mode}: schema-invalid argument",
                    r.is_error and r.structured_content["code"] == "invalid"
                    and "tables[0]" in r.structured_content["detail"],
                    r.structured_content)


async def finished_job(c, sid):
    """A job of the stand-in spark-submit, polled until it is final."""
    job = (await c.call_tool("submit_job", {"session": sid,
                                            "code": "print('mcp')\n"})
           ).structured_content
    while job["state"] in ("pending", "running", "cancelling"):
        await asyncio.sleep(0.05)  # polling an observed state
        job = (await c.call_tool("get_job", {"job": job["id"]})
               ).structured_content
    return job


async def resources_prompts(t, c, mode, sid):
    from mcp.shared.exceptions import MCPError
    res = await c.list_resources()
    t.check(f"{mode}: resources/list", [str(r.uri) for r in res.resources] ==
            ["dsbroker://sources"], res)
    tpl = await c.list_resource_templates()
    t.check(f"{mode}: four resource templates",
            len(tpl.resource_templates) == 4, tpl)
    r = await c.read_resource("dsbroker://sources")
    t.check(f"{mode}: read sources", "main" in r.contents[0].text, r)
    r = await c.read_resource(
        "dsbroker://table/main/sales/public/orders")
    t.check(f"{mode}: read a table", '"columns"' in r.contents[0].text, r)
    mime, text, _, _ = await read_all(c, f"dsbroker://session/{sid}/reads.py")
    t.check(f"{mode}: read a session's code", mime == "text/x-python" and
            "orders" in text, text)
    r = await c.read_resource(f"dsbroker://session/{sid}/context.md")
    t.check(f"{mode}: read a session's context", r.contents[0].text, r)
    job = await finished_job(c, sid)
    r = await c.read_resource(f"dsbroker://job/{job['id']}/log")
    t.check(f"{mode}: read a job's log", "== stderr ==" in r.contents[0].text,
            r)
    want = -32602 if mode == "auto" else -32002
    try:
        await c.read_resource("dsbroker://job/nope/log")
        t.check(f"{mode}: a missing resource is {want}", False)
    except MCPError as e:
        t.check(f"{mode}: a missing resource is {want}", e.code == want,
                e.error)
    names = [p.name for p in (await c.list_prompts()).prompts]
    t.check(f"{mode}: prompts/list", names == [
        "generate_spark_job", "debug_failed_job", "explore_source"], names)
    p = await c.get_prompt("generate_spark_job", {"session": sid,
                                                  "task": "count orders"})
    text = p.messages[0].content.text
    t.check(f"{mode}: generate_spark_job has the code and the contract",
            "count orders" in text and "DSB_OUTPUT" in text and
            "orders" in text, text[:300])
    p = await c.get_prompt("debug_failed_job", {"job": job["id"]})
    text = p.messages[0].content.text
    t.check(f"{mode}: debug_failed_job has the script and the log",
            "print('mcp')" in text and "stderr" in text, text[:400])
    p = await c.get_prompt("explore_source", {"source": "main"})
    t.check(f"{mode}: explore_source names the databases",
            "sales" in p.messages[0].content.text, p)


def edge_cases(t, raw):
    st, _, js = raw.send(raw="{not json")
    t.check("bad JSON: 400 -32700", st == 400 and err_code(js) == -32700, js)
    st, _, js = raw.send(body=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    t.check("batch: 400 -32600", st == 400 and err_code(js) == -32600, js)
    st, _, js = raw.send(body={"jsonrpc": "1.0", "id": 1, "method": "ping"})
    t.check("not JSON-RPC 2.0: 400", st == 400 and err_code(js) == -32600, js)
    st, _, js = raw.send(body={"jsonrpc": "2.0", "id": 1})
    t.check("neither request nor response: 400", st == 400 and
            err_code(js) == -32600, js)
    st, _, js = raw.send(body={"jsonrpc": "2.0", "id": 1, "result": {}})
    t.check("a response from the client: 202", st == 202, (st, js))
    st, h, js = raw.send(body={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                         token=None)
    t.check("no token: 401 naming the resource metadata",
            st == 401 and "resource_metadata=" in
            h.get("www-authenticate", ""), h)
    meta = fl.Broker.__new__(fl.Broker)
    meta.port, meta.token = raw.port, None
    r = meta.get("/.well-known/oauth-protected-resource")
    t.check("resource metadata", r.status == 200 and
            (r.json() or {}).get("resource", "").endswith("/mcp") and
            "jobs" in r.json()["scopes_supported"], r)
    st, _, js = raw.send(body={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                         token="other", headers={"Origin": "http://evil"})
    t.check("bad Origin: 403", st == 403, (st, js))
    st, h, _ = raw.send("OPTIONS", token=None, headers={
        "Origin": "http://ui.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "mcp-session-id"})
    t.check("a browser's preflight may send the MCP headers", st == 204 and
            "Mcp-Session-Id" in h.get("access-control-allow-headers", "")
            and "MCP-Protocol-Version" in h.get(
                "access-control-allow-headers", ""), (st, h))
    st, h, _ = raw.send(body={"jsonrpc": "2.0", "id": 1, "method":
                              "initialize", "params": {
                                  "protocolVersion": "2025-11-25",
                                  "capabilities": {}, "clientInfo": {
                                      "name": "b", "version": "1"}}},
                        headers={"Origin": "http://ui.example"})
    t.check("an allowed Origin sees the session id",
            st == 200 and "Mcp-Session-Id" in
            h.get("access-control-expose-headers", ""), (st, h))
    st, _, _ = raw.send(raw=json.dumps({"jsonrpc": "2.0", "id": 1,
                                        "method": "ping",
                                        "params": {"x": "y" * 5000}}))
    t.check("oversized message: 413", st == 413, st)
    st, sid, js = raw.initialize(version="2025-06-18")
    t.check("initialize answers the client's version with a session id",
            st == 200 and js["result"]["protocolVersion"] == "2025-06-18"
            and sid and len(sid) == 32 and sid.isalnum(), (js, sid))
    st, _, js = raw.initialize(version="1999-01-01")
    t.check("an unknown version gets the latest", st == 200 and
            js["result"]["protocolVersion"] == "2025-11-25", js)
    st, _, js = raw.initialize(version="latest")
    t.check("not a version: -32602 with the supported list",
            err_code(js) == -32602 and MODERN in
            js["error"]["data"]["supported"], js)
    st, _, js = raw.send(body={"jsonrpc": "2.0", "method":
                               "notifications/initialized"},
                         headers={"Mcp-Session-Id": sid})
    t.check("notification: 202", st == 202 and js is None, st)
    st, _, js = raw.legacy(sid, "ping")
    t.check("ping (legacy)", st == 200 and js.get("result") == {}, js)
    st, _, js = raw.legacy(sid, "no/such")
    t.check("unknown method (legacy): -32601", err_code(js) == -32601, js)
    st, _, js = raw.legacy(None, "tools/list")
    t.check("missing session id: 400", st == 400, (st, js))
    st, _, js = raw.legacy("0" * 32, "tools/list")
    t.check("unknown session id: 404", st == 404, (st, js))
    st, _, js = raw.legacy(sid, "tools/list", token="other")
    t.check("another principal's session: 404", st == 404, (st, js))
    st, _, js = raw.legacy(sid, "tools/list", version="1999-01-01")
    t.check("unsupported MCP-Protocol-Version: 400", st == 400, (st, js))
    st, _, _ = raw.send("DELETE", headers={"Mcp-Session-Id": sid})
    t.check("DELETE ends the session", st == 204, st)
    st, _, js = raw.legacy(sid, "ping")
    t.check("an ended session: 404", st == 404, (st, js))
    st, h, _ = raw.send("GET")
    t.check("GET: 405", st == 405 and "POST" in h.get("allow", ""), st)
    st, _, js = raw.modern("ping")
    t.check("ping (2026-07-28)", st == 200 and
            js["result"].get("resultType") == "complete", js)
    st, _, js = raw.modern("server/discover")
    t.check("discover lists both generations", st == 200 and
            "2025-11-25" in js["result"]["supportedVersions"] and
            js["result"]["ttlMs"] == 0, js)
    st, _, js = raw.modern("no/such")
    t.check("unknown method (2026-07-28): 404 -32601",
            st == 404 and err_code(js) == -32601, (st, js))
    st, _, js = raw.modern("tools/list", version="2099-01-01")
    t.check("unsupported version: 400 -32022 with supported",
            st == 400 and err_code(js) == -32022 and
            MODERN in js["error"]["data"]["supported"], (st, js))
    st, _, js = raw.modern("tools/list", headers={"Mcp-Method": "tools/call"})
    t.check("Mcp-Method mismatch: 400 -32020",
            st == 400 and err_code(js) == -32020, (st, js))
    st, _, js = raw.modern("tools/call", {"name": "list_sources",
                                          "arguments": {}},
                           headers={"Mcp-Name": "browse"})
    t.check("Mcp-Name mismatch: 400 -32020",
            st == 400 and err_code(js) == -32020, (st, js))
    st, _, js = raw.modern("tools/call", {"name": "list_sources",
                                          "arguments": {}},
                           headers={"Mcp-Name": "=?base64?bGlzdF9zb3VyY2Vz?="})
    t.check("Mcp-Name in base64 form", st == 200 and
            not js["result"]["isError"], (st, js))
    st, _, js = raw.modern("tools/call", {"name": "nope", "arguments": {}})
    t.check("unknown tool: 400 -32602", st == 400 and err_code(js) == -32602,
            (st, js))


def scopes(t, raw):
    st, _, js = raw.modern("tools/list", token="read")
    names = {x["name"] for x in js["result"]["tools"]}
    t.check("a read token lists only read tools", names == {
        "list_sources", "browse", "search_tables", "describe_table"}, names)
    st, h, js = raw.modern("tools/call", {"name": "submit_job", "arguments": {
        "session": "x", "code": "print(1)"}}, token="read")
    t.check("missing scope: 403 insufficient_scope naming it",
            st == 403 and 'scope="jobs"' in h.get("www-authenticate", "") and
            js["error"]["data"]["scope"] == "jobs", (st, h, js))
    st, _, js = raw.modern("tools/call", {"name": "describe_table",
                                          "arguments": {
                                              "source": "pgmain",
                                              "database": "sales",
                                              "schema": "public",
                                              "table": "orders"}},
                           token="limited")
    t.check("a source outside the token's limits: tool error forbidden",
            structured(js).get("code") == "forbidden", js)


def budget(t, raw, rest):
    """mcp.max_result_bytes 4096: the big database's tables page, every
    table once, nothing silently cut."""
    seen, cursor, pages = [], None, 0
    while pages < 200:
        args = {"source": "main", "database": "big", "schema": "s"}
        if cursor:
            args["cursor"] = cursor
        st, _, js = raw.modern("tools/call", {"name": "browse",
                                              "arguments": args})
        sc = structured(js)
        text = json.dumps(js)
        if st != 200 or len(text) > 4096:
            t.check("a page within the budget", False, (st, len(text)))
            return
        seen += [x["name"] for x in sc.get("items", [])]
        pages += 1
        cursor = sc.get("next_cursor")
        if not sc.get("truncated"):
            break
    want = []
    path = "/v1/sources/main/databases/big/schemas/s/tables?page_size=1000"
    while path:
        r = rest.get(path)
        want += [x["name"] for x in r.json()["items"]]
        tok = r.json().get("next_page_token")
        path = (f"/v1/sources/main/databases/big/schemas/s/tables?"
                f"page_size=1000&page_token={tok}") if tok else None
    t.check(f"budget: {len(want)} tables in {pages} pages, each once",
            pages > 1 and seen == want, (pages, len(seen), len(want)))
    budget_text(t, raw, rest)
    sid = tool(raw, "create_session", {})["session"]
    sc = tool(raw, "select_tables", {"session": sid, "tables": [
        {"source": "main", "database": "big", "schema": "s", "table": n}
        for n in want[:40]]})
    t.check("budget: select_tables of 40 tables says truncated, with a hint",
            sc["truncated"] and "get_session" in sc["hint"] and
            0 < len(sc["items"]) < 40, sc)
    asyncio.run(budget_resources(t, raw, rest, sid))
    ids = [x["id"] for x in
           rest.get(f"/v1/sessions/{sid}/selections").json()["items"]]
    sc = tool(raw, "unselect_tables", {"session": sid,
                                       "selections": ids[1:]})
    left = rest.get(f"/v1/sessions/{sid}/selections").json()["items"]
    t.check("unselect_tables of 39 selections answers counts, and 1 is left",
            len(ids) == 40 and
            sc == {"removed": 39, "remaining": 1} and
            [x["id"] for x in left] == ids[:1], (len(ids), sc, left))
    st, _, js = raw.modern("tools/call", {"name": "browse", "arguments": {
        "source": "main", "cursor": "bm90IG91cnM="}})
    t.check("a forged cursor: tool error", structured(js).get("code") ==
            "invalid", js)


def sample_files():
    """A fixture source whose wide table carries sample rows larger than
    half of a 4096-byte answer, and a narrow one whose fit."""
    cols = [{"name": f"c{i:02d}", "position": i + 1, "source_type": "text",
             "spark_type": "string", "nullable": True} for i in range(50)]
    wide = {"name": "wide", "kind": "table", "columns": cols,
            "sample_rows": {"columns": [c["name"] for c in cols],
                            "rows": [[f"value-{r}-{i:02d}" for i in range(50)]
                                     for r in range(30)],
                            "source": "first_rows", "limit": 30}}
    narrow = {"name": "narrow", "kind": "table", "columns": cols[:2],
              "sample_rows": {"columns": ["c00", "c01"],
                              "rows": [["a", "b"]], "source": "first_rows",
                              "limit": 1}}
    data = {"databases": {"db": {"schemas": {"s": {"tables": [wide,
                                                              narrow]}}}}}
    return {"samples.json": json.dumps(data),
            "samples.yaml": "name: samples\nplugin: fixture\n"
                            "data_file: samples.json\n"}


def samples(t, raw):
    """describe_table within mcp.max_result_bytes: sample rows too large
    for half the budget are left out (and said so), small ones stay."""
    args = {"source": "samples", "database": "db", "schema": "s"}
    sc = tool(raw, "describe_table", dict(args, table="wide"))
    t.check("a wide table's sample rows are left out of its page, said so",
            "sample_rows" not in sc and "sample_rows_left_out" in sc and
            sc["truncated"] and 0 < len(sc["columns"]) < 50, sc)
    sc = tool(raw, "describe_table", dict(args, table="narrow"))
    t.check("a narrow table's sample rows stay",
            sc.get("sample_rows", {}).get("rows") == [["a", "b"]], sc)


def tool(raw, name, args):
    st, _, js = raw.modern("tools/call", {"name": name, "arguments": args})
    if st != 200 or len(json.dumps(js)) > 4096:
        raise RuntimeError(f"{name}: {st}, {len(json.dumps(js))} bytes")
    return structured(js)


def budget_text(t, raw, rest):
    """The context's code in pages, equal to /v1's; the whole context over
    the budget says so."""
    sid = tool(raw, "create_session", {})["session"]
    tables = [{"source": "main", "database": "sales", "schema": "public",
               "table": n} for n in ("orders", "Order Items")]
    tool(raw, "select_tables", {"session": sid, "tables": tables})
    code, cursor, pages = "", None, 0
    while pages < 100:
        sc = tool(raw, "get_spark_context", dict(
            {"session": sid, "part": "code"},
            **({"cursor": cursor} if cursor else {})))
        code += sc["code"]
        pages += 1
        cursor = sc.get("next_cursor")
        if not sc["truncated"]:
            break
    want = rest.get(f"/v1/sessions/{sid}/context").json()["code"]
    t.check(f"budget: the context's code in {pages} pages, as /v1 has it",
            pages > 1 and code == want, (pages, len(code), len(want)))
    sc = tool(raw, "get_spark_context", {"session": sid})
    t.check("budget: the whole context over the budget says truncated",
            sc["truncated"] and "hint" in sc and "route" in sc, sc)


async def budget_resources(t, raw, rest, sid):
    """A session's context.md over the budget comes in pages, each naming
    the URI of the rest, their sum the /v1 prompt; a prompt over the
    budget ends by saying where the rest is."""
    uri = f"dsbroker://session/{sid}/context.md"
    st, _, js = raw.modern("resources/read", {"uri": uri},
                           headers={"Mcp-Name": uri})
    t.check("budget: a resource page within the budget",
            st == 200 and len(json.dumps(js)) <= 4096, (st, len(str(js))))
    url = f"http://127.0.0.1:{raw.port}/mcp"
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as h:
        async with Client(streamable_http_client(url, http_client=h)) as c:
            _, text, pages, marked = await read_all(c, uri)
            p = await c.get_prompt("generate_spark_job",
                                   {"session": sid, "task": "count rows"})
            msg = p.messages[0].content.text
    want = rest.get(f"/v1/sessions/{sid}/context").json()["prompt"]
    t.check(f"budget: context.md in {pages} pages, as /v1 has it, each "
            "cut one saying where the rest is",
            pages > 1 and marked and text == want,
            (pages, marked, len(text), len(want)))
    t.check("budget: a prompt over the budget says where the rest is",
            len(msg) < 4096 and MARK + "read the session's resources" in msg,
            msg[-300:])
    bad = f"dsbroker://session/{sid}/context.md?cursor=bm90IG91cnM%3D"
    st, _, js = raw.modern("resources/read", {"uri": bad},
                           headers={"Mcp-Name": bad})
    t.check("budget: a forged resource cursor is -32602",
            st == 400 and err_code(js) == -32602, (st, js))


def disabled(t, raw):
    st, _, js = raw.modern("tools/list")
    names = {x["name"] for x in js["result"]["tools"]}
    t.check("disabled group: jobs tools not listed",
            "submit_job" not in names and "browse" in names, names)
    st, _, js = raw.modern("tools/call", {"name": "get_job",
                                          "arguments": {"job": "x"}})
    t.check("disabled group: a call is an unknown tool",
            st == 400 and err_code(js) == -32602, (st, js))


def start(name, mcp_yaml, files=None):
    env = {"DSB_TEST_AUTH": "true"}
    for k, v in TOKENS.items():
        env[f"DSB_TEST_TOKEN_{k.upper()}"] = v
    return fixture_broker(name, env, mcp_yaml, TOKENS["admin"], files)[0]


def gated(name):
    """A fixture source whose describes wait for the file ../NAME (in the
    broker's work directory) to exist."""
    return (f"name: {name}\nplugin: fixture\ndata_file: data/catalog.json\n"
            f"gate_file: ../{name}-open\n")


def gated_tables(source):
    return [{"source": source, "database": "sales", "schema": "public",
             "table": n} for n in ("orders", "Order Items")]


async def live_progress(t, b, mode, stdio=False):
    """Progress arrives while the tool runs: select_tables over a gated
    source cannot finish until its gate file exists, and only the progress
    callback creates it, on the first notification.  Were the stream
    written at the end, the describe would wait out its gate and fail.
    Over stdio too: `dsbroker mcp` relays the broker's event stream event
    by event."""
    gate = os.path.join(os.path.dirname(b.conf), "gated-open")
    if os.path.exists(gate):
        os.unlink(gate)
    events = []

    async def progress(done, total, message):
        events.append(("progress", done, total))
        if not os.path.exists(gate):
            open(gate, "w").close()

    async def flow(c):
        sid = (await c.call_tool("create_session", {})) \
            .structured_content["session"]
        r = await c.call_tool("select_tables", {
            "session": sid, "tables": gated_tables("gated")},
            progress_callback=progress)
        events.append(("result", not r.is_error))
        return r

    if stdio:
        env = dict(os.environ, DSB_URL=f"http://127.0.0.1:{b.port}",
                   DSB_TOKEN=TOKENS["admin"])
        params = StdioServerParameters(
            command=os.path.join(fl.BUILD, "bin", "dsbroker"), args=["mcp"],
            env=env)
        async with Client(params, mode=mode) as c:
            r = await flow(c)
    else:
        url = f"http://127.0.0.1:{b.port}/mcp"
        headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as h:
            async with Client(streamable_http_client(url, http_client=h),
                              mode=mode) as c:
                r = await flow(c)
    how = f"{mode} over stdio" if stdio else mode
    t.check(f"{how}: live progress: a notification reached the client "
            "while the tool ran (it released the tool), then the result",
            events == [("progress", 0, 2), ("progress", 1, 2),
                       ("progress", 2, 2), ("result", True)], (events, r))


def gone_client(t, b, raw):
    """A client that reads the first progress event and goes away neither
    blocks nor loses the tool: it selects both tables once its gate opens,
    and the broker answers others meanwhile."""
    gate = os.path.join(os.path.dirname(b.conf), "gone-open")
    sid = tool(raw, "create_session", {})["session"]
    c = http.client.HTTPConnection("127.0.0.1", b.port, timeout=30)
    p = {"name": "select_tables", "arguments": {
        "session": sid, "tables": gated_tables("gone")},
         "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                   "progressToken": "p1"}}
    c.request("POST", "/mcp", body=json.dumps(
        {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": p}),
        headers={"Content-Type": "application/json",
                 "Accept": "application/json, text/event-stream",
                 "Authorization": f"Bearer {TOKENS['admin']}",
                 "MCP-Protocol-Version": MODERN,
                 "Mcp-Method": "tools/call", "Mcp-Name": "select_tables"})
    r = c.getresponse()
    first = r.readline().decode() + r.readline().decode()
    t.check("a streamed answer: text/event-stream, the first progress "
            "before the tool is done", r.getheader("content-type") ==
            "text/event-stream" and '"progress":0' in first, first)
    c.close()
    st, _, js = raw.modern("ping")
    t.check("the broker answers while a tool streams to a gone client",
            st == 200, (st, js))
    open(gate, "w").close()
    n = fl.wait_until(lambda: len(tool(raw, "get_session", {
        "session": sid})["selections"]) == 2, 30)
    t.check("the gone client's tool finished: both tables selected", n)


def check_config(t):
    """A misspelt tool group is refused with its position and a guess."""
    import subprocess
    work = fl.workdir("mcp-config")
    with open(os.path.join(work, "broker.yaml"), "w") as f:
        f.write("listen: 127.0.0.1:0\nmcp:\n  disabled_tool_groups: [jbos]\n"
                "  max_result_bytes: 100\n")
    r = subprocess.run([os.path.join(fl.BUILD, "bin", "dsbroker"), "-c", work,
                        "check-config"], capture_output=True, text=True)
    out = r.stdout + r.stderr
    t.check("check-config: an unknown tool group, with a guess",
            r.returncode == 1 and 'broker.yaml:3:26: error: unknown tool group '
            '"jbos" (did you mean "jobs"?) (tool groups: sources, sessions, '
            'context, jobs)' in out, out)
    t.check("check-config: max_result_bytes below its minimum",
            "max_result_bytes" in out, out)


def main():
    t = fl.Tally("mcp_protocol")
    check_config(t)
    b = start("mcp-protocol", "mcp:\n  max_result_bytes: 4096\n")
    try:
        for mode in ("auto", "legacy"):
            asyncio.run(sdk_flow(t, b.port, mode))
        raw = Raw(b.port)
        edge_cases(t, raw)
        scopes(t, raw)
        budget(t, raw, b)
    finally:
        stop_checked(t, b, "protocol broker")
    b = start("mcp-samples", "mcp:\n  max_result_bytes: 4096\n",
              sample_files())
    try:
        samples(t, Raw(b.port))
    finally:
        stop_checked(t, b, "samples broker")
    b = start("mcp-live", "", {"gated.yaml": gated("gated"),
                               "gone.yaml": gated("gone")})
    try:
        for mode in ("auto", "legacy"):
            asyncio.run(live_progress(t, b, mode))
            asyncio.run(live_progress(t, b, mode, stdio=True))
        gone_client(t, b, Raw(b.port))
    finally:
        stop_checked(t, b, "live-progress broker")
    b = start("mcp-disabled", "mcp:\n  disabled_tool_groups: [jobs]\n"
              "  session_idle_seconds: 1\n  max_sessions: 2\n")
    try:
        raw = Raw(b.port)
        disabled(t, raw)
        _, first, _ = raw.initialize()
        raw.initialize()
        raw.initialize()
        st, _, _ = raw.legacy(first, "ping")
        t.check("the least recently used session goes at max_sessions",
                st == 404, st)
        _, sid, _ = raw.initialize()
        t0 = time.monotonic()  # idle expiry is the clock: wait it out once
        fl.wait_until(lambda: time.monotonic() - t0 > 1.1, 5)
        st, _, _ = raw.legacy(sid, "ping")
        t.check("an idle session expires: 404", st == 404, st)
    finally:
        stop_checked(t, b, "disabled-groups broker")
    t.finish()


if __name__ == "__main__":
    main()
