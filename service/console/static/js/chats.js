// Live chat: waiting chats announced in the queue, joining with one click, and the chats an
// adviser has joined side by side, each with its messages arriving without a reload.

import * as api from "./api.js";
import { h, replace, field } from "./dom.js";
import { t, dateTime, seconds } from "./i18n.js";
import { me, notify } from "./session.js";
import { templatePicker } from "./templates.js";

const LIST_POLL_MILLISECONDS = 5000;
const TICK_MILLISECONDS = 1000;
const WAIT_SECONDS = 20;
// A long poll that comes back at once with nothing found no seat to wait in (the API's
// Retry-After): poll again after a pause rather than at once.
const EMPTY_POLL_PAUSE_MILLISECONDS = 3000;

function activeChats() {
  return api.get("/chats", { active: true, page_size: 100 });
}

function waitedSeconds(chat, now = Date.now()) {
  return Math.max(0, Math.round((now - new Date(chat.started_at).getTime()) / 1000));
}

async function join(chat) {
  try {
    await api.post(`/chats/${chat.id}/join`);
    location.hash = "#/chats";
    return true;
  } catch (failure) {
    notify(failure.status === 409 && failure.problem?.type?.endsWith("/chat-taken")
      ? t("chats.taken") : api.problemText(failure), "error");
    return false;
  }
}

// The queue's section of chats nobody has joined yet, with how long each has waited.
export function waitingChats() {
  let stopped = false;
  let timer = null;
  let ticker = null;
  let known = null;
  let shown = [];
  const section = h("section", { class: "card", id: "waiting-chats", "aria-labelledby": "waiting-chats-title" });
  // Its own live region: the queue's announcements in the status line would overwrite it.
  const news = h("p", { class: "hint", id: "waiting-chats-news", role: "status", "aria-live": "polite" });

  function draw(waiting) {
    const focused = document.activeElement?.closest?.("[data-chat-id]")?.dataset.chatId;
    replace(section, h("h2", { id: "waiting-chats-title" }, t("chats.waiting")), news,
      waiting.length
        ? h("table", { class: "cases" },
          h("caption", { class: "visually-hidden" }, t("chats.waiting")),
          h("thead", {}, h("tr", {}, ["chats.case", "chats.language", "chats.started", "chats.waited", "chats.action"]
            .map((key) => h("th", { scope: "col" }, t(key))))),
          h("tbody", {}, waiting.map((chat) => h("tr", { dataset: { chatId: chat.id } },
            h("td", {}, h("a", { href: `#/cases/${chat.case_id}` }, chat.case_reference)),
            h("td", {}, chat.language ? t(`language.${chat.language}`) : "–"),
            h("td", {}, dateTime(chat.started_at)),
            h("td", { class: "waited", dataset: { startedAt: chat.started_at } }, seconds(waitedSeconds(chat))),
            h("td", {}, h("button", { type: "button", class: "primary join-chat",
              onclick: (event) => { event.target.disabled = true; join(chat).then((ok) => { if (!ok) refresh(); }); } },
            t("chats.join")))))))
        : h("p", { class: "empty" }, t("chats.noneWaiting")));
    if (focused) section.querySelector(`[data-chat-id="${focused}"] button`)?.focus();
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const page = await activeChats();
      if (stopped) return;
      const waiting = page.items.filter((chat) => !chat.joined_by);
      const ids = waiting.map((chat) => chat.id).join(",");
      if (ids !== shown) {
        const arrived = known ? waiting.filter((chat) => !known.has(chat.id)).length : 0;
        draw(waiting);
        replace(news, arrived ? t("chats.arrived", { count: arrived }) : "");
        known = new Set(waiting.map((chat) => chat.id));
        shown = ids;
      }
    } catch (failure) {
      if (!stopped) notify(api.problemText(failure), "error");
    }
    if (!stopped) timer = setTimeout(refresh, LIST_POLL_MILLISECONDS);
  }

  // The waiting times count up between polls without redrawing (which would move the focus).
  ticker = setInterval(() => {
    for (const cell of section.querySelectorAll("td.waited")) {
      cell.textContent = seconds(waitedSeconds({ started_at: cell.dataset.startedAt }));
    }
  }, TICK_MILLISECONDS);

  replace(section, h("h2", { id: "waiting-chats-title" }, t("chats.waiting")), h("p", { class: "loading" }, t("app.loading")));
  refresh();
  return {
    element: section,
    stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(ticker);
    },
  };
}

// #/chats: every running chat this adviser has joined, each in its own pane.
export function showChats(main) {
  let stopped = false;
  let timer = null;
  const panes = new Map();
  const area = h("div", { class: "chat-panes", id: "chat-panes" });

  async function refresh() {
    clearTimeout(timer);
    try {
      const page = await activeChats();
      if (stopped) return;
      const mine = page.items.filter((chat) => chat.joined_by?.id === me().id);
      for (const chat of mine) {
        if (!panes.has(chat.id)) {
          const pane = chatPane(chat, () => { panes.delete(chat.id); });
          panes.set(chat.id, pane);
          area.append(pane.element);
        }
      }
      area.querySelector(".empty")?.remove();
      if (!panes.size && !area.querySelector(".empty")) area.append(h("p", { class: "empty" }, t("chats.noneOpen")));
    } catch (failure) {
      if (!stopped) notify(api.problemText(failure), "error");
    }
    if (!stopped) timer = setTimeout(refresh, LIST_POLL_MILLISECONDS);
  }

  replace(main, h("h1", {}, t("chats.title")), area);
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const pane of panes.values()) pane.stop();
  };
}

function chatPane(chat, onGone) {
  let stopped = false;
  let after = 0;
  const seen = new Set();
  const prefix = `chat-${chat.id}`;
  // role="log" on a box around the list: on the list itself it would take away its list semantics.
  const log = h("ol", { class: "chat-list" });
  const region = h("div", { class: "chat-log", id: `${prefix}-log`, role: "log", "aria-live": "polite",
    "aria-label": t("chats.messages"), tabindex: 0 }, log);
  const box = h("textarea", { id: `${prefix}-body`, rows: 3, maxlength: 5000, required: true });
  const send = h("button", { type: "submit", class: "primary", id: `${prefix}-send` }, t("chats.send"));
  const end = h("button", { type: "button", class: "danger", id: `${prefix}-end` }, t("chats.end"));
  const state = h("p", { class: "hint chat-state", id: `${prefix}-state` });
  const form = h("form", { class: "chat-form", id: `${prefix}-form` },
    templatePicker(chat.case_id, box, prefix, (failure) => notify(api.problemText(failure), "error")),
    field(t("chats.message"), box),
    h("div", { class: "actions" }, send, end));
  const element = h("section", { class: "card chat-pane", id: prefix, dataset: { chatId: chat.id },
    "aria-labelledby": `${prefix}-title` },
  h("h2", { id: `${prefix}-title` }, t("chats.paneTitle", { reference: chat.case_reference })),
  h("p", { class: "hint" }, t("chats.startedAt", { at: dateTime(chat.started_at) }), " · ",
    h("a", { href: `#/cases/${chat.case_id}` }, t("chats.openCase"))),
  region, state, form);

  function show(message) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    after = Math.max(after, message.id);
    const customer = message.author === "customer";
    log.append(h("li", { class: `chat-message ${customer ? "from-customer" : "from-official"}`, dataset: { author: message.author } },
      h("span", { class: "who" }, customer ? t("chats.customer") : message.official_name || t("chats.official")),
      h("time", { datetime: message.created_at }, dateTime(message.created_at)),
      h("div", { class: "body" }, message.body)));
    region.scrollTop = region.scrollHeight;
  }

  function ended() {
    stopped = true;
    form.remove();
    replace(state, t("chats.ended"), " ", h("a", { href: `#/cases/${chat.case_id}` }, t("chats.transcript")));
    onGone();
  }

  async function poll() {
    while (!stopped) {
      try {
        const asked = Date.now();
        const result = await api.get(`/chats/${chat.id}/messages`, { after, wait: WAIT_SECONDS });
        if (stopped) return;
        for (const message of result.items) show(message);
        if (result.ended) { ended(); return; }
        if (!result.items.length && Date.now() - asked < 1000) {
          await new Promise((resolve) => setTimeout(resolve, EMPTY_POLL_PAUSE_MILLISECONDS));
        }
      } catch (failure) {
        if (stopped) return;
        notify(api.problemText(failure), "error");
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = box.value.trim();
    if (!text || send.disabled) return;
    send.disabled = true;
    try {
      show(await api.post(`/chats/${chat.id}/messages`, { body: text }));
      box.value = "";
      box.focus();
    } catch (failure) {
      if (failure.status === 409) ended();
      else notify(api.problemText(failure), "error");
    } finally {
      send.disabled = false;
    }
  });
  end.addEventListener("click", async () => {
    if (end.disabled || !confirm(t("chats.endConfirm"))) return;
    end.disabled = true;
    try {
      await api.post(`/chats/${chat.id}/end`);
      ended();
      notify(t("chats.endedNotice"), "success");
    } catch (failure) {
      end.disabled = false;
      notify(api.problemText(failure), "error");
    }
  });

  poll();
  return { element, stop() { stopped = true; } };
}
