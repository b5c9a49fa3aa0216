// Administration: service lines (addresses, retention, recording policy, privacy notice),
// officials, reply templates, authorities and API keys. Each part is offered only to a role whose
// permissions (GET /auth/me) allow it; the API refuses the rest anyway.

import * as api from "./api.js";
import { h, replace, field } from "./dom.js";
import { t, dateTime } from "./i18n.js";
import { can, me, notify, setOfficial } from "./session.js";
import { CASE_LANGUAGES } from "./vocabulary.js";

const ROLES = ["adviser", "supervisor", "admin", "privacy_officer", "inspector"];
const RECORDING_POLICIES = ["none", "all", "random"];
const TEMPLATE_VARIABLES = ["reference", "first_name", "official_name", "today", "opened_on"];

export const SECTIONS = [
  { path: "lines", permission: "service_lines.manage", show: showLines },
  { path: "officials", permission: "officials.manage", show: showOfficials },
  { path: "templates", permission: "reply_templates.manage", show: showTemplates },
  { path: "authorities", permission: "authorities.manage", show: showAuthorities },
  { path: "api-keys", permission: "api_keys.manage", show: showApiKeys },
];

export function mayAdminister() {
  return SECTIONS.some((section) => can(section.permission));
}

export function showAdmin(main, path) {
  const allowed = SECTIONS.filter((section) => can(section.permission));
  const chosen = allowed.find((section) => section.path === path) || allowed[0];
  const body = h("div", { id: "admin-body" });
  replace(main, h("h1", {}, t("admin.title")),
    h("nav", { class: "subnav", "aria-label": t("admin.sections") }, allowed.map((section) =>
      h("a", { href: `#/admin/${section.path}`, "aria-current": section === chosen ? "page" : null },
        t(`admin.section.${section.path}`)))),
    body);
  if (chosen) chosen.show(body);
}

// --- shared pieces ------------------------------------------------------------------------------

function lines(text) {
  return text.split(/[\n,]+/).map((item) => item.trim()).filter(Boolean);
}

function numberOrNull(value) {
  return value === "" ? null : Number(value);
}

function table(id, caption, headings, rows, emptyText) {
  if (!rows.length) return h("p", { class: "empty", id }, emptyText);
  return h("table", { id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headings.map((key) => h("th", { scope: "col" }, t(key))))),
    h("tbody", {}, rows));
}

// Submits `form` once at a time, reports the outcome and redraws the section.
function handle(form, action, doneText, redraw) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    if (buttons.some((button) => button.disabled)) return;
    for (const button of buttons) button.disabled = true;
    try {
      const result = await action();
      notify(doneText, "success");
      await redraw(result);
    } catch (failure) {
      notify(api.problemText(failure), "error");
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  });
}

async function allLines() {
  return (await api.get("/service-lines", { page_size: 100 })).items;
}

// --- service lines ------------------------------------------------------------------------------

async function showLines(body) {
  const items = await allLines().catch((failure) => { notify(api.problemText(failure), "error"); return []; });
  const form = lineForm(null, () => showLines(body));
  replace(body,
    h("section", { class: "card" }, h("h2", {}, t("lines.title")),
      table("lines-table", t("lines.title"), ["lines.name", "lines.addresses", "lines.retention", "lines.recording",
        "lines.notice", "lines.active", "admin.actions"], items.map((line) => h("tr", { dataset: { lineId: line.id } },
        h("td", {}, line.name, line.is_default ? ` (${t("lines.default")})` : ""),
        h("td", {}, [...line.phone_numbers, ...line.email_addresses, ...line.chat_widget_ids.map((id) => `chat: ${id}`)].join(", ") || "–"),
        h("td", {}, t("lines.retentionDays", { cases: line.case_retention_days ?? t("lines.serviceDefault"),
          recordings: line.recording_retention_days ?? t("lines.serviceDefault") })),
        h("td", {}, t(`lines.policy.${line.recording_policy}`)),
        h("td", {}, line.privacy_notice_url ? h("a", { href: line.privacy_notice_url }, t("lines.noticeLink")) : "–"),
        h("td", {}, line.active ? t("admin.yes") : t("admin.no")),
        h("td", {}, h("button", { type: "button", class: "edit-line", onclick: () => {
          form.replaceWith(lineForm(line, () => showLines(body)));
          body.querySelector("#line-name")?.focus();
        } }, t("admin.edit"))))), t("lines.none"))),
    form);
}

function lineForm(line, redraw) {
  const value = (name, fallback = "") => (line && line[name] !== null && line[name] !== undefined ? line[name] : fallback);
  const name = h("input", { id: "line-name", required: true, maxlength: 200, value: value("name") });
  const language = h("select", { id: "line-language" }, CASE_LANGUAGES.map((code) =>
    h("option", { value: code, selected: code === value("default_language", "fi") }, t(`language.${code}`))));
  const phones = h("textarea", { id: "line-phones", rows: 2 }, value("phone_numbers", []).join("\n"));
  const emails = h("textarea", { id: "line-emails", rows: 2 }, value("email_addresses", []).join("\n"));
  const widgets = h("textarea", { id: "line-widgets", rows: 2 }, value("chat_widget_ids", []).join("\n"));
  const caseDays = h("input", { id: "line-case-days", type: "number", min: 1, max: 36500, value: value("case_retention_days") });
  const recordingDays = h("input", { id: "line-recording-days", type: "number", min: 1, max: 36500,
    value: value("recording_retention_days") });
  const policy = h("select", { id: "line-policy" }, RECORDING_POLICIES.map((p) =>
    h("option", { value: p, selected: p === value("recording_policy", "none") }, t(`lines.policy.${p}`))));
  const share = h("input", { id: "line-share", type: "number", min: 0, max: 1, step: 0.05, value: value("recording_share") });
  const notice = h("input", { id: "line-notice", type: "url", maxlength: 500, value: value("privacy_notice_url") });
  const active = h("input", { id: "line-active", type: "checkbox", checked: value("active", true) });
  const form = h("form", { class: "card", id: "line-form" },
    h("h2", {}, line ? t("lines.editTitle", { name: line.name }) : t("lines.new")),
    h("div", { class: "form-grid" },
      field(t("lines.name"), name),
      field(t("lines.language"), language),
      field(t("lines.phones"), phones, t("lines.onePerLine")),
      field(t("lines.emails"), emails, t("lines.onePerLine")),
      field(t("lines.widgets"), widgets, t("lines.onePerLine")),
      field(t("lines.caseDays"), caseDays, t("lines.daysHint")),
      field(t("lines.recordingDays"), recordingDays, t("lines.daysHint")),
      field(t("lines.recordingPolicy"), policy),
      field(t("lines.share"), share, t("lines.shareHint")),
      field(t("lines.notice"), notice)),
    h("label", { class: "check" }, active, t("lines.active")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, line ? t("admin.save") : t("lines.create"))));
  handle(form, () => {
    const payload = {
      name: name.value.trim(), default_language: language.value, phone_numbers: lines(phones.value),
      email_addresses: lines(emails.value), chat_widget_ids: lines(widgets.value),
      case_retention_days: numberOrNull(caseDays.value), recording_retention_days: numberOrNull(recordingDays.value),
      recording_policy: policy.value, recording_share: numberOrNull(share.value),
      privacy_notice_url: notice.value.trim() || null, active: active.checked,
    };
    return line ? api.patch(`/service-lines/${line.id}`, payload) : api.post("/service-lines", payload);
  }, line ? t("lines.saved") : t("lines.created"), redraw);
  return form;
}

// --- officials ------------------------------------------------------------------------------------

async function showOfficials(body) {
  let officials = [];
  let known = [];
  try {
    [officials, known] = [(await api.get("/officials", { page_size: 100 })).items, await allLines()];
  } catch (failure) {
    notify(api.problemText(failure), "error");
  }
  const lineName = new Map(known.map((line) => [line.id, line.name]));
  const username = h("input", { id: "official-username", required: true, maxlength: 64, autocomplete: "off" });
  const name = h("input", { id: "official-name", required: true, maxlength: 200 });
  const role = h("select", { id: "official-role" }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
  const password = h("input", { id: "official-password", type: "password", required: true, minlength: 12,
    autocomplete: "new-password" });
  const boxes = known.map((line) => h("input", { type: "checkbox", value: line.id, id: `official-line-${line.id}` }));
  const form = h("form", { class: "card", id: "official-form" },
    h("h2", {}, t("officials.new")),
    h("div", { class: "form-grid" },
      field(t("officials.username"), username),
      field(t("officials.name"), name),
      field(t("officials.role"), role),
      field(t("officials.password"), password, t("officials.passwordHint"))),
    known.length ? h("fieldset", {}, h("legend", {}, t("officials.lines")),
      boxes.map((box) => h("label", { class: "check" }, box, lineName.get(Number(box.value))))) : null,
    h("button", { type: "submit", class: "primary" }, t("officials.create")));
  handle(form, () => api.post("/officials", {
    username: username.value.trim(), name: name.value.trim(), role: role.value, password: password.value,
    service_line_ids: boxes.filter((box) => box.checked).map((box) => Number(box.value)),
  }), t("officials.created"), () => showOfficials(body));
  replace(body,
    h("section", { class: "card" }, h("h2", {}, t("officials.title")),
      table("officials-table", t("officials.title"), ["officials.username", "officials.name", "officials.role",
        "officials.lines", "lines.active", "admin.actions"], officials.map((official) => h("tr", {},
        h("td", {}, official.username),
        h("td", {}, official.name),
        h("td", {}, t(`role.${official.role}`)),
        h("td", {}, official.service_line_ids.map((id) => lineName.get(id) || id).join(", ") || t("officials.allLines")),
        h("td", {}, official.active ? t("admin.yes") : t("admin.no")),
        h("td", {}, h("div", { class: "inline" }, h("button", { type: "button", class: "edit-official",
          dataset: { officialId: official.id }, onclick: () => {
            body.querySelector("#official-form").replaceWith(officialEditForm(official, known, () => showOfficials(body)));
            body.querySelector("#official-edit-role")?.focus();
          } }, t("admin.edit"), h("span", { class: "visually-hidden" }, ` ${official.name}`)),
        official.active ? h("button", { type: "button", class: "danger", onclick: async () => {
          if (!confirm(t("officials.deactivateConfirm", { name: official.name }))) return;
          try {
            await api.request("DELETE", `/officials/${official.id}`);
            notify(t("officials.deactivated"), "success");
            showOfficials(body);
          } catch (failure) {
            notify(api.problemText(failure), "error");
          }
        } }, t("officials.deactivate")) : null)))), t("officials.none"))),
    form);
}

// Changing an official's role and lines takes effect at their next request: the API reads the
// role from the official, not from the token.
function officialEditForm(official, known, redraw) {
  const role = h("select", { id: "official-edit-role" }, ROLES.map((r) =>
    h("option", { value: r, selected: r === official.role }, t(`role.${r}`))));
  const boxes = known.map((line) => h("input", { type: "checkbox", value: line.id, id: `official-edit-line-${line.id}`,
    checked: official.service_line_ids.includes(line.id) }));
  const limited = h("input", { id: "official-edit-limited", type: "checkbox", checked: official.limited_to_lines });
  const limitedField = h("label", { class: "check" }, limited, t("officials.limited"));
  const showLimited = () => {
    limitedField.hidden = role.value !== "supervisor";
    if (limitedField.hidden) limited.checked = false;
  };
  role.addEventListener("change", showLimited);
  showLimited();
  // Linking customer records is the privacy officer's; an administrator may trust an adviser or
  // a supervisor with it (the API refuses the grant for other roles).
  const mayLink = h("input", { id: "official-edit-may-link", type: "checkbox", checked: official.may_link_customers });
  const mayLinkField = h("label", { class: "check" }, mayLink, t("officials.mayLink"));
  const showMayLink = () => {
    mayLinkField.hidden = !["adviser", "supervisor"].includes(role.value);
    if (mayLinkField.hidden) mayLink.checked = false;
  };
  role.addEventListener("change", showMayLink);
  showMayLink();
  const form = h("form", { class: "card", id: "official-form" },
    h("h2", {}, t("officials.editTitle", { name: official.name, username: official.username })),
    h("div", { class: "form-grid" }, field(t("officials.role"), role)),
    known.length ? h("fieldset", { id: "official-edit-lines" }, h("legend", {}, t("officials.lines")),
      h("p", { class: "hint" }, t("officials.linesHint")),
      boxes.map((box, index) => h("label", { class: "check" }, box, known[index].name))) : null,
    limitedField,
    mayLinkField,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("admin.save")),
      h("button", { type: "button", id: "official-edit-cancel", onclick: redraw }, t("admin.cancel"))));
  handle(form, () => api.patch(`/officials/${official.id}`, {
    role: role.value, limited_to_lines: limited.checked, may_link_customers: mayLink.checked,
    service_line_ids: boxes.filter((box) => box.checked).map((box) => Number(box.value)),
  }), t("officials.saved"), async () => {
    if (official.id !== me().id) return redraw();
    // Administrators who changed their own role are shown what the new one offers, at once.
    setOfficial(await api.get("/auth/me"));
    window.dispatchEvent(new Event("console:official-changed"));
  });
  return form;
}

// --- reply templates ------------------------------------------------------------------------------

async function showTemplates(body) {
  let templates = [];
  let known = [];
  try {
    [templates, known] = [(await api.get("/reply-templates", { page_size: 100 })).items, await allLines()];
  } catch (failure) {
    notify(api.problemText(failure), "error");
  }
  const lineName = new Map(known.map((line) => [line.id, line.name]));
  const form = templateForm(null, known, () => showTemplates(body));
  replace(body,
    h("section", { class: "card" }, h("h2", {}, t("templates.title")),
      table("templates-table", t("templates.title"), ["templates.line", "templates.language", "templates.titleField",
        "lines.active", "admin.actions"], templates.map((template) => h("tr", {},
        h("td", {}, lineName.get(template.service_line_id) || template.service_line_id),
        h("td", {}, t(`language.${template.language}`)),
        h("td", {}, template.title),
        h("td", {}, template.active ? t("admin.yes") : t("admin.no")),
        h("td", { class: "inline" },
          h("button", { type: "button", onclick: () => {
            body.querySelector("#template-form").replaceWith(templateForm(template, known, () => showTemplates(body)));
            body.querySelector("#template-title")?.focus();
          } }, t("admin.edit")),
          h("button", { type: "button", class: "danger", onclick: async () => {
            if (!confirm(t("templates.deleteConfirm", { title: template.title }))) return;
            try {
              await api.request("DELETE", `/reply-templates/${template.id}`);
              notify(t("templates.deleted"), "success");
              showTemplates(body);
            } catch (failure) {
              notify(api.problemText(failure), "error");
            }
          } }, t("admin.delete"))))), t("templates.none"))),
    form);
}

function templateForm(template, known, redraw) {
  const line = h("select", { id: "template-line", required: true }, known.map((item) =>
    h("option", { value: item.id, selected: template?.service_line_id === item.id }, item.name)));
  const language = h("select", { id: "template-language" }, CASE_LANGUAGES.map((code) =>
    h("option", { value: code, selected: code === (template?.language || "fi") }, t(`language.${code}`))));
  const title = h("input", { id: "template-title", required: true, maxlength: 200, value: template?.title || "" });
  const text = h("textarea", { id: "template-body", rows: 5, required: true, maxlength: 5000 }, template?.body || "");
  const active = h("input", { id: "template-active", type: "checkbox", checked: template ? template.active : true });
  const form = h("form", { class: "card", id: "template-form" },
    h("h2", {}, template ? t("templates.editTitle", { title: template.title }) : t("templates.new")),
    h("div", { class: "form-grid" },
      field(t("templates.line"), line),
      field(t("templates.language"), language),
      field(t("templates.titleField"), title)),
    field(t("templates.body"), text,
      t("templates.variables", { names: TEMPLATE_VARIABLES.map((name) => `{${name}}`).join(", ") })),
    h("label", { class: "check" }, active, t("lines.active")),
    h("button", { type: "submit", class: "primary" }, template ? t("admin.save") : t("templates.create")));
  handle(form, () => {
    const payload = { service_line_id: Number(line.value), language: language.value, title: title.value.trim(),
      body: text.value, active: active.checked };
    return template ? api.patch(`/reply-templates/${template.id}`, payload) : api.post("/reply-templates", payload);
  }, t("templates.saved"), redraw);
  return form;
}

// --- authorities ----------------------------------------------------------------------------------

async function showAuthorities(body) {
  const items = await api.get("/authorities", { page_size: 100 }).then((page) => page.items)
    .catch((failure) => { notify(api.problemText(failure), "error"); return []; });
  const name = h("input", { id: "authority-name", required: true, maxlength: 200 });
  const email = h("input", { id: "authority-email", type: "email", required: true, maxlength: 254 });
  const phone = h("input", { id: "authority-phone", type: "tel", maxlength: 40 });
  const form = h("form", { class: "card", id: "authority-form" },
    h("h2", {}, t("authorities.new")),
    h("div", { class: "form-grid" },
      field(t("authorities.name"), name), field(t("authorities.email"), email), field(t("authorities.phone"), phone)),
    h("button", { type: "submit", class: "primary" }, t("authorities.create")));
  handle(form, () => api.post("/authorities", { name: name.value.trim(), email: email.value.trim(),
    phone: phone.value.trim() || null }), t("authorities.created"), () => showAuthorities(body));
  replace(body,
    h("section", { class: "card" }, h("h2", {}, t("authorities.title")),
      table("authorities-table", t("authorities.title"), ["authorities.name", "authorities.email",
        "authorities.phone", "lines.active", "admin.actions"], items.map((item) => h("tr", {},
        h("td", {}, item.name), h("td", {}, item.email), h("td", {}, item.phone || "–"),
        h("td", {}, item.active ? t("admin.yes") : t("admin.no")),
        h("td", {}, h("button", { type: "button", onclick: async () => {
          try {
            await api.patch(`/authorities/${item.id}`, { active: !item.active });
            notify(t("authorities.saved"), "success");
            showAuthorities(body);
          } catch (failure) {
            notify(api.problemText(failure), "error");
          }
        } }, item.active ? t("authorities.retire") : t("authorities.restore"))))), t("authorities.none"))),
    form);
}

// --- API keys -------------------------------------------------------------------------------------

async function showApiKeys(body, created = null) {
  const items = await api.get("/api-keys", { page_size: 100 }).then((page) => page.items)
    .catch((failure) => { notify(api.problemText(failure), "error"); return []; });
  const name = h("input", { id: "api-key-name", required: true, maxlength: 200 });
  const form = h("form", { class: "card", id: "api-key-form" },
    h("h2", {}, t("apiKeys.new")),
    field(t("apiKeys.name"), name, t("apiKeys.scopeHint")),
    h("button", { type: "submit", class: "primary" }, t("apiKeys.create")));
  handle(form, () => api.post("/api-keys", { name: name.value.trim(), scopes: ["intake"] }), t("apiKeys.created"),
    (made) => showApiKeys(body, made));
  replace(body,
    created ? h("section", { class: "card", id: "api-key-secret", role: "alert" },
      h("h2", {}, t("apiKeys.secretTitle")), h("p", {}, t("apiKeys.secretHint")),
      h("code", { class: "secret" }, created.key)) : null,
    h("section", { class: "card" }, h("h2", {}, t("apiKeys.title")),
      table("api-keys-table", t("apiKeys.title"), ["apiKeys.name", "apiKeys.prefix", "apiKeys.created", "apiKeys.lastUsed",
        "admin.actions"], items.map((key) => h("tr", {},
        h("td", {}, key.name), h("td", {}, h("code", {}, key.prefix)), h("td", {}, dateTime(key.created_at)),
        h("td", {}, key.last_used_at ? dateTime(key.last_used_at) : "–"),
        h("td", {}, key.revoked_at ? t("apiKeys.revokedAt", { at: dateTime(key.revoked_at) })
          : h("button", { type: "button", class: "danger", onclick: async () => {
            if (!confirm(t("apiKeys.revokeConfirm", { name: key.name }))) return;
            try {
              await api.request("DELETE", `/api-keys/${key.id}`);
              notify(t("apiKeys.revoked"), "success");
              showApiKeys(body);
            } catch (failure) {
              notify(api.problemText(failure), "error");
            }
          } }, t("apiKeys.revoke"))))), t("apiKeys.none"))),
    form);
}
