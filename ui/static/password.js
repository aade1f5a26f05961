// The password page: POST /api/password with the CSRF token, then on to the front panel.
"use strict";
const form = document.getElementById("change");
const failed = document.getElementById("failed");

function say(text) {
  failed.textContent = text;
  failed.hidden = false;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (form.new.value !== form.again.value) return say("The two new passwords differ.");
  let r;
  try {
    r = await fetch("/api/password", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify({ old: form.old.value, new: form.new.value }),
    });
  } catch (e) {
    return say("The phone does not answer; check that it is running.");
  }
  if (r.status === 401) return location.assign("/login");
  if (r.ok) return location.assign("/");
  let msg = `HTTP ${r.status}`;
  try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
  say(msg.charAt(0).toUpperCase() + msg.slice(1) + ".");
});
