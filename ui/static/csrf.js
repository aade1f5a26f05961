// The CSRF token of this session (README "Security"): the phone sets it as the
// deskphone_csrf cookie at sign-in and refuses a state-changing request of a signed-in
// browser that does not send it back (X-CSRF-Token header, or a "csrf" field in a form).
// Loaded before the page's own script; forms that POST get the field here.
"use strict";
function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)deskphone_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}
for (const form of document.querySelectorAll("form[method=post]")) {
  const field = document.createElement("input");
  field.type = "hidden";
  field.name = "csrf";
  field.value = csrfToken();
  form.append(field);
}
