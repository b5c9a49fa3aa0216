// The official's own security: the authenticator app (two-step sign-in), its recovery codes,
// and the sessions they hold, each of which they can end.

import * as api from "./api.js";
import { h, replace, field } from "./dom.js";
import { dateTime, t } from "./i18n.js";
import { notify } from "./session.js";

function recoveryCodes(codes, onDone) {
  return h("div", { class: "recovery", id: "recovery" },
    h("h2", {}, t("account.recoveryTitle")),
    h("p", {}, t("account.recoveryHint")),
    h("ul", { id: "recovery-codes", class: "codes" }, codes.map((code) => h("li", {}, h("code", {}, code)))),
    h("button", { type: "button", class: "primary", id: "enrolment-done", onclick: onDone }, t("account.continue")));
}

// Enrols an authenticator app in ``container``: the QR code and key, then a code to confirm,
// then the recovery codes. ``onDone`` runs when the official has seen them.
export async function enrol(container, { required = false, onDone }) {
  const started = await api.post("/auth/second-factor/totp");
  const code = h("input", { id: "totp-code", inputmode: "numeric", autocomplete: "one-time-code",
    maxlength: 6, required: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "enrol", id: "enrol-form" },
    h("h2", {}, t("account.enrol")),
    required ? h("p", { class: "notice" }, t("account.factorRequired")) : null,
    h("p", {}, t("account.scan")),
    h("img", { src: started.qr_svg, alt: t("account.qrAlt"), class: "qr", id: "totp-qr", width: 200, height: 200 }),
    h("p", {}, t("account.secret"), " ", h("code", { id: "totp-secret" }, started.secret)),
    field(t("account.code"), code),
    error,
    h("button", { type: "submit", class: "primary", id: "totp-confirm" }, t("account.confirm")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(error);
    try {
      const confirmed = await api.post("/auth/second-factor/totp/confirm", { code: code.value.trim() });
      replace(container, recoveryCodes(confirmed.recovery_codes, onDone));
    } catch (failure) {
      replace(error, failure.status === 422 ? t("login.codeWrong") : api.problemText(failure));
    }
  });
  replace(container, form);
  code.focus();
}

function factorPart(box, factor) {
  const part = h("section", { id: "second-factor" }, h("h2", {}, t("account.factorTitle")));
  if (!factor.totp_enabled) {
    part.append(h("p", {}, t("account.factorOff")),
      h("button", { type: "button", id: "start-enrolment", onclick: () => enrol(part, { onDone: () => render(box) }) },
        t("account.enrol")));
    return part;
  }
  const code = h("input", { id: "renew-code", inputmode: "numeric", autocomplete: "one-time-code" });
  const renew = h("form", { id: "renew-form" }, field(t("account.code"), code),
    h("button", { type: "submit" }, t("account.renew")));
  renew.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const renewed = await api.post("/auth/second-factor/recovery-codes", { code: code.value.trim() });
      replace(part, recoveryCodes(renewed.recovery_codes, () => render(box)));
    } catch (failure) {
      notify(failure.status === 422 ? t("login.codeWrong") : api.problemText(failure), "error");
    }
  });
  part.append(h("p", { id: "factor-status" }, t("account.factorOn", { count: factor.recovery_codes_left })), renew);
  return part;
}

function sessionsPart(box, sessions) {
  const end = async (path, signsOut) => {
    try {
      await api.request("DELETE", path);
      if (!signsOut) {
        // The list first: the notice, which a screen reader announces, then matches the page.
        await render(box);
        notify(t("account.ended"));
      }
    } catch (failure) {
      notify(api.problemText(failure), "error");
    }
  };
  const rows = sessions.items.map((session) => h("tr", { dataset: { session: session.id } },
    h("td", {}, session.client || "—", session.current ? h("strong", {}, ` (${t("account.current")})`) : null),
    h("td", {}, dateTime(session.created_at)),
    h("td", {}, session.last_used_at ? dateTime(session.last_used_at) : "—"),
    h("td", {}, dateTime(session.expires_at)),
    h("td", {}, session.current ? null : h("button", { type: "button", class: "end-session",
      onclick: () => end(`/auth/sessions/${session.id}`, false) }, t("account.end")))));
  return h("section", { id: "sessions" },
    h("h2", {}, t("account.sessionsTitle")),
    h("table", { class: "sessions" },
      h("thead", {}, h("tr", {}, h("th", {}, t("account.client")), h("th", {}, t("account.created")),
        h("th", {}, t("account.lastUsed")), h("th", {}, t("account.expires")), h("th", {}))),
      h("tbody", {}, rows)),
    h("button", { type: "button", id: "end-all-sessions", onclick: () => end("/auth/sessions", true) },
      t("account.endAll")));
}

async function render(box) {
  try {
    const [factor, sessions] = await Promise.all([api.get("/auth/second-factor"),
      api.get("/auth/sessions", { page_size: 100 })]);
    replace(box, h("h1", {}, t("account.title")), factorPart(box, factor), sessionsPart(box, sessions));
  } catch (failure) {
    notify(api.problemText(failure), "error");
  }
}

export function showAccount(main) {
  const box = h("div", { class: "card account", id: "account" });
  replace(main, box);
  render(box);
}
