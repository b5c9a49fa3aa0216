// Start-up, sign-in and the hash router: #/queue, #/cases/<id>, #/chats, #/stats, #/admin,
// #/privacy, #/audit, #/account.

import * as api from "./api.js";
import { h, replace, field } from "./dom.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { resetQueue, showQueue } from "./queue.js";
import { showCase } from "./case.js";
import { showStats } from "./stats.js";
import { showChats } from "./chats.js";
import { mayAdminister, showAdmin } from "./admin.js";
import { showPrivacy, showPrivacyCustomer, showRequest } from "./privacy.js";
import { resetAudit, showAudit } from "./audit.js";
import { enrol, showAccount } from "./account.js";
import { can, me, notify, setOfficial } from "./session.js";

const main = document.getElementById("main");
let leaveView = () => {};

function leave() {
  leaveView();
  leaveView = () => {};
}

function showWho() {
  replace(document.getElementById("who"), t("app.signedInAs", { name: me().name }));
}

let methods = null;

async function signInMethods() {
  if (!methods) {
    methods = await api.get("/auth/methods").catch(() => ({ password: true, oidc: false }));
  }
  return methods;
}

// After any sign-in: the console is for case work, and a role that requires an authenticator
// app enrols one before anything else.
async function welcome(official, error) {
  // The console is for case work and for the privacy officer's work; a role with neither
  // (an inspector, a role this console does not know) uses the API.
  if (official.kind !== "official" || !(official.permissions.includes("cases.read")
    || official.permissions.includes("privacy.manage"))) {
    await api.signOut().catch(() => {});
    replace(error, t("login.noConsoleRole"));
    return;
  }
  if (official.second_factor_missing) {
    await enrol(main, { required: true, onDone: async () => {
      setOfficial(await api.get("/auth/me"));
      signedIn();
    } });
    return;
  }
  setOfficial(official);
  signedIn();
}

async function showLogin(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  replace(document.getElementById("who"));
  const offered = await signInMethods();
  const username = h("input", { name: "username", autocomplete: "username", required: true, id: "username" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password",
    required: true, id: "password" });
  const code = h("input", { name: "code", id: "code", autocomplete: "one-time-code", maxlength: 64 });
  const codeField = field(t("login.code"), code);
  codeField.hidden = true;
  const error = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "login card", id: "login-form" },
    h("h1", {}, t("login.title")),
    offered.oidc ? h("p", {}, h("a", { href: "/api/v1/auth/oidc/login", class: "button primary", id: "sso" },
      t("login.sso"))) : null,
    offered.password ? [field(t("login.username"), username), field(t("login.password"), password), codeField] : null,
    error,
    offered.password ? h("button", { type: "submit", class: "primary" }, t("login.submit")) : null);
  const submit = form.querySelector("button[type=submit]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!submit || submit.disabled) return;
    submit.disabled = true;
    replace(error);
    try {
      const official = await api.signIn(username.value.trim(), password.value, code.value.trim());
      password.value = "";
      code.value = "";
      await welcome(official, error);
    } catch (failure) {
      const reason = api.problemCode(failure);
      if (reason === "second-factor-required" || reason === "invalid-second-factor") {
        codeField.hidden = false;
        code.value = "";
        code.focus();
        replace(error, t(reason === "second-factor-required" ? "login.codeNeeded" : "login.codeWrong"));
      } else {
        replace(error, failure.status === 401 ? t("login.failed") : api.problemText(failure));
      }
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, form);
  (offered.password ? username : form.querySelector("#sso") || form).focus();
}

// Single sign-on comes back to the console with the token, or the reason it failed, in the
// fragment; it is taken out of the address at once, so it stays in neither history nor view.
async function fromSingleSignOn() {
  const handed = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (!handed.has("access_token") && !handed.has("sign_in_error")) return false;
  history.replaceState(null, "", location.pathname + "#/queue");
  if (handed.has("sign_in_error")) {
    await showLogin(t("login.ssoFailed", { reason: handed.get("sign_in_error") }));
    return true;
  }
  const error = h("p", { class: "error", role: "alert" });
  try {
    await welcome(await api.adopt(handed.get("access_token")), error);
  } catch (failure) {
    await showLogin(api.problemText(failure));
    return true;
  }
  if (!api.signedIn()) await showLogin(error.textContent);
  return true;
}

function showNav() {
  document.getElementById("nav").hidden = false;
  document.getElementById("nav-stats").hidden = !can("stats.read");
  document.getElementById("nav-queue").hidden = !can("cases.read");
  document.getElementById("nav-chats").hidden = !can("cases.read");
  document.getElementById("nav-admin").hidden = !mayAdminister();
  document.getElementById("nav-privacy").hidden = !can("privacy.manage");
  document.getElementById("nav-audit").hidden = !can("audit.read");
  document.getElementById("logout").hidden = false;
  showWho();
}

function signedIn() {
  showNav();
  if (!location.hash || location.hash === "#/" || location.hash === "#/login") {
    location.hash = can("cases.read") ? "#/queue" : "#/privacy";
  } else {
    route();
  }
}

function route() {
  leave();
  notify("");
  if (!api.signedIn()) {
    showLogin();
    return;
  }
  const path = location.hash.replace(/^#/, "") || "/queue";
  let match;
  if ((match = path.match(/^\/cases\/(\d+)$/))) {
    leaveView = showCase(main, Number(match[1])) || leaveView;
  } else if (path === "/chats" && can("cases.read")) {
    leaveView = showChats(main) || leaveView;
  } else if ((match = path.match(/^\/admin(?:\/([a-z-]+))?$/)) && mayAdminister()) {
    showAdmin(main, match[1]);
  } else if ((match = path.match(/^\/privacy\/requests\/(\d+)$/)) && can("privacy.manage")) {
    showRequest(main, Number(match[1]));
  } else if ((match = path.match(/^\/privacy\/customers\/(\d+)$/)) && can("privacy.manage")) {
    showPrivacyCustomer(main, Number(match[1]));
  } else if (path.startsWith("/privacy") && can("privacy.manage")) {
    showPrivacy(main);
  } else if (path === "/audit" && can("audit.read")) {
    leaveView = showAudit(main) || leaveView;
  } else if (path === "/account") {
    leaveView = showAccount(main) || leaveView;
  } else if (!can("cases.read")) {
    location.hash = can("privacy.manage") ? "#/privacy" : "#/queue";
    return;
  } else if (path === "/stats" && can("stats.read")) {
    leaveView = showStats(main) || leaveView;
  } else {
    leaveView = showQueue(main) || leaveView;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    if (path.startsWith(link.getAttribute("href").slice(1))) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.focus({ preventScroll: true });
}

// Whoever signs in next starts at an empty queue, not at the case or search the last one left.
function forgetOfficial() {
  setOfficial(null);
  leave();
  resetQueue();
  resetAudit();
  history.replaceState(null, "", "#/queue");
}

async function start() {
  await i18n.init();
  const chooser = document.getElementById("language");
  chooser.value = i18n.current();
  chooser.addEventListener("change", async () => {
    try {
      await i18n.setLanguage(chooser.value);
    } catch (failure) {
      notify(String(failure.message || failure), "error");
      chooser.value = i18n.current();
      return;
    }
    if (me()) {
      showWho();
      route();
    } else {
      showLogin();
    }
  });
  document.getElementById("logout").addEventListener("click", async () => {
    let revoked = true;
    await api.signOut().catch(() => { revoked = false; });
    forgetOfficial();
    showLogin(revoked ? t("login.signedOut") : t("login.signOutFailed"));
  });
  api.whenSignedOut(() => {
    forgetOfficial();
    showLogin(t("login.expired"));
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("console:official-changed", () => {
    showNav();
    if (!mayAdminister()) history.replaceState(null, "", "#/queue");
    route();
    notify(t("officials.ownRoleChanged", { role: t(`role.${me().role}`) }), "success");
  });
  if (!(await fromSingleSignOn())) await showLogin();
}

start().catch((failure) => {
  // Before the texts load there is no language to speak; say it in all three.
  document.getElementById("main").textContent =
    `Konsoli ei käynnistynyt / Konsolen startade inte / The console did not start: ${failure.message || failure}`;
});
