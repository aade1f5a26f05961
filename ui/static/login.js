// The login page: says why the last sign-in did not work (the phone redirects back here).
"use strict";
const q = new URLSearchParams(location.search);
const msg = document.getElementById("failed");
if (q.has("wait")) {
  msg.textContent = `Too many wrong passwords: try again in ${Number(q.get("wait")) || 1} s.`;
  msg.hidden = false;
} else if (q.has("failed")) {
  msg.hidden = false;
}
