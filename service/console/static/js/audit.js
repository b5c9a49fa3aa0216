// The audit log (#/audit), for those who may read it (administrators and the privacy officer):
// who read or changed what, when and in which request, filtered and a page at a time. Every
// page the API returns is itself recorded as an `audit.read` entry.

import * as api from "./api.js";
import { h, replace, field } from "./dom.js";
import { t, dateTime } from "./i18n.js";
import { can, notify } from "./session.js";

const PAGE_SIZE = 50;
const OFFICIAL_PAGES = 50;
const ROLES = ["adviser", "supervisor", "admin", "privacy_officer", "inspector"];
const DEFAULT_FILTERS = { action: "", actor: "", object_type: "", object_id: "", request_id: "", from: "", to: "", page: 1 };
// Kept across visits, so that coming back from a case finds the log as it was left.
const filters = { ...DEFAULT_FILTERS };
let vocabulary = null;

export function resetAudit() {
  Object.assign(filters, DEFAULT_FILTERS);
}

// A day in the official's own time zone, as the API's UTC instants: [from midnight, next midnight).
function dayStart(value, plusDays = 0) {
  if (!value) return undefined;
  const [year, month, day] = value.split("-").map(Number);
  return new Date(year, month - 1, day + plusDays).toISOString();
}

function query() {
  const [actorType, actorId] = filters.actor.split(":");
  return {
    action: filters.action || undefined, actor_type: actorType || undefined, actor_id: actorId || undefined,
    object_type: filters.object_type || undefined, object_id: filters.object_id || undefined,
    request_id: filters.request_id || undefined, at_from: dayStart(filters.from), at_to: dayStart(filters.to, 1),
    page: filters.page, page_size: PAGE_SIZE,
  };
}

function who(entry, names) {
  if (entry.actor_type === "system") return t("audit.system");
  if (entry.actor_type === "api_key") return t("audit.apiKey", { id: entry.actor_id });
  return names.get(entry.actor_id) || t("audit.official", { id: entry.actor_id });
}

function object(entry) {
  if (!entry.object_type) return "–";
  const label = entry.object_id === null ? entry.object_type : `${entry.object_type} ${entry.object_id}`;
  return entry.object_type === "case" && entry.object_id !== null && can("cases.read")
    ? h("a", { href: `#/cases/${entry.object_id}` }, label) : label;
}

function details(entry) {
  if (!entry.details) return "";
  return Object.entries(entry.details).map(([name, value]) =>
    `${name}: ${typeof value === "object" && value !== null ? JSON.stringify(value) : value}`).join("; ");
}

// Every official, a page of 100 at a time, up to a bound no authority's staff reaches.
async function everyOfficial() {
  const items = [];
  for (let page = 1; page <= OFFICIAL_PAGES; page += 1) {
    const found = await api.get("/officials", { page, page_size: 100 });
    items.push(...found.items);
    if (items.length >= found.total || !found.items.length) break;
  }
  return { items };
}

export function showAudit(main) {
  let stopped = false;
  let latest = 0;
  let names = new Map();
  let officials = [];
  const results = h("div", { id: "audit-results" }, h("p", { class: "loading" }, t("app.loading")));
  const form = h("form", { class: "card", role: "search", id: "audit-filters" });
  replace(main, h("h1", {}, t("audit.title")), h("p", { class: "hint" }, t("audit.intro")), form, results);

  function drawForm() {
    const actions = h("select", { id: "audit-action", name: "action" },
      h("option", { value: "" }, t("audit.anyAction")),
      (vocabulary || []).map((action) => h("option", { value: action, selected: action === filters.action }, action)));
    const actor = h("select", { id: "audit-actor", name: "actor" },
      h("option", { value: "" }, t("audit.anyone")),
      officials.map((official) => h("option", { value: `official:${official.id}`,
        selected: filters.actor === `official:${official.id}` }, `${official.name} (${official.username})`)),
      h("option", { value: "api_key", selected: filters.actor === "api_key" }, t("audit.apiKeys")),
      h("option", { value: "system", selected: filters.actor === "system" }, t("audit.system")));
    const input = (name, attributes) => h("input", { id: `audit-${name.replace("_", "-")}`, name,
      value: filters[name], ...attributes });
    replace(form,
      h("div", { class: "form-grid" },
        field(t("audit.action"), actions),
        field(t("audit.actor"), actor),
        field(t("audit.objectType"), input("object_type", { maxlength: 32 }), t("audit.objectTypeHint")),
        field(t("audit.objectId"), input("object_id", { type: "number", min: 1 })),
        field(t("audit.from"), input("from", { type: "date" })),
        field(t("audit.to"), input("to", { type: "date" })),
        field(t("audit.requestId"), input("request_id", { maxlength: 64 }))),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, t("audit.apply")),
        h("button", { type: "button", id: "audit-clear", onclick: () => {
          resetAudit();
          drawForm();
          load();
        } }, t("audit.clear"))));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    for (const name of Object.keys(DEFAULT_FILTERS)) {
      if (name !== "page") filters[name] = String(data.get(name) || "").trim();
    }
    filters.page = 1;
    load();
  });

  async function load() {
    // A newer filter or page can overtake a request in flight; only the newest may draw.
    const ticket = ++latest;
    try {
      const page = await api.get("/audit", query());
      if (stopped || ticket !== latest) return;
      drawPage(page);
    } catch (failure) {
      if (stopped || ticket !== latest) return;
      replace(results, h("p", { class: "error", role: "alert" }, api.problemText(failure)));
      notify(api.problemText(failure), "error");
    }
  }

  function drawPage(page) {
    // Past the service's count (total_exact false) at least one more item follows the total.
    const more = page.total_exact === false;
    const pages = Math.max(1, Math.ceil((page.total + (more ? 1 : 0)) / page.page_size));
    // The pager is redrawn with the page; the keyboard stays on the button that was pressed,
    // or on the other one at either end.
    const go = (delta) => () => {
      filters.page += delta;
      load().then(() => {
        const [pressed, other] = delta > 0 ? ["#audit-next", "#audit-previous"] : ["#audit-previous", "#audit-next"];
        const target = results.querySelector(`${pressed}:not([disabled])`) || results.querySelector(other);
        target?.focus();
      });
    };
    replace(results, page.items.length ? h("section", { class: "card" },
      h("table", { id: "audit-table" },
        h("caption", {}, t("audit.caption")),
        h("thead", {}, h("tr", {}, ["audit.at", "audit.who", "audit.role", "audit.action", "audit.object",
          "audit.purpose", "audit.requestId", "audit.details"].map((key) => h("th", { scope: "col" }, t(key))))),
        h("tbody", {}, page.items.map((entry) => h("tr", { dataset: { entryId: entry.id } },
          h("td", {}, h("time", { datetime: entry.at }, dateTime(entry.at))),
          h("td", {}, who(entry, names)),
          h("td", {}, ROLES.includes(entry.actor_role) ? t(`role.${entry.actor_role}`) : entry.actor_role || "–"),
          h("td", {}, h("code", {}, entry.action)),
          h("td", {}, object(entry)),
          h("td", {}, entry.purpose || ""),
          h("td", {}, entry.request_id ? h("code", {}, entry.request_id) : ""),
          h("td", { class: "details" }, details(entry)))))),
      h("nav", { class: "pager", "aria-label": t("audit.pages") },
        h("button", { type: "button", id: "audit-previous", disabled: filters.page <= 1, onclick: go(-1) }, t("queue.previous")),
        h("span", { id: "audit-page" }, t(more ? "audit.pageOfAtLeast" : "audit.pageOf", { page: filters.page, pages, total: page.total })),
        h("button", { type: "button", id: "audit-next", disabled: !more && filters.page >= pages, onclick: go(1) }, t("queue.next"))))
      : h("p", { class: "empty", id: "audit-empty" }, t("audit.none")));
  }

  async function start() {
    try {
      const [actions, people] = await Promise.all([
        vocabulary ? Promise.resolve({ items: vocabulary }) : api.get("/audit/actions"),
        // Names for the actors; the log itself keeps ids only.
        can("officials.read") ? everyOfficial() : Promise.resolve({ items: [] }),
      ]);
      vocabulary = actions.items;
      officials = people.items;
      names = new Map(officials.map((official) => [official.id, official.name]));
    } catch (failure) {
      notify(api.problemText(failure), "error");
    }
    if (stopped) return;
    drawForm();
    await load();
  }

  start();
  return () => { stopped = true; };
}
