#!/usr/bin/env python3
"""Console benchmark (not a test): the web console's first load and the time
to a rendered source tree on a warm broker.  The real `dsbroker serve` with
the fixture plugins (tests/fixtures/confd-http, auth off) serving the built
console (BUILD/share/dsbroker/console).  Prints the bytes a first load
transfers (index.html, script and stylesheet, gzip as the broker sends them
to a browser) and, over N fresh browser contexts (empty cache) in Debian's
chromium driven by Playwright, the time from navigation to the tree showing
every source.  The goals (< 300 KB compressed, < 500 ms) are printed, not
asserted.

Usage: tests/bench/ui_load.py BUILD_DIR [--runs N]
"""
import http.client
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "faults"))
CHROMIUM = os.environ.get("DSB_CHROMIUM", "/usr/bin/chromium")


def get(port, path, gz):
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("GET", path, headers={"Accept-Encoding": "gzip"} if gz else {})
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"GET {path}: {r.status} {body[:200]!r}")
    return body


def first_load(port):
    """(plain bytes, gzip bytes) of the page and what it loads."""
    page = get(port, "/ui", False).decode()
    paths = ["/ui"] + re.findall(r'"(/ui/[^"]+)"', page)
    plain = sum(len(get(port, p, False)) for p in paths)
    gz = sum(len(get(port, p, True)) for p in paths)
    return paths, plain, gz


def tree_times(port, runs, n_sources):
    from playwright.sync_api import sync_playwright
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        for i in range(runs + 1):  # the first run warms the broker
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/ui", wait_until="commit")
            page.locator("#tree li.node.source").nth(n_sources - 1).wait_for()
            ms = (time.perf_counter() - t0) * 1000
            mark = page.evaluate(
                "performance.getEntriesByName('dsb:tree')[0].startTime")
            if i:
                out.append((ms, mark))
            ctx.close()
        browser.close()
    return out


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and
                            not sys.argv[1].startswith("--")
                            else os.path.join(ROOT, "build"))
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) \
        if "--runs" in sys.argv else 20
    os.environ["DSB_BUILD_DIR"] = build
    import faultlib as fl
    console = os.path.join(build, "share", "dsbroker", "console")
    if not os.path.exists(os.path.join(console, "index.html")):
        sys.exit(f"no console in {console}: build with node and npm present")
    work = tempfile.mkdtemp(prefix="bench-ui-")
    env = {"DSB_TEST_STATE_DIR": os.path.join(work, "state"),
           "DSB_TEST_FIXTURE_PASSWORD": "bench-password",
           "DSB_TEST_CONSOLE_DIR": console}
    b = fl.Broker(work, {}, env=env, plugin_dir=os.path.join(
        build, "tests", "plugins", "http"))
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "confd-http"),
                    b.conf, dirs_exist_ok=True)
    b.start()
    try:
        import json
        n_sources = len(json.loads(get(b.port, "/v1/sources", False))["items"])
        paths, plain, gz = first_load(b.port)
        times = tree_times(b.port, runs, n_sources)
    finally:
        b.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"first load: {', '.join(paths)}")
    print(f"  {plain} bytes, {gz} bytes gzip ({gz / 1024:.1f} KiB; goal "
          f"< 300 KB: {'met' if gz < 300_000 else 'not met'})")
    print(f"time to a rendered source tree ({n_sources} sources, "
          f"{len(times)} fresh browser contexts, warm broker):")
    for k, what in ((1, "in the page (navigation start to the tree's "
                        "render, User Timing)"),
                    (0, "seen by the driver (goto to the tree's last "
                        "source visible)")):
        q = sorted(t[k] for t in times)
        p50 = statistics.median(q)
        print(f"  {what}: p50 {p50:.0f} ms, p90 "
              f"{q[max(0, int(len(q) * 0.9) - 1)]:.0f} ms, max {q[-1]:.0f} ms"
              f" (goal < 500 ms: {'met' if p50 < 500 else 'not met'})")


if __name__ == "__main__":
    main()
