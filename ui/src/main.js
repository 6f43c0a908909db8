// dsbroker's web console (docs/console.md): Preact + htm, hash routes,
// the /v1 API only.  No inline style anywhere (the CSP forbids it).
import { render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { html } from "htm/preact";
import { Problem, call, get, path, setToken, token } from "./api.js";
import { Code } from "./code.js";
import { AdminView } from "./admin.js";
import { ErrorBox } from "./widgets.js";
import "./style.css";

/* ------------------------------------------------------------ shared */

const SESSION_KEY = "dsbroker.session";
const FINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

// The console's session: one broker session id, kept per tab; listeners
// hear of changes to its selections.
const bus = new EventTarget();
export const sessionChanged = () => bus.dispatchEvent(new Event("session"));

function useBus() {
  const [n, setN] = useState(0);
  useEffect(() => {
    const f = () => setN((x) => x + 1);
    bus.addEventListener("session", f);
    return () => bus.removeEventListener("session", f);
  }, []);
  return n;
}

async function sessionId(create) {
  let sid = sessionStorage.getItem(SESSION_KEY);
  if (sid) {
    try {
      await get(path("v1", "sessions", sid));
      return sid;
    } catch (e) {
      if (e.status !== 404 && e.status !== 403) throw e;
      sessionStorage.removeItem(SESSION_KEY);
    }
  }
  if (!create) return null;
  const s = await call("POST", "/v1/sessions");
  sessionStorage.setItem(SESSION_KEY, s.id);
  return s.id;
}

// Runs an async loader when deps change; {data, error, loading, reload}.
function useLoad(fn, deps) {
  const [st, setSt] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setSt((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setSt({ data, error: null, loading: false }),
      (error) => live && setSt({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...st, reload: () => setTick((t) => t + 1) };
}

function CopyButton({ text, label }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const ta = document.createElement("textarea");
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return html`<button type="button" class="small" onClick=${copy}>
    ${done ? "Copied" : `Copy ${label}`}</button>`;
}

const tableHash = (t) =>
  "#/table" + path(t.source, t.database, t.schema ?? "", t.table);

async function addToSession(t) {
  const sid = await sessionId(true);
  const sel = { source: t.source, database: t.database, table: t.table };
  if (t.schema) sel.schema = t.schema;
  await call("POST", path("v1", "sessions", sid, "selections"), sel);
  sessionChanged();
}

/* ------------------------------------------------------------ sign in */

function SignIn({ onDone, error }) {
  const [t, setT] = useState("");
  const [err, setErr] = useState(error);
  const submit = async (ev) => {
    ev.preventDefault();
    setToken(t.trim());
    try {
      onDone(await get("/v1/whoami"));
    } catch (e) {
      setToken("");
      setErr(e);
    }
  };
  return html`<main class="signin">
    <h1>dsbroker</h1>
    <form onSubmit=${submit} class="card">
      <label for="token">Bearer token</label>
      <input id="token" type="password" autocomplete="off" value=${t}
        onInput=${(e) => setT(e.target.value)} required />
      <p class="muted">Kept in this tab's session storage only.</p>
      <button type="submit" class="primary">Sign in</button>
      <${ErrorBox} error=${err} />
    </form>
  </main>`;
}

/* ------------------------------------------------------------ sources */

const PAGE = 50;

// One level of the tree: items of url, paged, filtered by name.
function Level({ url, render: renderItem, label }) {
  const [items, setItems] = useState([]);
  const [next, setNext] = useState(null);
  const [q, setQ] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(true);
  const load = useCallback(
    async (token_, reset) => {
      setBusy(true);
      try {
        const qs = new URLSearchParams({ page_size: String(PAGE) });
        if (token_) qs.set("page_token", token_);
        if (q) qs.set("q", q);
        const r = await get(`${url}?${qs}`);
        setItems((old) => (reset ? r.items : [...old, ...r.items]));
        setNext(r.next_page_token || null);
        setError(null);
      } catch (e) {
        setError(e);
      }
      setBusy(false);
    },
    [url, q],
  );
  useEffect(() => {
    const h = setTimeout(() => load(null, true), q ? 200 : 0);
    return () => clearTimeout(h);
  }, [load]);
  return html`<div class="level">
    <input class="filter" type="search" placeholder=${`filter ${label}`}
      aria-label=${`filter ${label}`} value=${q}
      onInput=${(e) => setQ(e.target.value)} />
    <${ErrorBox} error=${error} />
    <ul>${items.map((it) => renderItem(it))}</ul>
    ${busy ? html`<div class="muted">loading…</div>` : null}
    ${!busy && !items.length && !error ? html`<div class="muted">no ${label}</div>` : null}
    ${next && !busy
      ? html`<button type="button" class="small more" onClick=${() => load(next, false)}>
          more ${label}</button>`
      : null}
  </div>`;
}

function Node({ label, kind, children, extra }) {
  const [open, setOpen] = useState(false);
  return html`<li class=${`node ${kind}`}>
    <button type="button" class="toggle" onClick=${() => setOpen(!open)}
      aria-expanded=${open ? "true" : "false"} data-kind=${kind} data-name=${label}>
      <span class="caret" aria-hidden="true">${open ? "▾" : "▸"}</span>${label}
    </button>${extra || null}
    ${open ? children() : null}
  </li>`;
}

function SourceNode({ s }) {
  const base = path("v1", "sources", s.name);
  const schemas = (db) =>
    html`<${Level} label="schemas" url=${`${base}/databases${path(db)}/schemas`}
      render=${(sc) => html`<${Node} key=${sc.name} label=${sc.name} kind="schema"
        children=${() => tables(db, sc.name)} />`} />`;
  const tables = (db, sc) =>
    html`<${Level} label="tables"
      url=${`${base}/databases${path(db)}/schemas${path(sc)}/tables`}
      render=${(t) => html`<li key=${t.name} class="node table">
        <a href=${tableHash({ source: s.name, database: db, schema: sc, table: t.name })}
          data-kind="table" data-name=${t.name}>${t.name}</a>
        ${t.comment ? html`<span class="muted"> — ${t.comment}</span>` : null}
      </li>`} />`;
  return html`<${Node} label=${s.name} kind="source"
    extra=${html`<${Health} s=${s} />`}
    children=${() => html`<${Level} label="databases" url=${`${base}/databases`}
      render=${(d) => html`<${Node} key=${d.name} label=${d.name} kind="database"
        children=${() => schemas(d.name)} />`} />`} />`;
}

function Health({ s }) {
  const [h, setH] = useState(null);
  useEffect(() => {
    if (s.state !== "open") return;
    get(path("v1", "sources", s.name)).then(
      (r) => setH(r.health || { ok: true }),
      (e) => setH({ ok: false, message: e.message }),
    );
  }, [s.name]);
  const state = s.state !== "open" ? s.state : !h ? "checking" : h.ok === false ? "unhealthy" : "healthy";
  const why = h && (h.message || (h.error && h.error.message));
  const title = why || `${s.plugin} on ${s.network}`;
  return html`<span class=${`badge ${state}`} title=${title} data-health=${state}>${state}</span>`;
}

function Search() {
  const [q, setQ] = useState("");
  const [res, setRes] = useState(null);
  const [error, setError] = useState(null);
  const run = async (ev) => {
    ev.preventDefault();
    try {
      setRes(await get(`/v1/search?${new URLSearchParams({ q })}`));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  return html`<section class="search" aria-label="search">
    <form onSubmit=${run} class="row">
      <input type="search" placeholder="search tables in every source" aria-label="search tables"
        id="search" value=${q} onInput=${(e) => setQ(e.target.value)} required />
      <button type="submit">Search</button>
    </form>
    <${ErrorBox} error=${error} />
    ${res
      ? html`<ul class="results">
          ${res.items.map((t) => html`<li key=${tableHash(t)}>
            <a href=${tableHash(t)}>${t.source} / ${t.database}${t.schema ? ` / ${t.schema}` : ""} / <strong>${t.table}</strong></a>
            ${t.comment ? html`<span class="muted"> — ${t.comment}</span>` : null}
          </li>`)}
          ${!res.items.length ? html`<li class="muted">nothing matches (search covers what has been listed)</li>` : null}
          ${res.truncated ? html`<li class="muted">more matches: narrow the search</li>` : null}
        </ul>`
      : null}
  </section>`;
}

function SourcesView() {
  const { data, error } = useLoad(() => get("/v1/sources"), []);
  useEffect(() => {
    // the tree is on screen: a User Timing mark (tests/bench/ui_load.py)
    if (data && !performance.getEntriesByName("dsb:tree").length) performance.mark("dsb:tree");
  }, [data]);
  return html`<div class="sources">
    <${Search} />
    <section aria-label="source tree">
      <h2>Sources</h2>
      <${ErrorBox} error=${error} />
      ${data
        ? html`<ul class="tree" id="tree">
            ${data.items.map((s) => html`<${SourceNode} key=${s.name} s=${s} />`)}
          </ul>`
        : !error && html`<div class="muted">loading…</div>`}
    </section>
  </div>`;
}

/* ------------------------------------------------------------ table page */

function TablePage({ parts, me }) {
  const [source, database, schema, table] = parts;
  const url = path("v1", "sources", source, "databases", database, "schemas", schema || "-", "tables", table);
  const { data: t, error } = useLoad(() => get(url), [url]);
  const n = useBus();
  const same = (x) => x.source === source && x.database === database && x.table === table &&
    (x.schema || "") === (schema || "");
  // the notes on how Spark reads it come with the context of a session
  // that selected it
  const { data: notes } = useLoad(async () => {
    const sid = me.scopes.includes("context") ? await sessionId(false) : null;
    if (!sid || !(await get(path("v1", "sessions", sid))).selections.some(same)) return null;
    const ctx = await get(path("v1", "sessions", sid, "context"));
    const mine = ctx.tables.find(same);
    return mine ? mine.notes || [] : null;
  }, [url, n]);
  const [msg, setMsg] = useState(null);
  const add = async () => {
    try {
      await addToSession({ source, database, schema, table });
      setMsg({ ok: true });
    } catch (e) {
      setMsg({ error: e });
    }
  };
  const pk = new Set((t && t.primary_key) || []);
  return html`<article class="table-page">
    <p class="crumbs"><a href="#/sources">Sources</a> / ${source} / ${database}${schema ? ` / ${schema}` : ""}</p>
    <h2>${table}</h2>
    <${ErrorBox} error=${error} />
    ${t
      ? html`
        ${t.comment ? html`<p class="comment">${t.comment}</p>` : null}
        <dl class="facts">
          <dt>kind</dt><dd>${t.kind}</dd>
          <dt>row estimate</dt><dd data-field="row_estimate">${t.row_estimate ?? "unknown"}</dd>
          ${t.size_bytes != null ? html`<dt>size</dt><dd>${t.size_bytes} bytes</dd>` : null}
          <dt>primary key</dt><dd data-field="primary_key">${(t.primary_key || []).join(", ") || "none"}</dd>
          ${t.partition_keys && t.partition_keys.length
            ? html`<dt>partition keys</dt><dd>${t.partition_keys.join(", ")}</dd>`
            : null}
          ${t.location ? html`<dt>location</dt><dd><code>${t.location}</code></dd>` : null}
        </dl>
        ${me.scopes.includes("sessions")
          ? html`<p><button type="button" class="primary" id="add-table" onClick=${add}>Add to session</button>
              ${msg && msg.ok ? html` <span class="ok" role="status">added to the session</span>` : null}</p>
              <${ErrorBox} error=${msg && msg.error} />`
          : null}
        <div class="scroll">
        <table class="grid" id="columns">
          <caption>${t.columns.length} columns</caption>
          <thead><tr><th>#</th><th>name</th><th>type</th><th>Spark type</th><th>nullable</th><th>key</th><th>default</th><th>comment</th></tr></thead>
          <tbody>${t.columns.map((c) => html`<tr key=${c.name}>
            <td>${c.position}</td><td><code>${c.name}</code></td><td>${c.source_type}</td>
            <td>${c.spark_type}</td><td>${c.nullable ? "yes" : "no"}</td>
            <td>${pk.has(c.name) ? "PK" : ""}${c.partition ? " partition" : ""}</td>
            <td>${c.default ?? ""}</td><td>${c.comment ?? ""}</td></tr>`)}</tbody>
        </table></div>
        <h3>Notes</h3>
        ${notes
          ? html`<ul class="notes" id="notes">${notes.map((x) => html`<li>${x}</li>`)}</ul>`
          : html`<p class="muted">How Spark reads it (the context's notes) shows here once the table is in the session.</p>`}`
      : null}
  </article>`;
}

/* ------------------------------------------------------------ session */

function SessionView({ me }) {
  const n = useBus();
  const { data, error, reload } = useLoad(async () => {
    const sid = await sessionId(false);
    if (!sid) return null;
    const s = await get(path("v1", "sessions", sid));
    let route = null;
    if (s.selections.length && me.scopes.includes("jobs")) {
      try {
        route = await get(path("v1", "sessions", sid, "route"));
      } catch (e) {
        route = { error: e };
      }
    }
    return { s, route };
  }, [n]);
  const remove = async (sel) => {
    await call("DELETE", path("v1", "sessions", data.s.id, "selections", String(sel.id)));
    sessionChanged();
  };
  const fresh = async () => {
    sessionStorage.removeItem(SESSION_KEY);
    await sessionId(true);
    sessionChanged();
  };
  return html`<section class="session" aria-label="session">
    <h2>Session</h2>
    <${ErrorBox} error=${error} />
    ${data === null && !error
      ? html`<p class="muted">No tables selected yet: open a table and add it.</p>`
      : null}
    ${data
      ? html`<p class="muted">session <code id="session-id">${data.s.id}</code>
          <button type="button" class="small" onClick=${fresh}>New session</button></p>
        <ul class="selections" id="selections">
          ${data.s.selections.map((sel) => html`<li key=${sel.id}>
            <a href=${tableHash(sel)}>${sel.source} / ${sel.database}${sel.schema ? ` / ${sel.schema}` : ""} / <strong>${sel.table}</strong></a>
            <button type="button" class="small danger" aria-label=${`remove ${sel.table}`}
              onClick=${() => remove(sel).catch(() => reload())}>Remove</button></li>`)}
        </ul>
        ${data.route && data.route.error ? html`<${ErrorBox} error=${data.route.error} />` : null}
        ${data.route && !data.route.error
          ? html`<div class="route card" id="route">
              <h3>Route</h3>
              <p>A job would run on <strong>${data.route.executor}</strong> (${data.route.executor_type}).</p>
              <p class="muted">${data.route.reason}</p>
              ${data.route.networks ? html`<p>networks: ${data.route.networks.join(", ")}</p>` : null}
            </div>`
          : null}`
      : null}
  </section>`;
}

/* ------------------------------------------------------------ context */

async function loadContext() {
  const sid = await sessionId(false);
  if (!sid) return null;
  return { sid, ctx: await get(path("v1", "sessions", sid, "context")) };
}

function ContextView() {
  const n = useBus();
  const { data, error } = useLoad(loadContext, [n]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<p class="muted">Select tables first: the context is built from the session.</p>`;
  const { ctx } = data;
  return html`<section class="context" aria-label="Spark context">
    <h2>Spark context</h2>
    <p>Route: <strong>${ctx.route.executor}</strong> — <span class="muted">${ctx.route.reason}</span></p>
    ${ctx.tables.map((t) => html`<div key=${t.variable} class="ctx-table">
      <code>${t.variable}</code> = ${t.source} / ${t.database} / ${t.table}
      ${t.notes && t.notes.length ? html`<ul class="notes">${t.notes.map((x) => html`<li>${x}</li>`)}</ul>` : null}
    </div>`)}
    <div class="code-head"><h3>Prompt</h3><${CopyButton} text=${ctx.prompt} label="prompt" /></div>
    <${Code} text=${ctx.prompt} lang="markdown" id="prompt" />
    <div class="code-head"><h3>Code</h3><${CopyButton} text=${ctx.code} label="code" /></div>
    <${Code} text=${ctx.code} lang="python" id="code" />
  </section>`;
}

/* ------------------------------------------------------------ jobs */

const HEAD =
  "import os\nfrom pyspark.sql import SparkSession, functions as F\n" +
  "spark = SparkSession.builder.getOrCreate()\n\n";

function starter(ctx) {
  const v = ctx.tables.length ? ctx.tables[0].variable : "df";
  return (
    HEAD + ctx.code +
    `\n\n# the job's result: CSV with a header in $DSB_OUTPUT\n` +
    `${v}.limit(100).coalesce(1).write.csv(os.environ["DSB_OUTPUT"], header=True)\n` +
    "spark.stop()\n"
  );
}

function duration(j) {
  const s = j.started_at, e = j.finished_at;
  if (!s) return "";
  const now = Date.now() / (s > 1e12 ? 1 : 1000);
  const d = (e || now) - s;
  const sec = s > 1e12 ? d / 1000 : d;
  return `${sec.toFixed(1)} s`;
}

function csvOf(res) {
  const cell = (v) => {
    const s = v == null ? "" : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [res.columns, ...res.rows].map((r) => r.map(cell).join(",")).join("\n") + "\n";
}

function Result({ job }) {
  const { data, error } = useLoad(() => get(path("v1", "jobs", job.id, "result") + "?limit=1000"), [job.id]);
  const [href, setHref] = useState(null);
  useEffect(() => {
    if (!data) return;
    const u = URL.createObjectURL(new Blob([csvOf(data)], { type: "text/csv" }));
    setHref(u);
    return () => URL.revokeObjectURL(u);
  }, [data]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<div class="muted">loading the result…</div>`;
  return html`<div class="result">
    <div class="code-head"><h3>Result</h3>
      ${href ? html`<a class="button small" id="csv" href=${href} download=${`${job.id}.csv`}>Download CSV</a>` : null}</div>
    <div class="scroll"><table class="grid" id="result">
      <thead><tr>${data.columns.map((c) => html`<th>${c}</th>`)}</tr></thead>
      <tbody>${data.rows.map((r, i) => html`<tr key=${i}>${r.map((v) => html`<td>${v ?? ""}</td>`)}</tr>`)}</tbody>
    </table></div>
    ${data.truncated ? html`<p class="muted">the first ${data.rows.length} rows</p>` : null}
  </div>`;
}

function JobDetail({ id }) {
  const [job, setJob] = useState(null);
  const [logs, setLogs] = useState(null);
  const [error, setError] = useState(null);
  const pre = useRef(null);
  useEffect(() => {
    let live = true, timer = null;
    const poll = async () => {
      try {
        const j = await get(path("v1", "jobs", id));
        const l = await get(path("v1", "jobs", id, "logs") + "?lines=200");
        if (!live) return;
        setJob(j);
        setLogs(l);
        setError(null);
        if (!FINAL.has(j.state)) timer = setTimeout(poll, 1000);
      } catch (e) {
        if (live) setError(e);
      }
    };
    poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [id]);
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [logs]);
  const cancel = async () => {
    try {
      setJob(await call("DELETE", path("v1", "jobs", id)));
    } catch (e) {
      setError(e);
    }
  };
  if (!job) return html`<${ErrorBox} error=${error} />`;
  const text = logs ? (logs.stderr ?? "") + (logs.stdout ? `\n--- stdout ---\n${logs.stdout}` : "") ||
    (logs.location ? `logs at ${logs.location}` : "") : "";
  return html`<section class="job" aria-label="job" id="job">
    <h3>Job <code>${job.id}</code> <span class=${`state ${job.state}`} id="job-state">${job.state}</span></h3>
    <p class="muted">${job.name} on ${job.executor}${job.reason ? ` — ${job.reason}` : ""}</p>
    ${!FINAL.has(job.state) ? html`<button type="button" class="danger" id="cancel" onClick=${cancel}>Cancel</button>` : null}
    <${ErrorBox} error=${error} />
    <h3>Logs</h3>
    <pre class="logs" ref=${pre} id="logs" tabindex="0">${text}</pre>
    ${job.state === "succeeded" ? html`<${Result} job=${job} />` : null}
  </section>`;
}

function JobsView({ me }) {
  const n = useBus();
  const [code, setCode] = useState(null);
  const [name, setName] = useState("console job");
  const [sel, setSel] = useState(null);
  const [error, setError] = useState(null);
  const [jobs, setJobs] = useState([]);
  const [sid, setSid] = useState(null);
  useEffect(() => {
    loadContext().then(
      (d) => {
        if (!d) return;
        setSid(d.sid);
        setCode((c) => c ?? starter(d.ctx));
      },
      (e) => setError(e),
    );
  }, [n]);
  useEffect(() => {
    if (!sid) return;
    let live = true, timer = null;
    const poll = async () => {
      try {
        const r = await get(path("v1", "sessions", sid, "jobs"));
        if (!live) return;
        setJobs(r.items);
        timer = setTimeout(poll, r.items.some((j) => !FINAL.has(j.state)) ? 1000 : 5000);
      } catch (e) {
        if (live) setError(e);
      }
    };
    poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [sid, sel]);
  const submit = async (ev) => {
    ev.preventDefault();
    try {
      const j = await call("POST", path("v1", "sessions", sid, "jobs"), { code, name });
      setSel(j.id);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  if (!sid && !error) return html`<p class="muted">Select tables first: a job runs in the session's context.</p>`;
  return html`<div class="jobs">
    <form class="editor card" onSubmit=${submit} aria-label="new job">
      <h2>New job</h2>
      <label for="job-name">Name</label>
      <input id="job-name" value=${name} onInput=${(e) => setName(e.target.value)} />
      <label for="job-code">PySpark code (prefilled with the context's)</label>
      <textarea id="job-code" spellcheck="false" rows="18" value=${code ?? ""}
        onInput=${(e) => setCode(e.target.value)}></textarea>
      <button type="submit" class="primary" id="submit-job" disabled=${!me.scopes.includes("jobs")}>Submit</button>
      <${ErrorBox} error=${error} />
    </form>
    <section aria-label="jobs of the session">
      <h2>Jobs</h2>
      <div class="scroll"><table class="grid" id="jobs">
        <thead><tr><th>job</th><th>name</th><th>state</th><th>route</th><th>duration</th></tr></thead>
        <tbody>${jobs.map((j) => html`<tr key=${j.id} class=${j.id === sel ? "selected" : ""}>
          <td><button type="button" class="link" onClick=${() => setSel(j.id)}>${j.id}</button></td>
          <td>${j.name}</td><td><span class=${`state ${j.state}`}>${j.state}</span></td>
          <td title=${j.route && j.route.reason}>${j.executor}</td><td>${duration(j)}</td></tr>`)}</tbody>
      </table></div>
      ${sel ? html`<${JobDetail} key=${sel} id=${sel} />` : null}
    </section>
  </div>`;
}

/* ------------------------------------------------------------ shell */

const THEME_KEY = "dsbroker.theme";

function ThemeToggle() {
  const [theme, setTheme] = useState(localStorage.getItem(THEME_KEY) || "");
  useEffect(() => {
    if (theme) document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
  }, [theme]);
  const next = () => {
    const dark = theme ? theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
    const t = dark ? "light" : "dark";
    localStorage.setItem(THEME_KEY, t);
    setTheme(t);
  };
  return html`<button type="button" class="small" id="theme" onClick=${next}
    aria-label="switch between light and dark theme">Theme</button>`;
}

function useHash() {
  const [h, setH] = useState(location.hash || "#/sources");
  useEffect(() => {
    const f = () => setH(location.hash || "#/sources");
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  return h;
}

function App() {
  const [me, setMe] = useState(null);
  const [error, setError] = useState(null);
  const hash = useHash();
  useEffect(() => {
    get("/v1/whoami").then(setMe, (e) => {
      if (e.status === 401) setToken("");
      setError(e);
    });
  }, []);
  if ((me && me.auth && me.name === null) || (error && error.status === 401))
    return html`<${SignIn} onDone=${setMe} error=${token() ? error : null} />`;
  if (!me) return html`<main><${ErrorBox} error=${error} /></main>`;
  const may = (s) => me.scopes.includes(s);
  const tabs = [
    ["sources", "Sources", may("read")],
    ["session", "Session", may("sessions")],
    ["context", "Context", may("context")],
    ["jobs", "Jobs", may("jobs")],
    ["admin", "Admin", may("admin")],
  ].filter((t) => t[2]);
  const [view, ...rest] = hash.replace(/^#\//, "").split("/");
  const parts = rest.map(decodeURIComponent);
  const signOut = () => {
    setToken("");
    sessionStorage.clear();
    location.hash = "";
    location.reload();
  };
  let body;
  if (view === "table" && may("read")) body = html`<${TablePage} parts=${parts} me=${me} />`;
  else if (view === "session" && may("sessions")) body = html`<${SessionView} me=${me} />`;
  else if (view === "context" && may("context")) body = html`<${ContextView} />`;
  else if (view === "jobs" && may("jobs")) body = html`<${JobsView} me=${me} />`;
  else if (view === "admin" && may("admin")) body = html`<${AdminView} />`;
  else if (may("read")) body = html`<${SourcesView} />`;
  else body = html`<p>This token may not read sources.</p>`;
  return html`<div class="shell">
    <header>
      <a class="brand" href="#/sources">dsbroker</a>
      <nav aria-label="views">${tabs.map(([id, label]) => html`<a href=${`#/${id}`} id=${`nav-${id}`}
        aria-current=${view === id || (view === "table" && id === "sources") ? "page" : undefined}>${label}</a>`)}</nav>
      <span class="who" id="who">${me.auth ? me.name : "auth off"}</span>
      <${ThemeToggle} />
      ${me.auth ? html`<button type="button" class="small" id="signout" onClick=${signOut}>Sign out</button>` : null}
    </header>
    <main id="main">${body}</main>
  </div>`;
}

render(html`<${App} />`, document.getElementById("app"));
