// deskphone maintenance page: auto provision, firmware upgrade, programmable keys,
// configuration backup.
// Everything goes through the same API as scripts use (README: API).
"use strict";

const $ = (sel) => document.querySelector(sel);
const PROV = "provisioning.";
let polling = null;

async function api(method, path, body, raw) {
  const opts = { method, headers: method === "GET" ? {} : { "X-CSRF-Token": csrfToken() } };
  if (raw !== undefined) {
    opts.body = raw;
    opts.headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(path, opts);
  if (r.status === 401) { location.href = "/login"; throw new Error("login"); }
  const type = r.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error((data && data.error) || `${r.status} ${r.statusText}`);
  return data;
}

function text(el, value) { el.textContent = value; }

function showStatus(st) {
  text($("#ident"), `${st.model} ${st.version} · MAC ${st.mac}`);
  text($("#prov-progress"), st.running ? (st.progress || "running") : "idle");
  const last = st.current || st.last;
  text($("#prov-last"), last ? `${last.started.replace("T", " ")} (${last.trigger})` : "never");
  text($("#prov-result"), last ? `${last.result}: ${last.summary}` : "—");
  $("#prov-result").dataset.result = last ? last.result : "";
  text($("#prov-next"), st.next ? `${st.next.replace("T", " ")} (${st.next_text})` : "none");
  text($("#prov-server"), last && last.server ? last.server : "—");
  text($("#prov-phone"), st.user_agent);
  const body = $("#prov-files tbody");
  body.replaceChildren();
  for (const f of (last ? last.files : [])) {
    const tr = document.createElement("tr");
    tr.dataset.status = f.status;
    for (const v of [f.name, f.status, f.detail]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  text($("#prov-log"), st.log.join("\n"));
  const fw = st.firmware || {};
  text($("#fw-running"), st.version);
  text($("#fw-other"), fw.other ? `${fw.other.version} (slot ${fw.other.slot})` : "—");
  const up = fw.last;
  text($("#fw-last"), up ? `${up.at.replace("T", " ")}: ${up.result} ${up.version} — ${up.reason}`
                         : (fw.error || "—"));
  if (fw.trial) text($("#fw-progress"), `On trial: ${fw.trial.version}`);
  schedule(st.running ? 1000 : 10000);
}

function schedule(ms) {
  clearTimeout(polling);
  polling = setTimeout(refresh, ms);
}

async function refresh() {
  try { showStatus(await api("GET", "/api/provision")); }
  catch (e) { schedule(5000); }
}

async function loadSettings() {
  const { settings } = await api("GET", "/api/settings");
  for (const el of $("#prov-form").elements) {
    if (!el.name || !(el.name in settings)) continue;
    const v = settings[el.name];
    if (el.type === "checkbox") el.checked = v;
    else if (el.type === "password") el.value = "";
    else el.value = v;
  }
}

$("#prov-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const change = {};
  for (const el of ev.target.elements) {
    if (!el.name || !el.name.startsWith(PROV)) continue;
    if (el.type === "checkbox") change[el.name] = el.checked;
    else if (el.type === "number") change[el.name] = Number(el.value);
    else if (el.type === "password") { if (el.value) change[el.name] = el.value; }
    else change[el.name] = el.value.trim();
  }
  try {
    const r = await api("PATCH", "/api/settings", change);
    text($("#prov-saved"), r.changed.length ? `Saved: ${r.changed.join(", ")}` : "Nothing changed");
    await loadSettings();
    refresh();
  } catch (e) { text($("#prov-saved"), `Not saved: ${e.message}`); }
});

$("#prov-now").addEventListener("click", async () => {
  try { showStatus((await api("POST", "/api/provision")).status); }
  catch (e) { text($("#prov-progress"), e.message); }
});

$("#fw-upload").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = ev.target.image.files[0];
  const md5 = ev.target.md5.value.trim();
  text($("#fw-progress"), `Uploading ${file.name} (${file.size} bytes)…`);
  try {
    const q = new URLSearchParams({ name: file.name });
    if (md5) q.set("md5", md5);
    const r = await api("POST", `/api/firmware?${q}`, undefined, file);
    text($("#fw-progress"), r.message);
  } catch (e) { text($("#fw-progress"), `Not installed: ${e.message}`); }
  refresh();
});

$("#fw-fetch").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  text($("#fw-progress"), "Fetching…");
  try {
    const r = await api("POST", "/api/firmware", { url: ev.target.url.value.trim() });
    text($("#fw-progress"), r.message);
  } catch (e) { text($("#fw-progress"), `Not installed: ${e.message}`); }
  refresh();
});

$("#bk-restore").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = ev.target.file.files[0];
  try {
    const r = await api("POST", `/api/restore?${new URLSearchParams({ name: file.name })}`,
                        undefined, file);
    text($("#bk-result"), r.changed.length ? `Restored: ${r.changed.length} settings changed`
                                           : "Restored: nothing was different");
    loadSettings();
  } catch (e) { text($("#bk-result"), `Not restored: ${e.message}`); }
});

// --- programmable keys: GET /api/keys/state, PUT /api/keys/layout ---------------------------
const KEY_TYPES = ["speed_dial", "speed_dial_prefix", "dtmf", "blf", "bla", "paging",
                   "call_park", "intercom", "pickup", "group"];

function keyRow(name, k) {
  const tr = document.createElement("tr");
  const cell = (el) => { const td = document.createElement("td"); td.append(el); tr.append(td); return el; };
  const input = (value, label, size) => {
    const el = document.createElement("input");
    el.value = value ?? ""; el.size = size; el.setAttribute("aria-label", label);
    return el;
  };
  cell(input(name, "Key", 6)).dataset.f = "key";
  const sel = cell(document.createElement("select"));
  sel.dataset.f = "type"; sel.setAttribute("aria-label", "Mode");
  for (const t of KEY_TYPES) sel.append(new Option(t, t, false, t === (k.type || "speed_dial")));
  cell(input(k.number, "Number", 14)).dataset.f = "number";
  cell(input(k.label, "Name", 14)).dataset.f = "label";
  cell(input(k.account ?? "", "Account (1-3, empty: automatic)", 3)).dataset.f = "account";
  const lamp = cell(document.createElement("span"));
  lamp.textContent = k.lamp && k.lamp !== "off" ? k.lamp + (k.why ? ` (${k.why})` : "") : "";
  $("#keys-table tbody").append(tr);
}

async function loadKeys() {
  try {
    const st = await api("GET", "/api/keys/state");
    $("#keys-table tbody").replaceChildren();
    for (const [name, k] of Object.entries(st.keys)) keyRow(name, k);
  } catch (e) { text($("#keys-result"), `Keys not read: ${e.message}`); }
}

$("#keys-add").addEventListener("click", () => keyRow("", {}));

$("#keys-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const memory = [];
  for (const tr of $("#keys-table tbody").rows) {
    const v = Object.fromEntries([...tr.querySelectorAll("[data-f]")].map((el) => [el.dataset.f, el.value.trim()]));
    if (!v.key) continue;
    memory.push({ key: v.key, type: v.type, number: v.number, label: v.label,
                  account: v.account ? Number(v.account) : null });
  }
  try {
    const r = await api("PUT", "/api/keys/layout", { memory });
    text($("#keys-result"), `Saved: ${r.keys} keys`);
    loadKeys();
  } catch (e) { text($("#keys-result"), `Not saved: ${e.message}`); }
});

loadKeys();
loadSettings();
refresh();
