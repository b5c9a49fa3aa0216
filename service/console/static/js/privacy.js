// The privacy officer's workspace: data-subject requests with their deadlines (overdue first),
// the access export and withholding items from it, finding a customer, rectifying, restricting
// processing, and placing and releasing legal holds on a person's cases.

import * as api from "./api.js";
import { h, replace, field, saveBlob } from "./dom.js";
import { t, date, dateTime } from "./i18n.js";
import { can, notify } from "./session.js";

const REQUEST_TYPES = ["access", "rectification", "restriction", "erasure", "objection", "portability"];
const NOTIFIED_VIA = ["letter", "email", "sms", "phone", "in_person", "online_service"];
const WITHHOLDABLE = ["case", "contact", "note", "attachment", "recording", "chat", "outbox_message", "disclosure"];
// Where the export document lists each kind of item, per case.
const CASE_PARTS = [["contacts", "contact"], ["notes", "note"], ["attachments", "attachment"],
  ["recordings", "recording"], ["chats", "chat"], ["messages", "outbox_message"]];

function overdue(request, now = Date.now()) {
  return request.status === "open" && new Date(request.due_at).getTime() < now;
}

function run(form, action, doneText, after) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    if (buttons.some((button) => button.disabled)) return;
    for (const button of buttons) button.disabled = true;
    try {
      const result = await action();
      notify(doneText, "success");
      await after(result);
    } catch (failure) {
      notify(api.problemText(failure), "error");
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  });
}

function fact(label, value) {
  return [h("dt", {}, label), h("dd", {}, value ?? "–")];
}

function subjectText(subject) {
  return [subject?.name, subject?.email, subject?.phone].filter(Boolean).join(", ") || "–";
}

// #/privacy
export function showPrivacy(main) {
  const requests = h("section", { class: "card", id: "privacy-requests" }, h("h2", {}, t("privacy.requests")),
    h("p", { class: "loading" }, t("app.loading")));
  const search = customerSearch();
  replace(main, h("h1", {}, t("privacy.title")), requests, registerForm(() => showPrivacy(main)), search);
  loadRequests(requests);
}

async function loadRequests(section) {
  try {
    const [open, done] = await Promise.all([
      api.get("/privacy/requests", { status: "open", page_size: 100 }),
      api.get("/privacy/requests", { status: "completed", page_size: 25 }),
    ]);
    // The API orders by deadline, so the overdue ones already come first among the open.
    const items = [...open.items, ...done.items];
    const late = open.items.filter((request) => overdue(request)).length;
    replace(section, h("h2", {}, t("privacy.requests")),
      h("p", { class: late ? "error" : "hint", id: "privacy-overdue" }, t("privacy.overdueCount", { count: late })),
      items.length ? h("table", { id: "requests-table" },
        h("caption", {}, t("privacy.requestsCaption")),
        h("thead", {}, h("tr", {}, ["privacy.type", "privacy.subject", "privacy.received", "privacy.due", "privacy.status"]
          .map((key) => h("th", { scope: "col" }, t(key))))),
        h("tbody", {}, items.map((request) => h("tr", { class: overdue(request) ? "overdue" : null,
          dataset: { requestId: request.id } },
        h("td", {}, h("a", { href: `#/privacy/requests/${request.id}` }, t(`privacy.requestType.${request.type}`))),
        h("td", {}, subjectText(request.subject)),
        h("td", {}, date(request.received_at)),
        h("td", {}, date(request.due_at), overdue(request)
          ? [" ", h("strong", { class: "badge overdue" }, t("privacy.overdue"))] : null),
        h("td", {}, t(`privacy.status.${request.status}`))))))
        : h("p", { class: "empty" }, t("privacy.noRequests")));
  } catch (failure) {
    notify(api.problemText(failure), "error");
  }
}

function registerForm(redraw) {
  const type = h("select", { id: "request-type" }, REQUEST_TYPES.map((v) => h("option", { value: v }, t(`privacy.requestType.${v}`))));
  const name = h("input", { id: "request-name", maxlength: 200 });
  const email = h("input", { id: "request-email", type: "email", maxlength: 254 });
  const phone = h("input", { id: "request-phone", type: "tel", maxlength: 40 });
  const received = h("input", { id: "request-received", type: "date", required: true,
    value: new Date().toISOString().slice(0, 10) });
  const details = h("textarea", { id: "request-details", rows: 2, maxlength: 10000 });
  const form = h("form", { class: "card", id: "request-form" },
    h("h2", {}, t("privacy.register")),
    h("div", { class: "form-grid" },
      field(t("privacy.type"), type), field(t("customer.name"), name), field(t("customer.email"), email),
      field(t("customer.phone"), phone), field(t("privacy.received"), received)),
    field(t("privacy.details"), details),
    h("button", { type: "submit", class: "primary" }, t("privacy.registerButton")));
  run(form, () => {
    const subject = {};
    if (name.value.trim()) subject.name = name.value.trim();
    if (email.value.trim()) subject.email = email.value.trim();
    if (phone.value.trim()) subject.phone = phone.value.trim();
    return api.post("/privacy/requests", { type: type.value, subject,
      received_at: new Date(`${received.value}T12:00:00`).toISOString(), details: details.value.trim() || null });
  }, t("privacy.registered"), redraw);
  return form;
}

function customerSearch() {
  const query = h("input", { id: "customer-q", type: "search", required: true, maxlength: 200 });
  const results = h("div", { id: "customer-results" });
  const form = h("form", { role: "search", id: "customer-search", class: "inline" },
    field(t("privacy.findCustomer"), query), h("button", { type: "submit" }, t("privacy.search")));
  run(form, () => api.get("/customers", { q: query.value.trim(), page_size: 25 }), t("privacy.searched"), (page) => {
    replace(results, page.items.length
      ? h("ul", { class: "customers" }, page.items.map((customer) => h("li", {},
        h("a", { href: `#/privacy/customers/${customer.id}` }, customer.name || t("case.unknownCustomer")),
        " · ", [customer.email, customer.phone].filter(Boolean).join(", "),
        customer.restricted ? [" ", h("strong", {}, t("customer.restrictedYes"))] : null)))
      : h("p", { class: "empty" }, t("privacy.noCustomers")));
  });
  return h("section", { class: "card", id: "customer-finder" }, h("h2", {}, t("privacy.customers")), form, results);
}

// #/privacy/requests/<id>
export function showRequest(main, requestId) {
  let exported = null;

  async function draw() {
    let request;
    try {
      request = await api.get(`/privacy/requests/${requestId}`);
    } catch (failure) {
      replace(main, h("h1", {}, t("privacy.request")), h("p", { class: "error", role: "alert" }, api.problemText(failure)),
        h("p", {}, h("a", { href: "#/privacy" }, t("privacy.back"))));
      return;
    }
    const open = request.status === "open";
    replace(main,
      h("p", {}, h("a", { href: "#/privacy" }, t("privacy.back"))),
      h("section", { class: "card", id: "request-facts" },
        h("h1", {}, t("privacy.requestHeading", { type: t(`privacy.requestType.${request.type}`), id: request.id })),
        overdue(request) ? h("p", { class: "error", id: "request-overdue" }, t("privacy.overdueNote")) : null,
        h("dl", { class: "facts" },
          fact(t("privacy.subject"), subjectText(request.subject)),
          fact(t("privacy.received"), date(request.received_at)),
          fact(t("privacy.due"), h("strong", { id: "request-due" }, date(request.due_at))),
          fact(t("privacy.status"), t(`privacy.status.${request.status}`)),
          request.extended_at ? fact(t("privacy.extended"), `${date(request.extended_at)}: ${request.extension_reason}`) : null,
          request.completed_at ? fact(t("privacy.completedAt"), dateTime(request.completed_at)) : null,
          request.details ? fact(t("privacy.details"), request.details) : null)),
      request.type === "access" && !request.personal_data_deleted_at ? exportSection(request) : null,
      withheldSection(request),
      open && !request.extended_at && !overdue(request) ? extendForm(request) : null,
      open ? completeForm(request) : null);
  }

  function exportSection(request) {
    const items = h("div", { id: "export-items" });
    const download = h("button", { type: "button", class: "primary", id: "export-download", onclick: async () => {
      download.disabled = true;
      try {
        const file = await api.blob(`/privacy/requests/${request.id}/export`, { format: "json" }, "application/json");
        saveBlob(file, `access-request-${request.id}.json`);
        exported = JSON.parse(await file.text());
        showItems(items, request);
        notify(t("privacy.exported"), "success");
      } catch (failure) {
        notify(api.problemText(failure), "error");
      } finally {
        download.disabled = false;
      }
    } }, t("privacy.download"));
    const section = h("section", { class: "card", id: "request-export" }, h("h2", {}, t("privacy.export")),
      h("p", { class: "hint" }, t("privacy.exportHint")), download, items);
    if (exported) showItems(items, request);
    return section;
  }

  // What the export holds, item by item, each of which can be withheld with its legal reason.
  function showItems(slot, request) {
    const rows = [];
    for (const person of exported.people || []) {
      for (const theCase of person.cases || []) {
        rows.push(["case", theCase.id, theCase.reference || "", theCase.withheld]);
        for (const [part, kind] of CASE_PARTS) {
          for (const item of theCase[part] || []) {
            const label = item.withheld ? "" : (item.subject || item.body || item.filename || item.channel || "");
            rows.push([kind, item.id, `${theCase.reference || ""} · ${String(label).slice(0, 80)}`, item.withheld]);
          }
        }
      }
      for (const item of person.disclosures || []) rows.push(["disclosure", item.id, item.recipient || "", item.withheld]);
    }
    // Withheld since the download: the request knows, the downloaded document does not.
    const withheldNow = new Set((request.withheld || []).map((item) => `${item.type}-${item.id}`));
    for (const row of rows) row[3] = row[3] || withheldNow.has(`${row[0]}-${row[1]}`);
    replace(slot, rows.length ? h("table", { id: "export-table" },
      h("caption", {}, t("privacy.itemsCaption")),
      h("thead", {}, h("tr", {}, ["privacy.itemType", "privacy.itemId", "privacy.itemWhat", "admin.actions"]
        .map((key) => h("th", { scope: "col" }, t(key))))),
      h("tbody", {}, rows.map(([kind, id, what, withheld]) => h("tr", { dataset: { item: `${kind}-${id}` } },
        h("td", {}, t(`privacy.item.${kind}`)), h("td", {}, id), h("td", {}, what),
        h("td", {}, withheld ? t("privacy.isWithheld") : request.status === "open"
          ? h("button", { type: "button", class: "withhold", onclick: () => {
            document.getElementById("withhold-type").value = kind;
            document.getElementById("withhold-id").value = id;
            document.getElementById("withhold-reason").focus();
          } }, t("privacy.withholdThis")) : null)))))
      : h("p", { class: "empty" }, t("privacy.nothingHeld")));
  }

  function withheldSection(request) {
    const list = request.withheld || [];
    const section = h("section", { class: "card", id: "request-withheld" }, h("h2", {}, t("privacy.withheld")),
      list.length ? h("ul", {}, list.map((item) => h("li", {},
        `${t(`privacy.item.${item.type}`)} ${item.id}: ${item.reason}`))) : h("p", { class: "empty" }, t("privacy.noneWithheld")));
    if (request.status !== "open") return section;
    const type = h("select", { id: "withhold-type" }, WITHHOLDABLE.map((v) => h("option", { value: v }, t(`privacy.item.${v}`))));
    const id = h("input", { id: "withhold-id", type: "number", min: 1, required: true });
    const reason = h("textarea", { id: "withhold-reason", rows: 2, required: true, maxlength: 2000 });
    const form = h("form", { id: "withhold-form" },
      h("div", { class: "form-grid" }, field(t("privacy.itemType"), type), field(t("privacy.itemId"), id)),
      field(t("privacy.legalReason"), reason, t("privacy.legalReasonHint")),
      h("button", { type: "submit" }, t("privacy.withholdButton")));
    run(form, () => api.post(`/privacy/requests/${request.id}/withhold`, {
      item_type: type.value, item_id: Number(id.value), reason: reason.value.trim() }), t("privacy.withheldDone"), draw);
    section.append(form);
    return section;
  }

  function extendForm(request) {
    const months = h("select", { id: "extend-months" }, [1, 2].map((m) => h("option", { value: m }, String(m))));
    const reason = h("textarea", { id: "extend-reason", rows: 2, required: true, maxlength: 2000 });
    const via = h("select", { id: "extend-via" }, NOTIFIED_VIA.map((v) => h("option", { value: v }, t(`privacy.via.${v}`))));
    const form = h("form", { class: "card", id: "extend-form" }, h("h2", {}, t("privacy.extend")),
      h("div", { class: "form-grid" }, field(t("privacy.months"), months), field(t("privacy.notifiedVia"), via)),
      field(t("privacy.extendReason"), reason),
      h("button", { type: "submit" }, t("privacy.extendButton")));
    run(form, () => api.post(`/privacy/requests/${request.id}/extend`, { months: Number(months.value),
      reason: reason.value.trim(), notified_at: new Date().toISOString(), notified_via: via.value }),
    t("privacy.extendedDone"), draw);
    return form;
  }

  function completeForm(request) {
    const reason = h("textarea", { id: "complete-reason", rows: 2, maxlength: 10000 });
    const form = h("form", { class: "card", id: "complete-form" }, h("h2", {}, t("privacy.complete")),
      field(t("privacy.answerReason"), reason, t("privacy.answerReasonHint")),
      h("button", { type: "submit", class: "primary" }, t("privacy.completeButton")));
    run(form, () => api.post(`/privacy/requests/${request.id}/complete`, { answer_reason: reason.value.trim() || null }),
      t("privacy.completedDone"), draw);
    return form;
  }

  replace(main, h("p", { class: "loading" }, t("app.loading")));
  draw();
}

// #/privacy/customers/<id>
export function showPrivacyCustomer(main, customerId) {
  async function draw() {
    let customer;
    try {
      customer = await api.get(`/customers/${customerId}`);
    } catch (failure) {
      replace(main, h("p", { class: "error", role: "alert" }, api.problemText(failure)),
        h("p", {}, h("a", { href: "#/privacy" }, t("privacy.back"))));
      return;
    }
    replace(main,
      h("p", {}, h("a", { href: "#/privacy" }, t("privacy.back"))),
      h("h1", {}, customer.name || t("case.unknownCustomer")),
      rectifyForm(customer),
      restriction(customer),
      samePerson(customer, draw),
      cases(customer));
  }

  function rectifyForm(customer) {
    const controls = ["name", "email", "phone", "address"].map((name) =>
      [name, h(name === "address" ? "textarea" : "input", { id: `rectify-${name}`, value: customer[name] || "",
        maxlength: name === "address" ? 1000 : 254, rows: name === "address" ? 2 : null }, name === "address" ? customer.address || "" : null)]);
    const form = h("form", { class: "card", id: "rectify-form" }, h("h2", {}, t("privacy.rectify")),
      h("p", { class: "hint" }, t("privacy.rectifyHint")),
      h("div", { class: "form-grid" }, controls.map(([name, control]) => field(t(`customer.${name}`), control))),
      h("button", { type: "submit", class: "primary" }, t("privacy.rectifyButton")));
    run(form, () => {
      const changes = {};
      for (const [name, control] of controls) {
        const value = control.value.trim() || null;
        if (value !== (customer[name] || null)) changes[name] = value;
      }
      return api.patch(`/customers/${customer.id}`, changes);
    }, t("privacy.rectified"), draw);
    return form;
  }

  function restriction(customer) {
    const section = h("section", { class: "card", id: "restriction" }, h("h2", {}, t("privacy.restriction")));
    if (customer.restricted) {
      section.append(h("p", {}, t("privacy.restrictedSince", { at: dateTime(customer.restricted_at),
        reason: customer.restriction_reason || "–" })),
      h("button", { type: "button", id: "lift-restriction", onclick: async () => {
        try {
          await api.request("DELETE", `/customers/${customer.id}/restriction`);
          notify(t("privacy.lifted"), "success");
          draw();
        } catch (failure) {
          notify(api.problemText(failure), "error");
        }
      } }, t("privacy.lift")));
      return section;
    }
    const reason = h("textarea", { id: "restrict-reason", rows: 2, required: true, maxlength: 2000 });
    const form = h("form", { id: "restrict-form" }, field(t("privacy.restrictReason"), reason),
      h("button", { type: "submit", class: "danger" }, t("privacy.restrict")));
    run(form, () => api.post(`/customers/${customer.id}/restriction`, { reason: reason.value.trim() }),
      t("privacy.restricted"), draw);
    section.append(h("p", { class: "hint" }, t("privacy.restrictHint")), form);
    return section;
  }

  // Each case with its legal hold, if any; those who may (retention.manage) place and release holds.
  function cases(customer) {
    const mayHold = can("retention.manage");
    return h("section", { class: "card", id: "customer-cases" }, h("h2", {}, t("privacy.cases")),
      customer.cases.length ? h("ul", { class: "hold-list" }, customer.cases.map((theCase) =>
        h("li", { dataset: { caseId: theCase.id } },
          h("strong", {}, theCase.reference), " · ", t(`status.${theCase.status}`), " · ", date(theCase.created_at),
          theCase.legal_hold_at ? held(theCase, mayHold) : mayHold ? holdForm(theCase) : null)))
        : h("p", { class: "empty" }, t("privacy.noCases")));
  }

  function holdForm(theCase) {
    const reason = h("input", { id: `hold-reason-${theCase.id}`, maxlength: 2000, required: true });
    const form = h("form", { class: "inline hold-form", dataset: { caseId: theCase.id } },
      field(t("privacy.holdReason"), reason), h("button", { type: "submit" }, t("privacy.hold")));
    run(form, () => api.post(`/cases/${theCase.id}/hold`, { reason: reason.value.trim() }),
      t("privacy.held", { reference: theCase.reference }), draw);
    return form;
  }

  function held(theCase, mayRelease) {
    const release = h("button", { type: "button", class: "release-hold", onclick: async () => {
      if (!confirm(t("privacy.releaseConfirm", { reference: theCase.reference }))) return;
      release.disabled = true;
      try {
        await api.request("DELETE", `/cases/${theCase.id}/hold`);
        notify(t("privacy.released", { reference: theCase.reference }), "success");
        await draw();
      } catch (failure) {
        notify(api.problemText(failure), "error");
        release.disabled = false;
      }
    } }, t("privacy.release"), h("span", { class: "visually-hidden" }, ` ${theCase.reference}`));
    return h("div", { class: "hold" },
      h("p", {}, h("strong", { class: "badge held" }, t("privacy.onHold")), " ",
        theCase.legal_hold_reason
          ? t("privacy.heldSinceBecause", { at: dateTime(theCase.legal_hold_at), reason: theCase.legal_hold_reason })
          : t("privacy.heldSince", { at: dateTime(theCase.legal_hold_at) })),
      mayRelease ? release : null);
  }

  replace(main, h("p", { class: "loading" }, t("app.loading")));
  draw();
}

// The person's other records, and the candidates the service found, each linked only when an
// official with customers.link confirms it (the service never links records by itself). Shown on
// the privacy officer's customer page and, for an official granted linking, on the case page.
export function samePerson(customer, redraw) {
  const section = h("section", { class: "card", id: "same-person" }, h("h2", {}, t("link.title")),
    h("p", { class: "hint" }, t("link.hint")));
  const describe = (other) => [other.name, other.phone, other.email].filter(Boolean).join(" · ") || `#${other.id}`;
  const act = async (doing, doneText) => {
    try {
      await doing();
      notify(doneText, "success");
      redraw();
    } catch (failure) {
      notify(api.problemText(failure), "error");
    }
  };
  if (customer.linked.length) {
    section.append(h("ul", { id: "linked-records" }, customer.linked.map((other) => h("li", {}, describe(other), " ",
      // A linked record is separated from the person; the person's main record is not linked to anyone.
      h("button", { type: "button", class: "link-undo", onclick: () => confirm(t("link.unlinkConfirm")) &&
        act(() => api.request("DELETE", `/customers/${customer.merged_into_id ? customer.id : other.id}/link`),
          t("link.unlinked")) },
      t("link.unlink"))))));
  }
  if (!can("customers.link")) return section;
  const list = h("ul", { id: "link-candidates" });
  section.append(h("h3", {}, t("link.candidates")), list);
  api.get(`/customers/${customer.id}/link-candidates`).then((found) => {
    if (!found.items.length) list.replaceWith(h("p", { class: "empty" }, t("link.none")));
    for (const { customer: other, reasons } of found.items) {
      list.append(h("li", {}, describe(other), " ",
        h("span", { class: "hint" }, reasons.map((reason) => t(`link.reason.${reason}`)).join(", ")), " ",
        h("button", { type: "button", class: "link-confirm", onclick: () => confirm(t("link.confirm")) &&
          act(() => api.post(`/customers/${other.id}/link`, { into_customer_id: customer.id }), t("link.linked")) },
        t("link.link"))));
    }
  }).catch((failure) => notify(api.problemText(failure), "error"));
  return section;
}

