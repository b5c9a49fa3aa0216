// Start-up, sign-in and the hash router: #/queue, #/cases/<id>, #/stats.

import * as api from "./api.js";
import { h, replace, field } from "./dom.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { showQueue } from "./queue.js";
import { showCase } from "./case.js";
import { showStats } from "./stats.js";
import { can, notify, setOfficial } from "./session.js";

const main = document.getElementById("main");
const session = { me: null };
let leaveView = () => {};

function showLogin(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  replace(document.getElementById("who"));
  const username = h("input", { name: "username", autocomplete: "username", required: true, id: "username" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password",
    required: true, id: "password" });
  const error = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "login card", id: "login-form" },
    h("h1", {}, t("login.title")),
    field(t("login.username"), username),
    field(t("login.password"), password),
    error,
    h("button", { type: "submit", class: "primary" }, t("login.submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(error);
    try {
      session.me = await api.signIn(username.value.trim(), password.value);
      password.value = "";
      if (session.me.kind !== "official") {
        await api.signOut();
        session.me = null;
        replace(error, t("login.officialsOnly"));
        return;
      }
      setOfficial(session.me);
      signedIn();
    } catch (failure) {
      replace(error, failure.status === 401 ? t("login.failed") : api.problemText(failure));
    }
  });
  replace(main, form);
  username.focus();
}

function signedIn() {
  document.getElementById("nav").hidden = false;
  document.getElementById("nav-stats").hidden = !can("stats.read");
  document.getElementById("logout").hidden = false;
  replace(document.getElementById("who"), t("app.signedInAs", { name: session.me.name }));
  if (!location.hash || location.hash === "#/" || location.hash === "#/login") {
    location.hash = "#/queue";
  } else {
    route();
  }
}

function route() {
  leaveView();
  leaveView = () => {};
  notify("");
  if (!api.signedIn()) {
    showLogin();
    return;
  }
  const path = location.hash.replace(/^#/, "") || "/queue";
  let match;
  if ((match = path.match(/^\/cases\/(\d+)$/))) {
    leaveView = showCase(main, Number(match[1])) || leaveView;
  } else if (path === "/stats" && can("stats.read")) {
    leaveView = showStats(main) || leaveView;
  } else {
    leaveView = showQueue(main) || leaveView;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", path.startsWith(link.getAttribute("href").slice(1)));
  }
  main.focus({ preventScroll: true });
}

async function start() {
  await i18n.init();
  const chooser = document.getElementById("language");
  chooser.value = i18n.current();
  chooser.addEventListener("change", async () => {
    await i18n.setLanguage(chooser.value);
    if (session.me) {
      replace(document.getElementById("who"), t("app.signedInAs", { name: session.me.name }));
    }
    route();
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await api.signOut().catch(() => {});
    session.me = null;
    setOfficial(null);
    leaveView();
    leaveView = () => {};
    // The next official starts at the queue, not at the case the last one had open.
    history.replaceState(null, "", "#/queue");
    showLogin(t("login.signedOut"));
  });
  api.whenSignedOut(() => {
    session.me = null;
    setOfficial(null);
    leaveView();
    leaveView = () => {};
    showLogin(t("login.expired"));
  });
  window.addEventListener("hashchange", route);
  showLogin();
}

start();
