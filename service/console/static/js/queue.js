// The adviser's queue: their own cases first, then the rest; filters and search; polled so a
// new contact shows up without a reload.

import * as api from "./api.js";
import { h, replace, field } from "./dom.js";
import { t, dateTime } from "./i18n.js";
import { notify } from "./session.js";
import { CASE_LANGUAGES, CHANNELS } from "./vocabulary.js";
import { waitingChats } from "./chats.js";

const POLL_MILLISECONDS = 5000;
const PAGE_SIZE = 25;
const MINE_LIMIT = 100;
const STATUS_CHOICES = {
  active: ["new", "open", "waiting"], new: ["new"], open: ["open"], waiting: ["waiting"],
  forwarded: ["forwarded"], closed: ["closed"],
};
const SORTS = { activity: "-last_activity_at", due: "due" };
const DEFAULT_FILTERS = { status: "active", channel: "", language: "", q: "", sort: "activity", breached: false, page: 1 };
// Kept across visits so that coming back from a case finds the queue as it was left.
const filters = { ...DEFAULT_FILTERS };

export function resetQueue() {
  Object.assign(filters, DEFAULT_FILTERS);
}

function select(name, choices, value, label) {
  const control = h("select", { name, id: `filter-${name}` },
    choices.map(([optionValue, text]) => h("option", { value: optionValue, selected: optionValue === value }, text)));
  return field(label, control);
}

function caseRow(item, fresh) {
  return h("tr", { class: fresh ? "fresh" : null, dataset: { caseId: item.id } },
    h("td", {}, h("a", { href: `#/cases/${item.id}` }, item.reference),
      fresh ? h("span", { class: "visually-hidden" }, ` (${t("queue.newActivity")})`) : null),
    h("td", {}, h("span", { class: `badge status-${item.status}` }, t(`status.${item.status}`))),
    h("td", {}, t(`channel.${item.channel}`)),
    h("td", {}, item.customer?.name || t("case.unknownCustomer")),
    h("td", {}, item.subject || "", item.snippet ? snippet(item.snippet) : null),
    h("td", {}, item.language ? t(`language.${item.language}`) : ""),
    h("td", {}, item.assignee?.name || t("queue.unassigned")),
    h("td", {}, h("time", { datetime: item.last_activity_at }, dateTime(item.last_activity_at))),
    h("td", {}, dueCell(item)));
}

// Where a search matched: the text around it, the matching words marked. Built from the
// ranges the service gives, as text nodes, so nothing in what a citizen wrote becomes markup.
function snippet({ source, text, highlights }) {
  const parts = [];
  let at = 0;
  for (const [start, end] of highlights) {
    if (start > at) parts.push(text.slice(at, start));
    parts.push(h("mark", {}, text.slice(start, end)));
    at = end;
  }
  parts.push(text.slice(at));
  return h("p", { class: "snippet" }, h("span", { class: "snippet-source" }, t(`queue.foundIn.${source}`)), " ", ...parts);
}

// The next service target and its state: breached and due soon are marked, paused says so.
function dueCell(item) {
  if (item.due_state === "paused") return h("span", { class: "badge due-paused" }, t("queue.due.paused"));
  if (!item.next_due_at) return "";
  const when = h("time", { datetime: item.next_due_at }, dateTime(item.next_due_at));
  if (item.due_state === "breached" || item.due_state === "due_soon") {
    return h("span", {}, h("span", { class: `badge due-${item.due_state}` }, t(`queue.due.${item.due_state}`)), " ", when);
  }
  return when;
}

function table(caption, items, known, id) {
  if (!items.length) {
    return h("section", { class: "card", id }, h("h2", { class: "caption" }, caption), h("p", { class: "empty" }, t("queue.empty")));
  }
  return h("section", { class: "card", id },
    h("table", { class: "cases" },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {},
        ["queue.reference", "queue.status", "queue.channel", "queue.customer", "queue.subject",
          "queue.language", "queue.assignee", "queue.lastActivity", "queue.dueNext"].map((key) => h("th", { scope: "col" }, t(key))))),
      h("tbody", {}, items.map((item) => caseRow(item, known && !known.has(signature(item)))))));
}

function signature(item) {
  return `${item.id}@${item.last_activity_at}`;
}

// A search goes to the search endpoint, which orders by how well each case matches.
function query(extra) {
  return {
    status: STATUS_CHOICES[filters.status], channel: filters.channel || undefined,
    language: filters.language || undefined, q: filters.q || undefined,
    sort: filters.q ? undefined : SORTS[filters.sort],
    breached: filters.breached ? "true" : undefined,
    page_size: PAGE_SIZE, ...extra,
  };
}

function casesPath() {
  return filters.q ? "/cases/search" : "/cases";
}

export function showQueue(main) {
  let stopped = false;
  let timer = null;
  let known = null;
  let shown = null;
  let latest = 0;
  const lists = h("div", { class: "lists" });
  const form = h("form", { class: "filters card", role: "search", id: "queue-filters" },
    select("status", Object.keys(STATUS_CHOICES).map((key) => [key, t(`queue.show.${key}`)]), filters.status, t("queue.statusFilter")),
    select("channel", [["", t("queue.allChannels")], ...CHANNELS.map((c) => [c, t(`channel.${c}`)])], filters.channel, t("queue.channel")),
    select("language", [["", t("queue.allLanguages")], ...CASE_LANGUAGES.map((l) => [l, t(`language.${l}`)])], filters.language, t("queue.language")),
    select("sort", Object.keys(SORTS).map((key) => [key, t(`queue.sort.${key}`)]), filters.sort, t("queue.sortBy")),
    field(t("queue.breachedOnly"), h("input", { type: "checkbox", name: "breached", id: "filter-breached", checked: filters.breached })),
    field(t("queue.search"), h("input", { type: "search", name: "q", id: "filter-q", value: filters.q, maxlength: 100 })),
    h("button", { type: "submit", class: "primary" }, t("queue.apply")));
  form.addEventListener("change", (event) => {
    if (event.target.name !== "q") apply();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });

  function apply() {
    const data = new FormData(form);
    Object.assign(filters, { status: data.get("status"), channel: data.get("channel"),
      language: data.get("language"), q: String(data.get("q") || "").trim(), sort: data.get("sort"),
      breached: data.get("breached") === "on", page: 1 });
    restart();
  }

  // Another filter or page: nothing on it is "new" yet, and it is drawn whatever it holds.
  function restart() {
    known = null;
    shown = null;
    refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    // A filter change can overtake a poll in flight; only the newest request may draw.
    const ticket = ++latest;
    try {
      const [mine, page] = await Promise.all([
        api.get(casesPath(), query({ assignee: "me", page: 1, page_size: MINE_LIMIT })),
        api.get(casesPath(), query({ assignee: "not_me", page: filters.page })),
      ]);
      if (stopped || ticket !== latest) return;
      const others = page.items;
      const everything = [...mine.items, ...others];
      const drawn = `${mine.total}/${page.total}/${everything.map(signature).join(",")}`;
      // Redrawing an unchanged list would take the keyboard focus away every few seconds.
      if (drawn !== shown) {
        const arrived = known ? everything.filter((item) => !known.has(signature(item))).length : 0;
        const focused = document.activeElement?.closest?.("tr[data-case-id]")?.dataset.caseId;
        replace(lists,
          filters.q ? h("p", { class: "hint", id: "search-order" }, t("queue.bestMatchFirst")) : null,
          table(t("queue.mine"), mine.items, known, "queue-mine"),
          mine.total > mine.items.length ? h("p", { class: "hint" }, t("queue.mineCapped", { shown: mine.items.length, total: mine.total })) : null,
          table(t("queue.others"), others, known, "queue-others"),
          pager(page));
        if (focused) lists.querySelector(`tr[data-case-id="${focused}"] a`)?.focus();
        if (arrived) notify(t("queue.arrived", { count: arrived }));
        known = new Set(everything.map(signature));
        shown = drawn;
      }
    } catch (failure) {
      if (!stopped && ticket === latest) notify(api.problemText(failure), "error");
    }
    if (!stopped && ticket === latest) timer = setTimeout(refresh, POLL_MILLISECONDS);
  }

  function pager(page) {
    // Past the service's count (total_exact false) at least one more item follows the total.
    const more = page.total_exact === false;
    const pages = Math.max(1, Math.ceil((page.total + (more ? 1 : 0)) / page.page_size));
    const go = (delta) => () => { filters.page += delta; restart(); };
    return h("nav", { class: "pager", "aria-label": t("queue.pages") },
      h("button", { type: "button", disabled: filters.page <= 1, onclick: go(-1) }, t("queue.previous")),
      h("span", {}, t(more ? "queue.pageOfAtLeast" : "queue.pageOf", { page: filters.page, pages, total: page.total })),
      h("button", { type: "button", disabled: !more && filters.page >= pages, onclick: go(1) }, t("queue.next")));
  }

  const chats = waitingChats();
  replace(main, h("h1", {}, t("queue.title")), chats.element, form, lists);
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    chats.stop();
  };
}
