package api

// docsPage is the interactive documentation at /api/docs: one
// self-contained page (no CDN: the product runs offline) that reads
// /api/openapi.json, lists every operation by tag with its parameters,
// bodies and responses, and can send requests with the browser's session
// cookie or a pasted bearer token.
const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CML Cloud Manager API</title>
<style>
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5b6475; --bg: #fff; --card: #f5f7fa; --line: #d9dee6; --acc: #0b6bcb; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #9aa4b5; --bg: #14171c; --card: #1d2129; --line: #2c323c; --acc: #5aa9ff; } }
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: var(--fg); background: var(--bg); }
header { padding: 1rem 2rem; border-bottom: 1px solid var(--line); display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 1.25rem; margin: 0; flex: 1; }
main { padding: 1rem 2rem; max-width: 72rem; }
h2 { text-transform: capitalize; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
details { background: var(--card); border: 1px solid var(--line); border-radius: 6px; margin: .5rem 0; }
summary { cursor: pointer; padding: .5rem .75rem; display: flex; gap: .75rem; align-items: baseline; }
summary:focus-visible { outline: 2px solid var(--acc); }
.m { font: bold 12px/1 monospace; padding: .3rem .45rem; border-radius: 4px; color: #fff; min-width: 3.5rem; text-align: center; }
.GET { background: #1f7a4d; } .POST { background: #0b6bcb; } .PUT { background: #9a5b00; } .DELETE { background: #b3261e; }
.p { font-family: monospace; } .s { color: var(--muted); }
.body { padding: 0 1rem 1rem; }
pre { background: var(--bg); border: 1px solid var(--line); padding: .5rem; overflow: auto; max-height: 24rem; border-radius: 4px; }
label { display: block; margin: .4rem 0 .1rem; font-size: 13px; color: var(--muted); }
input, textarea { width: 100%; box-sizing: border-box; font: 13px monospace; padding: .35rem; background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: 4px; }
button { margin-top: .5rem; padding: .4rem .9rem; border: 0; border-radius: 4px; background: var(--acc); color: #fff; cursor: pointer; }
table { border-collapse: collapse; } td, th { text-align: left; padding: .15rem .6rem .15rem 0; vertical-align: top; }
</style>
</head>
<body>
<header>
  <h1>CML Cloud Manager API <span class="s" id="ver"></span></h1>
  <label for="token" style="margin:0">Bearer token (optional; the session cookie is sent anyway)</label>
  <input id="token" style="max-width:28rem" placeholder="eyJ..." autocomplete="off">
  <a href="/api/openapi.json">openapi.json</a>
</header>
<main id="main"><p>Loading the OpenAPI document…</p></main>
<script>
"use strict";
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === "class") e.className = v; else e.setAttribute(k, v); }
  for (const k of kids) e.append(k);
  return e;
};
let doc;
function resolve(s) {
  if (s && s.$ref) return doc.components.schemas[s.$ref.split("/").pop()];
  return s;
}
function example(s, depth = 0) {
  s = resolve(s) || {};
  if (depth > 4) return null;
  const t = Array.isArray(s.type) ? s.type[0] : s.type;
  if (s.enum) return s.enum[0];
  switch (t) {
    case "object": {
      if (!s.properties) return {};
      const o = {};
      for (const [k, v] of Object.entries(s.properties)) o[k] = example(v, depth + 1);
      return o;
    }
    case "array": return [];
    case "string": return s.format === "date-time" ? new Date().toISOString() : "";
    case "integer": case "number": return 0;
    case "boolean": return false;
  }
  return null;
}
function schemaText(s) { return JSON.stringify(resolve(s), null, 2); }
function render() {
  const main = document.getElementById("main");
  main.textContent = "";
  document.getElementById("ver").textContent = doc.info.version;
  main.append(el("p", {}, doc.info.description.split("\n")[0]));
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[op.tags[0]] ||= []).push({ path, method: method.toUpperCase(), op });
  for (const tag of doc.tags.map(t => t.name)) {
    if (!byTag[tag]) continue;
    main.append(el("h2", {}, tag));
    for (const { path, method, op } of byTag[tag]) main.append(operation(path, method, op));
  }
}
function operation(path, method, op) {
  const d = el("details", { id: op.operationId });
  d.append(el("summary", {}, el("span", { class: "m " + method }, method), el("span", { class: "p" }, path), el("span", { class: "s" }, op.summary)));
  const b = el("div", { class: "body" });
  b.append(el("p", {}, op.description.replace(/\n\n/g, " ")));
  const inputs = {};
  for (const p of op.parameters || []) {
    const id = op.operationId + "-" + p.name;
    b.append(el("label", { for: id }, p.name + " (" + p.in + (p.required ? ", required" : "") + ")" + (p.description ? ": " + p.description : "")));
    inputs[p.name] = b.appendChild(el("input", { id }));
    inputs[p.name].dataset.in = p.in;
  }
  let bodyArea, bodyType;
  if (op.requestBody) {
    bodyType = Object.keys(op.requestBody.content)[0];
    const sch = op.requestBody.content[bodyType].schema;
    const id = op.operationId + "-body";
    b.append(el("label", { for: id }, "Body (" + bodyType + ")"));
    bodyArea = b.appendChild(el("textarea", { id, rows: 8 }));
    bodyArea.value = bodyType.includes("json") ? JSON.stringify(example(sch), null, 2) : "";
    const sd = el("details", {}, el("summary", {}, "Body schema"), el("pre", {}, schemaText(sch)));
    b.append(sd);
  }
  const rt = el("table", {}, el("tr", {}, el("th", {}, "Status"), el("th", {}, "Response")));
  for (const [st, r] of Object.entries(op.responses)) {
    const c = r.content ? Object.keys(r.content)[0] : "";
    rt.append(el("tr", {}, el("td", {}, st), el("td", {}, r.description + (c ? " — " + c : ""))));
  }
  b.append(el("label", {}, "Responses"), rt);
  const out = el("pre", { "aria-live": "polite" });
  const btn = el("button", { type: "button" }, "Send");
  btn.addEventListener("click", async () => {
    let url = path, q = new URLSearchParams();
    for (const [name, inp] of Object.entries(inputs)) {
      if (inp.dataset.in === "path") url = url.replace("{" + name + "}", encodeURIComponent(inp.value));
      else if (inp.value !== "") q.set(name, inp.value);
    }
    if ([...q].length) url += "?" + q;
    const headers = { "X-Requested-With": "cmlcm-docs" };
    const tok = document.getElementById("token").value.trim();
    if (tok) headers.Authorization = "Bearer " + tok;
    const init = { method, headers, credentials: "same-origin" };
    if (bodyArea && bodyArea.value.trim() !== "") { init.body = bodyArea.value; headers["Content-Type"] = bodyType === "multipart/form-data" ? "application/yaml" : bodyType; }
    out.textContent = "…";
    try {
      const res = await fetch(url, init);
      const text = await res.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) {}
      out.textContent = res.status + " " + res.statusText + "\n" + (res.headers.get("content-type") || "") + "\n\n" + shown;
    } catch (e) { out.textContent = String(e); }
  });
  b.append(btn, out);
  d.append(b);
  return d;
}
fetch("/api/openapi.json").then(r => r.json()).then(j => { doc = j; render(); if (location.hash) { const t = document.getElementById(location.hash.slice(1)); if (t) t.open = true; } })
  .catch(e => { document.getElementById("main").textContent = "Could not load the OpenAPI document: " + e; });
</script>
</body>
</html>
`
