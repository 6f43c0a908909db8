// Admin: sources managed at run time (POST/PUT/DELETE /v1/sources, POST
// /v1/sources/test), the option form generated from the plugin's JSON
// Schema (/v1/plugins/{name}/schema), a problem shown beside the field it
// names.
import { useEffect, useState } from "preact/hooks";
import { html } from "htm/preact";
import { call, get, path } from "./api.js";
import { ErrorBox } from "./widgets.js";

const CORE = ["name", "plugin", "network", "description", "enabled"];

// The form field a problem is about: the first quoted key of its message
// or detail that is a field of the form.
function fieldOf(e, fields) {
  const text = `${e.message} ${e.detail || ""}`;
  for (const m of text.matchAll(/"([A-Za-z0-9_.-]+)"/g)) {
    const k = m[1].split(".")[0];
    if (fields.includes(k)) return k;
  }
  return null;
}

function Field({ name, spec, value, onChange, error, required }) {
  const id = `opt-${name}`;
  const secret = spec["x-dsb-secret-reference"];
  const type = Array.isArray(spec.type) ? spec.type.find((t) => t !== "null") : spec.type;
  let input;
  if (spec.enum) {
    input = html`<select id=${id} value=${value ?? ""} onChange=${(e) => onChange(e.target.value)}
      aria-invalid=${error ? "true" : undefined} aria-describedby=${error ? `${id}-err` : undefined}>
      <option value="">${spec.default != null ? `(default: ${spec.default})` : "—"}</option>
      ${spec.enum.map((v) => html`<option value=${v}>${v}</option>`)}</select>`;
  } else if (type === "boolean") {
    input = html`<select id=${id} value=${value ?? ""} onChange=${(e) => onChange(e.target.value)}
      aria-invalid=${error ? "true" : undefined}>
      <option value="">${spec.default != null ? `(default: ${spec.default})` : "—"}</option>
      <option value="true">true</option><option value="false">false</option></select>`;
  } else {
    input = html`<input id=${id} type=${secret ? "password" : type === "integer" || type === "number" ? "number" : "text"}
      autocomplete=${secret ? "new-password" : "off"} value=${value ?? ""}
      placeholder=${spec.default != null ? `default: ${spec.default}` : type === "array" ? "comma-separated" : ""}
      aria-invalid=${error ? "true" : undefined} aria-describedby=${error ? `${id}-err` : undefined}
      onInput=${(e) => onChange(e.target.value)} />`;
  }
  return html`<div class=${`field${error ? " invalid" : ""}`} data-field=${name}>
    <label for=${id}>${name}${required ? " *" : ""}${secret ? " (secret)" : ""}</label>
    ${input}
    ${spec.description ? html`<small class="muted">${spec.description}</small>` : null}
    ${error ? html`<small class="field-error" id=${`${id}-err`} role="alert">${error}</small>` : null}
  </div>`;
}

// The request body of the form's values: typed by the schema, secrets
// apart, empty fields left out.
function bodyOf(values, schema) {
  const body = {}, secrets = {};
  for (const [k, raw] of Object.entries(values)) {
    if (raw === "" || raw == null) continue;
    const spec = CORE.includes(k) ? {} : schema.properties[k] || {};
    const type = Array.isArray(spec.type) ? spec.type.find((t) => t !== "null") : spec.type;
    let v = raw;
    if (k === "enabled" || type === "boolean") v = raw === "true";
    else if (type === "integer" || type === "number") v = Number(raw);
    else if (type === "array") v = raw.split(",").map((s) => s.trim()).filter(Boolean);
    if (spec["x-dsb-secret-reference"]) secrets[k] = v;
    else body[k] = v;
  }
  if (Object.keys(secrets).length) body.secrets = secrets;
  return body;
}

// The form's values of a managed source: its name, network, description
// and options (the API leaves out the secret ones).
function formOf(s) {
  const v = { name: s.name, network: s.network, description: s.description || "" };
  for (const [k, x] of Object.entries(s.options || {})) {
    if (x == null || typeof x === "object" && !Array.isArray(x)) continue;
    v[k] = Array.isArray(x) ? x.join(", ") : String(x);
  }
  return v;
}

function SourceForm({ editing, onSaved, onCancel }) {
  const [plugins, setPlugins] = useState([]);
  const [plugin, setPlugin] = useState(editing ? editing.plugin : "");
  const [schema, setSchema] = useState(null);
  const [values, setValues] = useState(editing ? formOf(editing) : {});
  const [errors, setErrors] = useState({});
  const [general, setGeneral] = useState(null);
  const [tested, setTested] = useState(null);
  useEffect(() => {
    get("/v1/plugins").then((r) => setPlugins(r.items), setGeneral);
  }, []);
  useEffect(() => {
    if (!plugin) return setSchema(null);
    get(path("v1", "plugins", plugin, "schema")).then(setSchema, setGeneral);
  }, [plugin]);
  const props = schema ? Object.keys(schema.properties || {}).filter((k) => !CORE.includes(k)) : [];
  const required = new Set((schema && schema.required) || []);
  const set = (k) => (v) => setValues((o) => ({ ...o, [k]: v }));
  const fail = (e) => {
    const f = fieldOf(e, [...CORE, ...props]);
    setErrors(f ? { [f]: e.message + (e.hint ? ` — ${e.hint}` : "") } : {});
    setGeneral(f ? null : e);
  };
  const doc = () => ({ ...bodyOf(values, schema || { properties: {} }), plugin });
  const test = async () => {
    setTested(null);
    try {
      const r = await call("POST", "/v1/sources/test", doc());
      setErrors({});
      setGeneral(null);
      setTested(r);
    } catch (e) {
      fail(e);
    }
  };
  const save = async (ev) => {
    ev.preventDefault();
    try {
      const r = editing
        ? await call("PUT", path("v1", "sources", editing.name), doc(), { "If-Match": editing.etag })
        : await call("POST", "/v1/sources", doc());
      onSaved(r);
    } catch (e) {
      fail(e);
    }
  };
  return html`<form class="card source-form" onSubmit=${save} aria-label="source" novalidate>
    <h3>${editing ? `Edit ${editing.name}` : "Add a source"}</h3>
    ${editing
      ? html`<p class="muted">Saving replaces the source whole; secret options left empty keep their stored values.</p>`
      : null}
    <div class="field"><label for="opt-plugin">plugin *</label>
      <select id="opt-plugin" value=${plugin} disabled=${!!editing} onChange=${(e) => setPlugin(e.target.value)}>
        <option value="">choose a plugin</option>
        ${plugins.map((p) => html`<option value=${p.name}>${p.name}</option>`)}
      </select></div>
    ${schema
      ? html`
        <${Field} name="name" spec=${{ type: "string", description: "letters, digits, _ . -" }} required
          value=${values.name} onChange=${set("name")} error=${errors.name} />
        <${Field} name="network" spec=${{ type: "string", description: "the network it lives on (default: the plugin's)" }}
          value=${values.network} onChange=${set("network")} error=${errors.network} />
        <${Field} name="description" spec=${{ type: "string" }}
          value=${values.description} onChange=${set("description")} error=${errors.description} />
        ${props.map((k) => html`<${Field} key=${k} name=${k} spec=${schema.properties[k]}
          required=${required.has(k)} value=${values[k]} onChange=${set(k)} error=${errors[k]} />`)}
        <div class="row">
          <button type="button" id="test-source" onClick=${test}>Test</button>
          <button type="submit" class="primary" id="save-source">Save</button>
          <button type="button" onClick=${onCancel}>Cancel</button>
        </div>`
      : null}
    ${tested
      ? html`<div class=${tested.ok ? "ok" : "error"} role="status" id="test-result">
          ${tested.ok ? "the source opens and its check passes" : "the check failed"}
          ${tested.warnings && tested.warnings.length ? html`<ul>${tested.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : null}
        </div>`
      : null}
    <${ErrorBox} error=${general} />
  </form>`;
}

export function AdminView() {
  const [sources, setSources] = useState(null);
  const [error, setError] = useState(null);
  const [form, setForm] = useState(null); // null, "new" or a source
  const [note, setNote] = useState(null);
  const load = async () => {
    try {
      const r = await get("/v1/sources");
      setSources(await Promise.all(r.items.map((s) => get(path("v1", "sources", s.name)).catch(() => s))));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load();
  }, []);
  const remove = async (s) => {
    if (!confirm(`Remove the source ${s.name}?`)) return;
    try {
      await call("DELETE", path("v1", "sources", s.name), undefined, { "If-Match": s.etag });
      setNote(`removed ${s.name}`);
      load();
    } catch (e) {
      setError(e);
    }
  };
  const saved = (r) => {
    setForm(null);
    setNote(`saved ${r.name}: ${r.state}${r.warnings && r.warnings.length ? ` (${r.warnings.join("; ")})` : ""}`);
    load();
  };
  return html`<section class="admin" aria-label="admin">
    <h2>Sources</h2>
    ${note ? html`<p class="ok" role="status" id="admin-note">${note}</p>` : null}
    <${ErrorBox} error=${error} />
    <div class="scroll"><table class="grid" id="admin-sources">
      <thead><tr><th>name</th><th>plugin</th><th>network</th><th>state</th><th>managed</th><th></th></tr></thead>
      <tbody>${(sources || []).map((s) => html`<tr key=${s.name} data-source=${s.name}>
        <td>${s.name}</td><td>${s.plugin}</td><td>${s.network}</td><td>${s.state}</td>
        <td>${s.etag ? "yes" : "file"}</td>
        <td>${s.etag
          ? html`<button type="button" class="small" aria-label=${`edit ${s.name}`} onClick=${() => { setNote(null); setForm(s); }}>Edit</button>
              <button type="button" class="small danger" aria-label=${`remove ${s.name}`} onClick=${() => remove(s)}>Remove</button>`
          : null}</td></tr>`)}</tbody>
    </table></div>
    ${form
      ? html`<${SourceForm} key=${form === "new" ? "new" : form.name} editing=${form === "new" ? null : form}
          onSaved=${saved} onCancel=${() => setForm(null)} />`
      : html`<button type="button" class="primary" id="add-source" onClick=${() => { setNote(null); setForm("new"); }}>Add a source</button>`}
  </section>`;
}
