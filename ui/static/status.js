// Phone Status (/settings/status, ui/web/pages.py): the lines, network and software are
// read again every few seconds, so a line's registration shows as it changes. The page
// works without this script too (its Refresh link).
"use strict";
const EVERY_MS = 3000;
async function refresh() {
  try {
    const r = await fetch(location.pathname, { headers: { Accept: "text/html" } });
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const fresh = doc.querySelectorAll("section.status pre");
    document.querySelectorAll("section.status pre").forEach((pre, i) => {
      if (fresh[i] && pre.textContent !== fresh[i].textContent) pre.textContent = fresh[i].textContent;
    });
  } catch (e) {
    // the phone restarting or the network gone: the next round tries again
  }
}
setInterval(refresh, EVERY_MS);
