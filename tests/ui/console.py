#!/usr/bin/env python3
"""The web console (/ui, docs/console.md) in a real browser: Debian's
chromium driven by Playwright (PyPI `playwright`, the system browser) against
`dsbroker serve` with real PostgreSQL, Glue on moto_server, a CSV file and
local Spark (tests/faults/e2e_broker.py, as tests/mcp/agent.py uses them).

First the serving itself over HTTP (headers, CSP, gzip, ETag, immutable
hashed assets, names that are not assets).  Then every flow in the browser:
sign in (a read-only token sees only Sources; an admin token everything),
the source tree with health, lazy levels, paging and a filter, search, a
table page, the session panel with its route, the Spark context with
highlighting and copy, admin (a form from the plugin's JSON Schema, an
error beside its field, test, save) with the created source used in the
session, a job run to its result table with CSV download, a cancelled job,
removing the source; both themes, a narrow window, keyboard reachability.
A screenshot per flow goes to BUILD/ui-screenshots.  Any console error,
page error or CSP violation fails the run; a last check shows that the
CSP refuses an inline script and an inline style.  Without a built console
(no node/npm) it is skipped, except under CI where it fails.  Prints
"N passed, N failed".
"""
import gzip
import json
import os
import re
import shutil
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "faults"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "mcp"))
import faultlib as fl  # noqa: E402
from e2e_broker import EXPECTED, HEAD, TAIL, conf, seed_glue  # noqa: E402
from mcp_common import stop_checked  # noqa: E402

CONSOLE = os.path.join(fl.BUILD, "share", "dsbroker", "console")
SHOTS = os.path.join(fl.BUILD, "ui-screenshots")
CHROMIUM = os.environ.get("DSB_CHROMIUM", "/usr/bin/chromium")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
       "manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")
ADMIN = fl.canary("ui-admin-token")
READER = fl.canary("ui-reader-token")
AUTH = ("auth:\n  enabled: true\n  tokens:\n"
        "    - name: admin\n      token: env:DSB_UI_ADMIN_TOKEN\n"
        "      scopes: [admin]\n"
        "    - name: reader\n      token: env:DSB_UI_READER_TOKEN\n"
        "      scopes: [read]\n")
PRODUCTS = "sku,title,price\nA1,anvil,10\nB2,bucket,3\n"
WAIT = 20000  # ms: a DOM state the page reaches without Spark
WATCH = None  # the Watch of the flows' page


def fetch(port, path, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def check_serving(t, port):
    """The console's files over plain HTTP."""
    st, h, body = fetch(port, "/ui")
    t.check("GET /ui is the page, no-cache, with the CSP",
            st == 200 and h.get("Content-Type", "").startswith("text/html")
            and h.get("Cache-Control") == "no-cache"
            and h.get("Content-Security-Policy") == CSP
            and h.get("X-Content-Type-Options") == "nosniff", (st, h))
    st2, h2, _ = fetch(port, "/ui/")
    t.check("/ui/ is the same page", st2 == 200 and h2.get("ETag") ==
            h.get("ETag"), (st2, h2))
    html = body.decode()
    assets = re.findall(r'"/ui/(app-[A-Z0-9]+\.(?:js|css))"', html)
    t.check("the page loads a hashed script and stylesheet, nothing inline",
            len(assets) == 2 and "<style" not in html and
            not re.search(r"<script(?![^>]*\bsrc=)", html) and
            "style=" not in html, html)
    for a in assets:
        st, h, raw = fetch(port, f"/ui/{a}")
        st_gz, h_gz, z = fetch(port, f"/ui/{a}",
                               {"Accept-Encoding": "br;q=1.0, gzip;q=0.8"})
        ctype = "text/javascript" if a.endswith(".js") else "text/css"
        t.check(f"{a}: immutable, {ctype}, gzip when accepted",
                st == 200 and h.get("Content-Type", "").startswith(ctype)
                and h.get("Cache-Control") ==
                "public, max-age=31536000, immutable"
                and "Content-Encoding" not in h and st_gz == 200
                and h_gz.get("Content-Encoding") == "gzip"
                and h_gz.get("Vary") == "Accept-Encoding"
                and gzip.decompress(z) == raw, (st, h, st_gz, h_gz))
        st, _, _ = fetch(port, f"/ui/{a}", {"If-None-Match": h["ETag"]})
        t.check(f"{a}: If-None-Match gives 304", st == 304, st)
        st, h3, _ = fetch(port, f"/ui/{a}", {"Accept-Encoding": "gzip;q=0"})
        t.check(f"{a}: gzip;q=0 gets the plain file",
                st == 200 and "Content-Encoding" not in h3, h3)
    for bad in ("/ui/..%2Fbroker.yaml", "/ui/%2e%2e", "/ui/index.html.gz",
                "/ui/app-00000000.js", "/ui/.hidden.js", "/ui/a/b"):
        st, h, body = fetch(port, bad)
        t.check(f"{bad} is no asset", st in (400, 404) and
                b"dsbcanary" not in body, (st, body[:200]))
    st, _, body = fetch(port, "/v1/whoami")
    t.check("/v1/whoami without a token says one is needed", st == 200 and
            json.loads(body) == {"name": None, "auth": True, "scopes": [],
                                 "sources": None}, (st, body))
    st, _, body = fetch(port, "/v1/whoami", {"Authorization": "Bearer x"})
    t.check("/v1/whoami with a wrong token is a 401", st == 401, (st, body))
    st, _, body = fetch(port, "/v1/whoami",
                        {"Authorization": f"Bearer {READER}"})
    t.check("/v1/whoami tells the scopes", st == 200 and json.loads(body)
            == {"name": "reader", "auth": True, "scopes": ["read"],
                "sources": None}, body)


class Watch:
    """Console errors, page errors and CSP violations of a page."""

    def __init__(self, page):
        self.problems = []
        page.on("console", lambda m: m.type == "error" and
                self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page: {e}"))
        page.add_init_script(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation', e =>"
            " window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")

    def expected(self, before, what):
        """Drops the console's "Failed to load resource" lines for what
        (e.g. "401") logged since before (a length of problems): a
        refusal the flow caused on purpose."""
        keep = self.problems[:before]
        for p in self.problems[before:]:
            if not (p.startswith("console: Failed to load resource") and
                    what in p):
                keep.append(p)
        self.problems[:] = keep

    def violations(self, page):
        return page.evaluate("window.__csp || []")


def until(page, expr, timeout):
    """Waits (timeout ms) until the JavaScript expression expr is true in
    the page.  Not page.wait_for_function: Playwright compiles its
    predicate with eval, which the console's CSP refuses."""
    if not fl.wait_until(lambda: page.evaluate(expr), timeout / 1000, 0.05):
        raise TimeoutError(f"not reached in {timeout} ms: {expr}")


def shot(page, flow):
    page.screenshot(path=os.path.join(SHOTS, f"{flow}.png"), full_page=True)


def sign_in(page, port, token):
    page.goto(f"http://127.0.0.1:{port}/ui")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector("#who", timeout=WAIT)


def flow_sign_in(t, page, port):
    page.goto(f"http://127.0.0.1:{port}/ui")
    page.wait_for_selector("#token", timeout=WAIT)
    shot(page, "signin")
    page.fill("#token", "not-a-token")
    before = len(WATCH.problems)
    page.click("button[type=submit]")
    page.wait_for_selector(".error", timeout=WAIT)
    WATCH.expected(before, "401")
    t.check("a wrong token is refused on the page",
            "not valid" in page.inner_text(".error"), page.inner_text("main"))
    page.fill("#token", READER)
    page.click("button[type=submit]")
    page.wait_for_selector("#who", timeout=WAIT)
    nav = page.inner_text("nav")
    t.check("a read-only token sees Sources only", nav.split() == ["Sources"],
            nav)
    t.check("the token is kept in session storage", page.evaluate(
        "sessionStorage.getItem('dsbroker.token')") == READER)
    page.click("#signout")
    page.wait_for_selector("#token", timeout=WAIT)
    page.fill("#token", ADMIN)
    page.click("button[type=submit]")
    page.wait_for_selector("#nav-admin", timeout=WAIT)
    nav = page.inner_text("nav")
    t.check("an admin token sees every view", nav.split() ==
            ["Sources", "Session", "Context", "Jobs", "Admin"], nav)


def expand(page, scope, kind, name):
    """Opens the tree node kind/name under scope (a locator); its item."""
    item = scope.locator(f"li.node.{kind}:has(> button[data-name=\"{name}\"])"
                         ).first
    item.locator(f"> button[data-name=\"{name}\"]").click()
    item.locator(".level").first.wait_for(timeout=WAIT)
    return item


def flow_sources(t, page):
    page.click("#nav-sources")
    page.wait_for_selector("#tree", timeout=WAIT)
    until(page,
          "document.querySelectorAll('[data-health=healthy]').length >= 3",
        timeout=WAIT)
    t.check("every source shows healthy", page.locator(
        "[data-health=healthy]").count() == 3)
    tree = page.locator("#tree")
    pg = expand(page, tree, "source", "pg")
    dsb = expand(page, pg, "database", "dsb")
    dsb.locator("input.filter").first.fill("man")
    until(page,
          "[...document.querySelectorAll('li.node.database li.node.schema')]"
        ".map(e => e.querySelector('button').dataset.name).join() == 'many'",
        timeout=WAIT)
    dsb.locator("input.filter").first.fill("")
    many = expand(page, dsb, "schema", "many")
    tables = many.locator("li.node.table")
    tables.nth(49).wait_for(timeout=WAIT)
    t.check("a level shows its first page", tables.count() == 50,
            tables.count())
    many.locator("button.more").click()
    tables.nth(99).wait_for(timeout=WAIT)
    names = [a.inner_text() for a in many.locator("li.node.table a").all()]
    t.check("more loads the next page", len(names) == 100 and
            len(set(names)) == 100, names)
    many.locator("input.filter").fill("tab_1199")
    until(page,
          "(() => { const l = [...document.querySelectorAll("
        "'li.node.schema li.node.table a')]; return l.length == 1 && "
        "l[0].textContent == 'tab_1199'; })()", timeout=WAIT)
    t.check("the filter narrows the level", True)
    shot(page, "sources-tree")
    sales = expand(page, dsb, "schema", "Sales")
    sales.locator("a[data-name=\"Order Items\"]").wait_for(timeout=WAIT)
    csv = expand(page, tree, "source", "csv")
    data = expand(page, csv, "database", "e2edata")
    geo = expand(page, data, "schema", "geo")
    geo.locator("a[data-name=regions]").wait_for(timeout=WAIT)
    page.fill("#search", "order it")
    page.press("#search", "Enter")
    page.wait_for_selector(".results li a", timeout=WAIT)
    res = page.inner_text(".results")
    t.check("search finds the line items", "Order Items" in res, res)
    shot(page, "search")
    page.click(".results li a:has-text('Order Items')")
    page.wait_for_selector("#columns", timeout=WAIT)
    cols = page.inner_text("#columns")
    t.check("the table page lists every column with types and the key",
            all(c in cols for c in ("Id", "select", "quo\"te",
                                    "naïve ünïcödé", "plain_col", "integer",
                                    "PK")), cols)
    t.check("the table page shows key and row estimate",
            page.inner_text("[data-field=primary_key]") == "Id" and
            page.inner_text("[data-field=row_estimate]") != "", page.inner_text(
                ".facts"))
    shot(page, "table")
    page.click("#add-table")
    page.wait_for_selector(".ok[role=status]", timeout=WAIT)
    page.wait_for_selector("#notes li", timeout=WAIT)
    notes = page.inner_text("#notes")
    t.check("the table page shows the context's notes once selected",
            "single-partition read" in notes, notes)
    page.goto(page.url.split("#")[0] + "#/table/csv/e2edata/geo/regions")
    page.wait_for_selector("#add-table", timeout=WAIT)
    page.click("#add-table")
    page.wait_for_selector(".ok[role=status]", timeout=WAIT)
    page.goto(page.url.split("#")[0] + "#/table/lake/mcpdb/default/events")
    page.wait_for_selector("#add-table", timeout=WAIT)
    before = len(WATCH.problems)
    # no executor reads this Glue table: the page's context call is a 501
    with page.expect_console_message(lambda m: "501" in m.text,
                                     timeout=WAIT):
        page.click("#add-table")
    page.wait_for_selector(".ok[role=status]", timeout=WAIT)
    WATCH.expected(before, "501")


def flow_session(t, page):
    before = len(WATCH.problems)
    page.click("#nav-session")
    page.wait_for_selector(".session .error", timeout=WAIT)
    sel = page.inner_text("#selections")
    t.check("the session holds the three tables across sources",
            all(x in sel for x in ("Order Items", "regions", "events")), sel)
    why = page.inner_text(".session .error")
    t.check("the session says why no executor takes the Glue table",
            "storage format" in why and "EMR" in why, why)
    shot(page, "session-unroutable")
    page.click("button[aria-label='remove events']")
    page.wait_for_selector("#route", timeout=WAIT)
    WATCH.expected(before, "501")
    sel = page.inner_text("#selections")
    t.check("a table is removed from the session", "events" not in sel, sel)
    route = page.inner_text("#route")
    t.check("the session shows where a job would run and why",
            "local" in route, route)
    shot(page, "session")


def flow_admin(t, page, work):
    os.makedirs(os.path.join(work, "uidata", "shop"))
    with open(os.path.join(work, "uidata", "shop", "products.csv"), "w") as f:
        f.write(PRODUCTS)
    page.click("#nav-admin")
    page.wait_for_selector("#admin-sources tbody tr", timeout=WAIT)
    page.click("#add-source")
    page.select_option("#opt-plugin", "s3csv")
    page.wait_for_selector("#opt-roots", timeout=WAIT)
    t.check("the option form comes from the plugin's schema",
            page.locator(".source-form .field").count() > 4)
    page.fill("#opt-name", "uicsv")
    page.fill("#opt-network", "local")
    before = len(WATCH.problems)
    page.click("#test-source")
    page.wait_for_selector("[data-field=roots] .field-error", timeout=WAIT)
    WATCH.expected(before, "400")
    t.check("a missing option is shown beside its field", "roots" in
            page.inner_text("[data-field=roots] .field-error"),
            page.inner_text(".source-form"))
    shot(page, "admin-error")
    page.fill("#opt-roots", f"file:{work}/uidata/")
    page.click("#test-source")
    page.wait_for_selector("#test-result", timeout=WAIT)
    t.check("the candidate tests ok", "passes" in
            page.inner_text("#test-result"), page.inner_text(".source-form"))
    page.click("#save-source")
    page.wait_for_selector("#admin-note", timeout=WAIT)
    note = page.inner_text("#admin-note")
    t.check("the source is saved and open", "saved uicsv: open" in note, note)
    page.wait_for_selector("tr[data-source=uicsv]", timeout=WAIT)
    page.click("button[aria-label='edit uicsv']")
    page.wait_for_selector("#opt-roots", timeout=WAIT)
    t.check("the editor starts from the source's options",
            page.input_value("#opt-roots") == f"file:{work}/uidata/",
            page.input_value("#opt-roots"))
    page.fill("#opt-description", "edited in the console")
    page.click("#save-source")
    page.wait_for_selector("#admin-note:has-text('saved uicsv: open')",
                           timeout=WAIT)
    desc = page.evaluate(
        "fetch('/v1/sources/uicsv', {headers: {Authorization: 'Bearer ' + "
        "sessionStorage.getItem('dsbroker.token')}}).then(r => r.json())"
        ".then(j => j.description)")
    t.check("the edit is saved", desc == "edited in the console", desc)
    shot(page, "admin")
    page.goto(page.url.split("#")[0] + "#/table/uicsv/uidata/shop/products")
    page.wait_for_selector("#columns", timeout=WAIT)
    page.click("#add-table")
    page.wait_for_selector(".ok[role=status]", timeout=WAIT)
    t.check("the created source's table joins the session", True)


def flow_context(t, page):
    page.click("#nav-context")
    page.wait_for_selector("#code .hljs-keyword", timeout=WAIT)
    code = page.inner_text("#code")
    t.check("the context code reads every selected table",
            all(x in code for x in ("order_items_df", "regions_df",
                                    "products_df")), code[:400])
    t.check("the prompt is shown", "products" in page.inner_text("#prompt"))
    page.click("button:has-text('Copy code')")
    page.wait_for_selector("button:has-text('Copied')", timeout=WAIT)
    t.check("copy puts the code on the clipboard", page.evaluate(
        "navigator.clipboard.readText()") == page.evaluate(
        "document.querySelector('#code').textContent"))
    shot(page, "context")
    return code


def variables(code):
    return dict(re.findall(r"^(\w+_df) = .*?\"([^\"]*)\"", code, re.M))


def flow_jobs(t, page, code):
    page.click("#nav-jobs")
    page.wait_for_selector("#job-code", timeout=WAIT)
    until(page,
          "document.querySelector('#job-code').value.includes('regions_df')",
        timeout=WAIT)
    pre = page.input_value("#job-code")
    t.check("the editor is prefilled with the context's code",
            code.strip()[:200] in pre, pre[:300])
    ctx_code = page.evaluate(
        "fetch('/v1/sessions/' + sessionStorage.getItem('dsbroker.session')"
        " + '/context', {headers: {Authorization: 'Bearer ' + "
        "sessionStorage.getItem('dsbroker.token')}}).then(r => r.json())"
        ".then(j => j.code)")
    page.fill("#job-code", HEAD + ctx_code + TAIL.format(
        items="order_items_df", regions="regions_df"))
    page.fill("#job-name", "ui join")
    page.click("#submit-job")
    page.wait_for_selector("#jobs tbody tr", timeout=WAIT)
    until(page,
          "['succeeded','failed','cancelled','timed_out'].includes("
        "document.querySelector('#job-state').textContent)", timeout=240000)
    state = page.inner_text("#job-state")
    if not t.check("the job succeeded", state == "succeeded",
                   page.inner_text("#job")[-3000:]):
        return
    page.wait_for_selector("#result tbody tr", timeout=WAIT)
    rows = [[c.inner_text() for c in r.locator("td").all()]
            for r in page.locator("#result tbody tr").all()]
    heads = [h.inner_text() for h in page.locator("#result thead th").all()]
    t.check("the result table holds the exact rows",
            {"columns": heads, "rows": rows} == EXPECTED, (heads, rows))
    until(page, "document.querySelector('#jobs tbody tr').textContent"
          ".includes('succeeded')", timeout=WAIT)  # the list polls apart
    row = page.inner_text("#jobs tbody tr")
    t.check("the job list shows state, route and duration",
            "succeeded" in row and "local" in row and " s" in row, row)
    t.check("the logs were shown", len(page.inner_text("#logs")) > 0)
    with page.expect_download() as dl:
        page.click("#csv")
    text = open(dl.value.path(), encoding="utf-8").read()
    t.check("the CSV download holds the result",
            text == "region,n,ids\nnorth,3,8\nsouth,1,2\n", text)
    shot(page, "jobs")
    page.fill("#job-code", "import time\nprint('waiting', flush=True)\n"
              "time.sleep(600)\n")
    page.fill("#job-name", "ui cancel")
    page.click("#submit-job")
    until(page,
          "document.querySelector('#job h3') && "
        "document.querySelector('#job h3').textContent.includes('pending') ||"
        "(document.querySelector('#job-state') || {}).textContent == "
        "'running'", timeout=WAIT)
    page.wait_for_selector("#cancel", timeout=WAIT)
    page.click("#cancel")
    until(page,
          "['cancelled','cancelling'].includes("
        "document.querySelector('#job-state').textContent)", timeout=WAIT)
    until(page,
          "document.querySelector('#job-state').textContent == 'cancelled'",
        timeout=60000)
    t.check("a running job is cancelled", True)
    shot(page, "jobs-cancelled")


def flow_remove_source(t, page):
    page.click("#nav-admin")
    page.wait_for_selector("tr[data-source=uicsv]", timeout=WAIT)
    page.once("dialog", lambda d: d.accept())
    page.click("button[aria-label='remove uicsv']")
    page.wait_for_selector("#admin-note:has-text('removed uicsv')",
                           timeout=WAIT)
    until(page,
          "!document.querySelector('tr[data-source=uicsv]')", timeout=WAIT)
    t.check("the admin removes the source", True)


def flow_looks(t, page):
    page.click("#nav-sources")
    page.wait_for_selector("#tree", timeout=WAIT)
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.click("#theme")
    until(page,
          "document.documentElement.dataset.theme == 'dark'", timeout=WAIT)
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    t.check("the theme toggle switches to dark", light != dark and
            light == "rgb(255, 255, 255)", (light, dark))
    shot(page, "dark")
    page.set_viewport_size({"width": 390, "height": 800})
    page.wait_for_selector("#tree", timeout=WAIT)
    wide = page.evaluate(
        "document.documentElement.scrollWidth - window.innerWidth")
    t.check("a narrow window has no horizontal scroll", wide <= 0, wide)
    shot(page, "narrow-dark")
    page.click("#theme")
    until(page,
          "document.documentElement.dataset.theme == 'light'", timeout=WAIT)
    shot(page, "narrow-light")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.evaluate("localStorage.removeItem('dsbroker.theme')")
    page.emulate_media(color_scheme="dark")
    page.reload()
    page.wait_for_selector("#tree", timeout=WAIT)
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    t.check("without a choice the theme follows the system's dark",
            bg == dark, (bg, dark))
    shot(page, "system-dark")
    page.emulate_media(color_scheme="light")


def flow_keyboard(t, page):
    page.reload()
    page.wait_for_selector("#tree button[data-name=pg]", timeout=WAIT)
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(
            "document.activeElement.id || document.activeElement.dataset.name"
            " || document.activeElement.tagName"))
    want = ["nav-sources", "nav-session", "nav-context", "nav-jobs",
            "nav-admin", "theme", "signout", "search", "pg"]
    t.check("Tab reaches the main controls", all(w in seen for w in want),
            seen)
    page.focus("#tree button[data-name=csv]")
    page.keyboard.press("Enter")
    page.wait_for_selector("li.node.source:has(> button[data-name=csv]"
                           "[aria-expanded=true]) button[data-name=e2edata]",
                           timeout=WAIT)
    t.check("Enter opens a tree node", True)
    shot(page, "keyboard")


def csp_holds(t, browser, port):
    """An inline script and an inline style attribute are refused."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.add_init_script(
        "window.__csp = []; document.addEventListener("
        "'securitypolicyviolation', e => window.__csp.push("
        "e.violatedDirective));")
    page.goto(f"http://127.0.0.1:{port}/ui")
    page.wait_for_selector("#token", timeout=WAIT)
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__inline = 1';"
        " document.body.appendChild(s);"
        " const d = document.createElement('div');"
        " d.setAttribute('style', 'color: red'); document.body.appendChild(d);"
        " }")
    until(page, "window.__csp.length >= 2", timeout=WAIT)
    got = page.evaluate("[window.__inline, window.__csp]")
    t.check("the CSP refuses an inline script and an inline style",
            got[0] is None and any(v.startswith("script-src") for v in got[1])
            and any(v.startswith("style-src") for v in got[1]), got)
    ctx.close()


def run_browser(t, port, work):
    from playwright.sync_api import sync_playwright
    shutil.rmtree(SHOTS, ignore_errors=True)
    os.makedirs(SHOTS)
    with sync_playwright() as p:  # a fresh profile per launch
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 800},
                                  color_scheme="light", accept_downloads=True)
        ctx.grant_permissions(["clipboard-read", "clipboard-write"],
                              origin=f"http://127.0.0.1:{port}")
        page = ctx.new_page()
        global WATCH
        watch = WATCH = Watch(page)
        flows = [("sign in", lambda: flow_sign_in(t, page, port)),
                 ("sources", lambda: flow_sources(t, page)),
                 ("session", lambda: flow_session(t, page)),
                 ("admin", lambda: flow_admin(t, page, work)),
                 ("context", lambda: flow_context(t, page))]
        code = None
        for name, fn in flows:
            try:
                code = fn() or code
            except Exception as e:  # a flow that stops fails, the rest run
                t.check(f"{name}: the flow ran to the end", False, repr(e))
                shot(page, f"failed-{name.replace(' ', '-')}")
        for name, fn in [("jobs", lambda: flow_jobs(t, page, code or "")),
                         ("remove source", lambda: flow_remove_source(t, page)),
                         ("themes", lambda: flow_looks(t, page)),
                         ("keyboard", lambda: flow_keyboard(t, page))]:
            try:
                fn()
            except Exception as e:
                t.check(f"{name}: the flow ran to the end", False, repr(e))
                shot(page, f"failed-{name.replace(' ', '-')}")
        t.check("no console error and no page error", not watch.problems,
                watch.problems)
        t.check("no CSP violation", not watch.violations(page),
                watch.violations(page))
        ctx.close()
        csp_holds(t, browser, port)
        browser.close()
    t.note(f"screenshots in {SHOTS}")


def main():
    t = fl.Tally("ui_console")
    if not os.path.exists(os.path.join(CONSOLE, "index.html")):
        if os.environ.get("CI"):
            t.check("the console is built (CI needs node and npm)", False,
                    CONSOLE)
            t.finish()
        fl.skip("ui_console", "the console is not built (node/npm missing)")
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            t.check("chromium is installed (scripts/setup.sh)", False)
            t.finish()
        fl.skip("ui_console", f"no browser at {CHROMIUM}")
    pg, moto = fl.load_env("postgres"), fl.load_env("moto")
    if not pg or not moto:
        fl.skip("ui_console", "the postgres and moto fixtures are not running")
    seed_glue(moto)
    work = fl.workdir("ui-console")
    env = {"DSB_UI_ADMIN_TOKEN": ADMIN, "DSB_UI_READER_TOKEN": READER,
           "AWS_ACCESS_KEY_ID": "AKIAMCP", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_EC2_METADATA_DISABLED": "true"}
    b = fl.Broker(work, conf(work, pg, moto, AUTH), env=env, token=ADMIN)
    b.start()
    try:
        check_serving(t, b.port)
        run_browser(t, b.port, work)
    finally:
        stop_checked(t, b, "console broker")
    t.finish()


if __name__ == "__main__":
    main()
