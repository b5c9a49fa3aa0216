// Who is signed in, what they may do, and the status line every view reports to.

import { h, replace } from "./dom.js";

let official = null;

export function setOfficial(value) {
  official = value;
}

export function me() {
  return official;
}

export function can(permission) {
  return Boolean(official && official.permissions.includes(permission));
}

export function notify(message, kind = "info") {
  const status = document.getElementById("status");
  replace(status, message ? h("p", { class: `notice ${kind}` }, message) : null);
}
