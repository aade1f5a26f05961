// The front panel: shows what the phone pushes on /ws, sends keys and the hook to the API.
// No framework, no build step, nothing fetched from outside: it must work offline.
"use strict";
(() => {
  const $ = (sel) => document.querySelector(sel);
  const lcd = $("#lcd");
  const lcdText = $("#lcd-text");
  const banner = $("#banner");
  const handset = $("#handset");
  const cradle = $(".cradle");
  const hookState = $("#hook-state");
  const conn = $("#conn");
  const announce = $("#announce");
  const ledEls = new Map([...document.querySelectorAll("[data-led]")].map((el) => [el.dataset.led, el]));
  const keyEls = new Map([...document.querySelectorAll("button[data-key]")].map((el) => [el.dataset.key, el]));
  const baseLabel = new Map([...keyEls].map(([k, el]) => [k, el.getAttribute("aria-label")]));

  let state = null;
  let lastPng = "";
  let hookWanted = null;      // what we asked for, until the phone says so

  // --- talking to the phone ------------------------------------------------------------
  // Requests go one after the other: a key's "up" must never overtake its "down".
  let queue = Promise.resolve();

  function toLogin() { location.assign("/login"); }

  document.addEventListener("click", (e) => {
    const b = e.target.closest("[data-diag]");
    if (b) post("/api/diagnose", { test: b.dataset.diag });
  });

  // Resolves to true when the phone took it.
  function post(path, body) {
    queue = queue.then(async () => {
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), 5000);
      try {
        const r = await fetch(path, {
          method: "POST", credentials: "same-origin", signal: ctl.signal,
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
          body: JSON.stringify(body),
        });
        if (r.status === 401) { toLogin(); return false; }
        if (!r.ok) {
          let msg = `${path}: HTTP ${r.status}`;
          try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
          showNotice(msg);
        }
        return r.ok;
      } catch (e) {
        showNotice("The phone does not answer; check that it is running.");
        return false;
      } finally {
        clearTimeout(timer);
      }
    });
    return queue;
  }

  const sendKey = (key, action) => post("/api/keys", { key, action });

  // --- keys: down on press, up on release (long presses work) --------------------------
  const down = new Set();

  function press(btn) {
    const key = btn.dataset.key;
    if (down.has(key)) return;
    down.add(key);
    btn.classList.add("pressed");
    sendKey(key, "down");
  }

  function release(btn) {
    const key = btn.dataset.key;
    if (!down.delete(key)) return;
    btn.classList.remove("pressed");
    sendKey(key, "up");
  }

  for (const btn of keyEls.values()) wire(btn);

  function wire(btn) {
    btn.addEventListener("pointerdown", (e) => { if (e.button === 0) press(btn); });
    for (const type of ["pointerup", "pointerleave", "pointercancel"]) {
      btn.addEventListener(type, () => release(btn));
    }
    btn.addEventListener("mousedown", (e) => e.preventDefault());   // keep keyboard focus
    btn.addEventListener("contextmenu", (e) => e.preventDefault()); // long touch
    // Enter/Space on a focused key, or a screen reader's click: a short press.
    btn.addEventListener("click", (e) => { if (e.detail === 0) { press(btn); release(btn); } });
  }

  // --- expansion modules (manual "Expansion Module"): shown only when keys are set on them
  let expansionShown = "";

  async function loadExpansion() {
    let ks;
    try {
      const r = await fetch("/api/keys/state", { credentials: "same-origin", cache: "no-store" });
      if (!r.ok) return;
      ks = await r.json();
    } catch (e) { return; }
    // the phone's own memory keys carry their names too (the paper strip of a real phone)
    for (let i = 1; i <= 12; i++) {
      const name = `p${i}`, btn = keyEls.get(name), info = ks.keys[name];
      if (!btn) continue;
      const label = info ? (info.label || info.number || "") : "";
      btn.querySelector(".tag").textContent = label || `P${i}`;
      btn.setAttribute("aria-label", `Programmable key ${i}` + (label ? `: ${label}` : ""));
      baseLabel.set(name, btn.getAttribute("aria-label"));
    }
    const want = JSON.stringify([ks.modules, Object.entries(ks.keys).map(([k, v]) => [k, v.label])]);
    if (want === expansionShown) return;
    expansionShown = want;
    let box = $("#expansion");
    if (!box) {
      box = document.createElement("section");
      box.id = "expansion";
      box.className = "expansion";
      box.setAttribute("aria-label", "Expansion modules");
      $("#phone").after(box);          // beside the phone, as the EXT module stands
    }
    for (const el of box.querySelectorAll("[data-key]")) { keyEls.delete(el.dataset.key); ledEls.delete(el.dataset.key); }
    box.replaceChildren();
    box.hidden = ks.modules.length === 0;
    $("main").classList.toggle("with-ext", !box.hidden);
    for (const m of ks.modules) {
      const mod = document.createElement("div");
      mod.className = "ext-module";
      mod.setAttribute("role", "group");
      mod.setAttribute("aria-label", `Expansion module ${m}`);
      for (let k = 1; k <= 32; k++) {
        const name = `e${m}.${k}`;
        const info = ks.keys[name];
        const btn = document.createElement("button");
        btn.type = "button";
        btn.className = "pkey";
        btn.dataset.key = name;
        const label = info ? (info.label || info.number || name) : "";
        btn.setAttribute("aria-label", `Expansion ${m} key ${k}${label ? ": " + label : ""}`);
        const led = document.createElement("span");
        led.className = "led";
        led.dataset.led = name;
        led.dataset.colour = "off";
        led.dataset.pattern = "off";
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = label || `E${m}.${k}`;
        btn.append(led, tag);
        mod.appendChild(btn);
        keyEls.set(name, btn);
        ledEls.set(name, led);
        baseLabel.set(name, btn.getAttribute("aria-label"));
        wire(btn);
      }
      box.appendChild(mod);
    }
  }

  // --- the handset -------------------------------------------------------------------------
  function toggleHook() {
    const offhook = hookWanted ?? (state ? state.offhook : false);
    hookWanted = !offhook;
    showHook(hookWanted);
    post("/api/hook", { offhook: hookWanted }).then((ok) => {
      if (!ok) { hookWanted = null; showHook(state ? state.offhook : false); }
    });
  }

  function showHook(offhook) {
    const v = String(offhook);
    if (handset.dataset.offhook === v) return;
    handset.dataset.offhook = v;
    cradle.dataset.offhook = v;
    handset.setAttribute("aria-pressed", v);
    handset.setAttribute("aria-label", offhook ? "Handset: lifted. Press to put it back on the cradle"
                                               : "Handset: on the cradle. Press to lift it");
    hookState.textContent = offhook ? "Handset lifted" : "On the cradle";
  }

  handset.addEventListener("click", toggleHook);
  handset.addEventListener("mousedown", (e) => e.preventDefault());   // Enter stays OK

  // --- keyboard --------------------------------------------------------------------------------
  const KEYBOARD = {
    Enter: "ok", Escape: "cancel", Backspace: "cancel", c: "cancel",
    ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right",
    F1: "soft1", F2: "soft2", F3: "soft3", F4: "soft4", F5: "line1", F6: "line2", F7: "line3",
    s: "speaker", m: "mute", h: "hold", t: "transfer", r: "redial", "+": "volup", "-": "voldown",
  };
  const held = new Map();   // KeyboardEvent.code -> button (the key may change with Shift)

  function keyFor(e) {
    if (/^[0-9*#]$/.test(e.key)) return e.key;
    return KEYBOARD[e.key] || KEYBOARD[e.key.toLowerCase()] || null;
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    const t = e.target;
    if (t.closest("input, textarea, select, form")) return;
    if (t.closest("button") && (e.key === "Enter" || e.key === " ")) return;  // the button's own
    if (e.key === " ") { e.preventDefault(); if (!e.repeat) toggleHook(); return; }
    if (state && state.screen === "menu" && /^[a-z]$/i.test(e.key)) {
      // In the LCD menu a letter is what a person means to type, not S = speaker or
      // C = back: those would close the menu (and lose an account half typed).
      e.preventDefault();
      showNotice("Letters are typed on the dial pad: tap 2 for a, twice for b, …; " +
                 "soft key 1 switches abc / ABC / 123 / Sym. Esc or ⌫ is the C key.");
      return;
    }
    const key = keyFor(e);
    if (!key || !keyEls.has(key)) return;
    e.preventDefault();
    if (e.repeat || held.has(e.code)) return;
    held.set(e.code, keyEls.get(key));
    press(keyEls.get(key));
  });

  document.addEventListener("keyup", (e) => {
    const btn = held.get(e.code);
    if (!btn) return;
    held.delete(e.code);
    release(btn);
  });

  window.addEventListener("blur", () => {      // a key held while the window goes away
    held.clear();
    for (const key of [...down]) release(keyEls.get(key));
  });

  // --- LEDs: one timer drives every flashing LED, so they flash in phase ------------------
  // slow = 1 Hz, fast = 4 Hz, both derived from the same clock.
  let blinkTimer = null;

  function blinkTick() {
    const t = Date.now();
    const root = document.documentElement;
    root.classList.toggle("slow-lit", Math.floor(t / 500) % 2 === 0);
    root.classList.toggle("fast-lit", Math.floor(t / 125) % 2 === 0);
    blinkTimer = setTimeout(blinkTick, 125 - (t % 125) + 1);
  }

  function updateBlink() {
    const any = [...ledEls.values()].some((el) => el.dataset.pattern === "slow" || el.dataset.pattern === "fast");
    if (any && blinkTimer === null) blinkTick();
    if (!any && blinkTimer !== null) { clearTimeout(blinkTimer); blinkTimer = null; }
  }

  const PATTERN = { on: "steady", slow: "flashing", fast: "flashing fast" };

  function describeLed(v) {
    return v.colour === "off" || v.pattern === "off" ? "" : `${v.colour}, ${PATTERN[v.pattern] || v.pattern}`;
  }

  // --- applying what the phone pushes -----------------------------------------------------
  const STATUS = {
    disabled: "off", no_network: "no network", p2p: "peer-to-peer only (no server)",
    not_registered: "not registered", registered: "registered", dnd: "do not disturb",
  };

  function apply(m) {
    if (m.png && m.png !== lastPng) {
      lastPng = m.png;
      lcd.src = "data:image/png;base64," + m.png;
    }
    const text = (m.lines || []).join("\n");
    if (lcdText.textContent !== text) lcdText.textContent = text;

    const leds = Object.keys(m.leds || {});
    const ext = leds.filter((n) => n.startsWith("e")).sort().join();
    if (ext !== (apply.ext ?? "")) { apply.ext = ext; loadExpansion().then(() => apply(m)); }
    for (const [name, v] of Object.entries(m.leds || {})) {
      const el = ledEls.get(name);
      if (!el || (el.dataset.colour === v.colour && el.dataset.pattern === v.pattern)) continue;
      el.dataset.colour = v.colour;
      el.dataset.pattern = v.pattern;
      const what = describeLed(v);
      if (name === "strip") el.setAttribute("aria-label", `Light strip: ${what || "off"}`);
      const btn = keyEls.get(name);
      if (btn) btn.setAttribute("aria-label", baseLabel.get(name) + (what ? ` (lamp ${what})` : ""));
    }
    updateBlink();

    if (m.state) applyState(m.state);
  }

  function applyState(s) {
    if (!state || state.screen !== s.screen) {
      // what a screen reader announces: a new screen, not every tick of the call timer
      announce.textContent = lcdText.textContent.split("\n").slice(1).join(" ");
    }
    state = s;
    if (hookWanted === s.offhook) hookWanted = null;
    showHook(hookWanted ?? s.offhook);

    (s.softkeys || []).forEach((label, i) => {
      const btn = keyEls.get(`soft${i + 1}`);
      const aria = `Soft key ${i + 1}` + (label ? `: ${label}` : "");
      if (btn.getAttribute("aria-label") !== aria) btn.setAttribute("aria-label", aria);
      btn.title = label;
    });

    const list = $("#accounts");
    list.replaceChildren(...(s.accounts || []).map((a) => {
      const li = document.createElement("li");
      li.dataset.account = a.index;
      li.dataset.status = a.status;
      const name = document.createElement("b");
      name.textContent = `Line ${a.index}`;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = a.enabled ? [a.label !== a.user ? a.label : "",
        a.user && a.server ? `${a.user}@${a.server}` : a.user, a.on_secondary ? "(secondary server)" : ""]
        .filter(Boolean).join(" · ") : "";
      const st = document.createElement("span");
      st.className = "st";
      st.textContent = STATUS[a.status] || a.status;
      li.append(name, who, st);
      if (a.reason) {
        const why = document.createElement("span");
        why.className = "reason";
        why.textContent = a.reason;
        li.append(why);
      }
      const label = document.querySelector(`[data-line-label="${a.index}"]`);
      if (label) label.textContent = a.enabled ? (a.label || a.user) : "";
      return li;
    }));

    // no line in use: say where an account is added (the LCD only says "No account")
    $("#setup-hint").hidden = (s.accounts || []).some((a) => a.enabled);

    const errors = $("#errors");
    errors.hidden = !(s.errors && s.errors.length);
    errors.replaceChildren(...(s.errors || []).map((t) => {
      const li = document.createElement("li");
      li.textContent = t;
      return li;
    }));
    if (s.notice) showNotice(s.notice);
  }

  let noticeTimer = null;
  function showNotice(text) {
    const el = $("#notice");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { el.hidden = true; }, 6000);
  }

  // --- the WebSocket, reconnected with backoff ----------------------------------------------
  let backoff = 250;
  let retry = null;

  function setConnected(ok) {
    banner.hidden = ok;
    document.body.classList.toggle("offline", !ok);
    conn.textContent = ok ? "connected" : "disconnected";
    conn.dataset.connected = String(ok);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws?csrf=${encodeURIComponent(csrfToken())}`);
    ws.onopen = () => { backoff = 250; setConnected(true); };
    ws.onmessage = (e) => apply(JSON.parse(e.data));
    ws.onclose = () => { setConnected(false); reconnect(); };
  }

  function reconnect() {
    clearTimeout(retry);
    const wait = backoff * (0.8 + Math.random() * 0.4);
    backoff = Math.min(backoff * 2, 8000);
    retry = setTimeout(async () => {
      // A WebSocket cannot tell why it failed: ask the API whether the session is gone.
      try {
        const r = await fetch("/api/state", { credentials: "same-origin", cache: "no-store" });
        if (r.status === 401) return toLogin();
      } catch (e) {
        return reconnect();   // the phone is still down
      }
      connect();
    }, wait);
  }

  connect();
  loadExpansion();          // names of the memory keys, and the modules if any
  // the desk user's panel: no Maintenance link, /manage would answer them 403
  fetch("/api/session", { credentials: "same-origin", cache: "no-store" })
    .then((r) => (r.ok ? r.json() : null))
    .then((s) => { if (s && s.role !== "admin") document.getElementById("manage-link").remove(); })
    .catch(() => {});
})();
