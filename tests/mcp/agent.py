#!/usr/bin/env python3
"""A scripted agent on the MCP server, end to end: the official MCP Python
SDK (PyPI `mcp`) against the real `dsbroker serve` with real PostgreSQL
(tests/scripts/postgres.sh: the fixture cluster), a Glue catalog on
moto_server (tests/scripts/moto.sh), a CSV file (s3csv) and local Spark
(PySpark in the venv).  Once per way in — Streamable HTTP and `dsbroker
mcp` over stdio, each with `server/discover` (2026-07-28) and with
`initialize` (2025-11-25) — the agent lists
sources, browses and searches, selects a PostgreSQL and a CSV table, reads
the context, submits the context's code plus an aggregation, polls the job
and reads the exact expected rows.  The PostgreSQL password and the token
are canaries; every tool answer (and the stdio transcript) is kept for the
secret scan.  Prints "N passed, N failed".
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "faults"))
import faultlib as fl  # noqa: E402
from mcp_common import keep as keep_as, stop_checked  # noqa: E402
from e2e_broker import (EXPECTED, HEAD, TAIL, conf,  # noqa: E402
                        seed_glue)

import httpx2  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

TOKEN = fl.canary("mcp-agent-token")
AUTH = ("auth:\n  enabled: true\n  tokens:\n    - name: agent\n"
        "      token: env:DSB_MCP_AGENT_TOKEN\n")


def keep(text):
    keep_as("mcp-agent", text)


class Agent:
    def __init__(self, t, c, how):
        self.t, self.c, self.how = t, c, how

    async def call(self, name, args):
        r = await self.c.call_tool(name, args)
        keep(json.dumps(r.structured_content) + "\n" +
             "".join(getattr(x, "text", "") for x in r.content))
        if r.is_error:
            raise RuntimeError(f"{name}: {r.structured_content}")
        return r.structured_content

    async def all_pages(self, name, args, member):
        items, cursor = [], None
        while True:
            page = await self.call(name, dict(args, **(
                {"cursor": cursor} if cursor else {})))
            items += page[member]
            cursor = page.get("next_cursor")
            if not page["truncated"]:
                return items

    async def code(self, sid):
        text, cursor = "", None
        while True:
            page = await self.call("get_spark_context", dict(
                {"session": sid, "part": "code"},
                **({"cursor": cursor} if cursor else {})))
            text += page["code"]
            cursor = page.get("next_cursor")
            if not page["truncated"]:
                return text

    async def run(self):
        t, how = self.t, self.how
        names = [s["name"] for s in await self.all_pages("list_sources", {},
                                                         "items")]
        t.check(f"{how}: list_sources", {"pg", "csv", "lake"} <= set(names),
                names)
        lake = await self.all_pages("browse", {"source": "lake",
                                               "database": "mcpdb"}, "items")
        t.check(f"{how}: browse the Glue catalog (moto)",
                [x["name"] for x in lake] == ["events"], lake)
        await self.all_pages("browse", {"source": "pg", "database": "dsb",
                                        "schema": "Sales"}, "items")
        await self.all_pages("browse", {"source": "csv",
                                        "database": "e2edata",
                                        "schema": "geo"}, "items")
        found = await self.all_pages("search_tables", {"query": "order it"},
                                     "items")
        t.check(f"{how}: search finds the line items",
                any(x["table"] == "Order Items" and x["source"] == "pg"
                    for x in found), found)
        found = await self.all_pages("search_tables", {"query": "regions",
                                                       "source": "csv"},
                                     "items")
        t.check(f"{how}: search in one source", [x["table"] for x in found]
                == ["regions"], found)
        sid = (await self.call("create_session", {}))["session"]
        await self.call("select_tables", {"session": sid, "tables": [
            {"source": "pg", "database": "dsb", "schema": "Sales",
             "table": "Order Items"},
            {"source": "csv", "database": "e2edata", "schema": "geo",
             "table": "regions"}]})
        specs = await self.all_pages("get_spark_context", {
            "session": sid, "part": "read_specs"}, "read_specs")
        var = {s["table"]: s["variable"] for s in specs}
        plan = await self.call("plan_job", {"session": sid})
        t.check(f"{how}: plan_job routes to local", plan.get("executor") ==
                "local", plan)
        code = HEAD + await self.code(sid) + TAIL.format(
            items=var["Order Items"], regions=var["regions"])
        job = await self.call("submit_job", {"session": sid, "code": code,
                                             "name": f"mcp {how}"})
        state = await self.wait(job["id"])
        if state["state"] != "succeeded":
            logs = await self.call("get_job_logs", {"job": job["id"],
                                                    "lines": 40})
            t.check(f"{how}: the job succeeded", False,
                    f"{state}\n{logs.get('stderr')}")
            return
        res = await self.call("get_job_result", {"job": job["id"]})
        t.check(f"{how}: the exact rows", {"columns": res["columns"],
                                           "rows": res["rows"]} == EXPECTED
                and res["truncated"] is False, res)

    async def wait(self, job):
        """Polls the job's observed state until it is final."""
        while True:
            j = await self.call("get_job", {"job": job})
            if j["state"] not in ("pending", "running", "cancelling"):
                return j
            await asyncio.sleep(0.5)


async def over_http(t, port, mode, how):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as h:
        async with Client(streamable_http_client(
                f"http://127.0.0.1:{port}/mcp", http_client=h),
                mode=mode) as c:
            t.check(f"{how}: protocol {c.protocol_version}",
                    c.protocol_version == ("2026-07-28" if mode == "auto"
                                           else "2025-11-25"))
            await Agent(t, c, how).run()


async def over_stdio(t, port, work, mode, how):
    env = dict(os.environ, DSB_URL=f"http://127.0.0.1:{port}",
               DSB_TOKEN=TOKEN, DSB_MCP_TRANSCRIPT=os.path.join(
                   work, "stdio-transcript.jsonl"))
    params = StdioServerParameters(
        command=os.path.join(fl.BUILD, "bin", "dsbroker"), args=["mcp"],
        env=env)
    async with Client(params, mode=mode) as c:
        t.check(f"{how}: protocol {c.protocol_version}",
                c.protocol_version == ("2026-07-28" if mode == "auto"
                                       else "2025-11-25"))
        await Agent(t, c, how).run()
    p = os.path.join(work, "stdio-transcript.jsonl")
    t.check(f"{how}: a transcript was kept", os.path.getsize(p) > 0)
    keep(open(p, encoding="utf-8", errors="replace").read())


def main():
    t = fl.Tally("mcp_agent")
    pg, moto = fl.load_env("postgres"), fl.load_env("moto")
    if not pg or not moto:
        fl.skip("mcp_agent", "the postgres and moto fixtures are not running")
    seed_glue(moto)
    work = fl.workdir("mcp-agent")
    env = {"DSB_MCP_AGENT_TOKEN": TOKEN, "AWS_ACCESS_KEY_ID": "AKIAMCP",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_EC2_METADATA_DISABLED": "true"}
    b = fl.Broker(work, conf(work, pg, moto, AUTH), env=env, token=TOKEN)
    b.start()
    try:
        ways = sys.argv[1:] or ["discover", "initialize", "stdio-discover",
                                "stdio-initialize"]
        for how in ways:
            mode = "auto" if how.endswith("discover") else "legacy"
            try:
                if how.startswith("stdio"):
                    asyncio.run(over_stdio(t, b.port, work, mode, how))
                else:
                    asyncio.run(over_http(t, b.port, mode, how))
            except Exception as e:  # a tool error ends that agent's run
                t.check(f"{how}: the agent ran to the end", False, repr(e))
    finally:
        stop_checked(t, b, "agent broker")
    t.finish()


if __name__ == "__main__":
    main()
