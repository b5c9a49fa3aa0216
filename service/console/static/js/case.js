// One case: customer, timeline, notes, question and answer, and what an official does with it.

import * as api from "./api.js";
import { h, replace, field, saveBlob } from "./dom.js";
import { t, dateTime, date, seconds } from "./i18n.js";
import { can, me, notify } from "./session.js";
import { CASE_WORKERS, DISCLOSABLE, REPLY_CHANNELS } from "./vocabulary.js";
import { templatePicker } from "./templates.js";
import { samePerson } from "./privacy.js";

export function showCase(main, caseId) {
  let stopped = false;
  let latest = 0;
  const audioUrls = [];
  const say = (message, kind) => { if (!stopped) notify(message, kind); };
  const fail = (failure) => say(api.problemText(failure), "error");

  async function load() {
    const ticket = ++latest;
    try {
      const theCase = await api.get(`/cases/${caseId}`);
      if (stopped || ticket !== latest) return false;
      render(theCase);
      return true;
    } catch (failure) {
      if (stopped || ticket !== latest) return false;
      replace(main, h("h1", {}, t("case.title")),
        h("p", { class: "error", role: "alert" },
          failure.status === 404 ? t("case.notFound") : api.problemText(failure)),
        h("p", {}, h("a", { href: "#/queue" }, t("case.back"))));
      return false;
    }
  }

  // Runs an action once (its buttons are disabled meanwhile), reports the outcome and shows
  // the case as it now is. What was typed in the other forms survives the redraw; focus goes
  // to `focusId`, or back to where it was.
  async function act(action, doneText, { form = null, focusId = null } = {}) {
    const buttons = [...(form || main).querySelectorAll("button")];
    if (form && buttons.some((button) => button.disabled)) return false;
    const focusAfter = focusId || document.activeElement?.id;
    for (const button of buttons) button.disabled = true;
    try {
      await action();
    } catch (failure) {
      for (const button of buttons) button.disabled = false;
      fail(failure);
      return false;
    }
    const drafts = keepDrafts(main, form);
    if (await load()) {
      drafts.restore(main);
      if (focusAfter) document.getElementById(focusAfter)?.focus();
      say(doneText, "success");
    }
    return true;
  }

  function render(theCase) {
    replace(main,
      h("p", {}, h("a", { href: "#/queue" }, t("case.back"))),
      header(theCase),
      h("div", { class: "case-grid" },
        h("div", { class: "column" },
          timeline(theCase),
          replyForm(theCase),
          notes(theCase)),
        h("div", { class: "column" },
          customer(theCase),
          questionAndAnswer(theCase),
          recordings(theCase),
          feedback(theCase),
          forwardForm(theCase),
          disclosures(theCase),
          mergeForm(theCase),
          splitForm(theCase))));
  }

  // Two matters threaded together: the chosen contacts (and their files, chats and messages)
  // move to a new case, after a preview of what moves.
  function splitForm(theCase) {
    if (!can("cases.merge") || theCase.contacts.length < 2) return null;
    const boxes = theCase.contacts.map((contact) => h("input", { type: "checkbox", name: "split", value: contact.id,
      id: `split-${contact.id}` }));
    const preview = h("div", { id: "split-preview", "aria-live": "polite" });
    const chosen = () => boxes.filter((box) => box.checked).map((box) => Number(box.value));
    const form = h("form", { class: "card", id: "split-form" },
      h("h2", {}, t("split.title")),
      h("fieldset", {}, h("legend", {}, t("split.choose")),
        theCase.contacts.map((contact, index) => h("label", { class: "check" }, boxes[index],
          `${t(`channel.${contact.channel}`)} · ${dateTime(contact.occurred_at)} · ${(contact.body || "").slice(0, 60)}`))),
      h("button", { type: "submit", id: "split-show" }, t("merge.preview")),
      preview);
    for (const box of boxes) box.addEventListener("change", () => preview.replaceChildren());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const what = await api.post(`/cases/${caseId}/split`, { contact_ids: chosen(), dry_run: true });
        preview.replaceChildren(
          h("p", { id: "split-summary" }, t("split.summary", { contacts: what.moves.contact,
            files: what.moves.attachment, messages: what.moves.outbox_message })),
          h("button", { type: "button", id: "split-confirm", onclick: confirmSplit }, t("split.confirm")));
      } catch (failure) {
        fail(failure);
      }
    });
    async function confirmSplit() {
      try {
        const done = await api.post(`/cases/${caseId}/split`, { contact_ids: chosen() });
        const text = t("split.done", { reference: done.target.reference });
        addEventListener("hashchange", () => notify(text, "success"), { once: true });
        location.hash = `#/cases/${done.target.id}`;
      } catch (failure) {
        fail(failure);
      }
    }
    return form;
  }

  // Merging is shown first as a preview (the API's dry run) of what would move, and done only
  // when the official confirms it; the console then opens the case that stays.
  function mergeForm(theCase) {
    if (!can("cases.merge")) return null;
    const reference = h("input", { name: "reference", id: "merge-reference", required: true, maxlength: 32,
      placeholder: "2026-000123" });
    const preview = h("div", { id: "merge-preview", "aria-live": "polite" });
    let target = null;
    const form = h("form", { class: "card", id: "merge-form" },
      h("h2", {}, t("merge.title")),
      field(t("merge.reference"), reference, t("merge.hint")),
      h("button", { type: "submit", id: "merge-show" }, t("merge.preview")),
      preview);
    reference.addEventListener("input", () => { target = null; preview.replaceChildren(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const wanted = reference.value.trim().replace(/^#/, "");
      try {
        const page = await api.get("/cases", { q: wanted, page_size: 5 });
        target = page.items.find((item) => item.id !== theCase.id) || null;
        if (!target) {
          preview.replaceChildren(h("p", { class: "error" }, t("merge.notFound")));
          return;
        }
        const what = await api.post(`/cases/${caseId}/merge`, { into_case_id: target.id, dry_run: true });
        const moves = what.moves;
        preview.replaceChildren(
          h("p", { id: "merge-summary" }, t("merge.summary", {
            contacts: moves.contact, notes: moves.note, files: moves.attachment,
            disclosures: moves.disclosure, reference: what.target.reference })),
          what.customers_differ ? h("p", { class: "warning" }, t("merge.customersDiffer")) : null,
          what.lines_differ ? h("p", { class: "warning" }, t("merge.linesDiffer")) : null,
          what.legal_hold ? h("p", { class: "hint" }, t("merge.hold"))
            : h("p", { class: "hint" }, t("merge.keepUntil", { date: date(what.keep_until) })),
          h("button", { type: "button", id: "merge-confirm", onclick: confirmMerge }, t("merge.confirm")));
      } catch (failure) {
        fail(failure);
      }
    });
    async function confirmMerge() {
      if (!target) return;
      try {
        const done = await api.post(`/cases/${caseId}/merge`, { into_case_id: target.id });
        // Opening the survivor clears the status line: the notice is given once it has.
        const text = t("merge.done", { reference: done.target.reference });
        addEventListener("hashchange", () => notify(text, "success"), { once: true });
        location.hash = `#/cases/${done.target.id}`;
      } catch (failure) {
        fail(failure);
      }
    }
    return form;
  }

  function header(theCase) {
    const closed = theCase.status === "closed";
    const mine = theCase.assignee?.id === me().id;
    const actions = h("div", { class: "actions" });
    // Advisers may take an unassigned case; moving someone else's is for supervisors.
    if (!mine && !closed && (!theCase.assignee || can("cases.reassign"))) {
      actions.append(h("button", { type: "button", id: "assign-me",
        onclick: () => act(() => api.patch(`/cases/${caseId}`, { assignee_id: me().id }), t("case.assigned"),
          { focusId: "close-case" }) },
      t("case.assignToMe")));
    }
    if (can("cases.reassign") && !closed) actions.append(assignControl(theCase));
    actions.append(closed
      ? h("button", { type: "button", id: "reopen-case",
        onclick: () => act(() => api.post(`/cases/${caseId}/reopen`), t("case.reopened"), { focusId: "close-case" }) },
      t("case.reopen"))
      : h("button", { type: "button", id: "close-case", class: "danger",
        onclick: () => confirm(t("case.closeConfirm")) &&
          act(() => api.post(`/cases/${caseId}/close`), t("case.closed"), { focusId: "reopen-case" }) },
      t("case.close")));
    return h("section", { class: "card case-header" },
      h("h1", {}, t("case.heading", { reference: theCase.reference })),
      h("dl", { class: "facts" },
        fact(t("queue.status"), h("span", { class: `badge status-${theCase.status}`, id: "case-status" }, t(`status.${theCase.status}`))),
        fact(t("queue.channel"), t(`channel.${theCase.channel}`)),
        fact(t("case.serviceLine"), theCase.service_line?.name),
        fact(t("queue.language"), theCase.language ? t(`language.${theCase.language}`) : "–"),
        fact(t("queue.assignee"), theCase.assignee?.name || t("queue.unassigned")),
        fact(t("case.opened"), dateTime(theCase.created_at)),
        theCase.first_response_at ? fact(t("case.firstResponse"), dateTime(theCase.first_response_at)) : null,
        theCase.closed_at ? fact(t("case.closedAt"), dateTime(theCase.closed_at)) : null,
        theCase.retention_until
          ? fact(t("case.retentionUntil"), h("strong", { id: "retention-until" }, date(theCase.retention_until)))
          : null),
      theCase.retention_until
        ? h("p", { class: "hint", id: "retention-note" }, t("case.retentionNote", { date: date(theCase.retention_until) }))
        : null,
      actions);
  }

  function assignControl(theCase) {
    const chooser = h("select", { id: "assignee", "aria-label": t("case.assignTo") },
      h("option", { value: "" }, t("queue.unassigned")));
    api.get("/officials", { active: true, page_size: 100 }).then((page) => {
      // Only the roles that work cases can be given one: not the privacy officer, an inspector,
      // or a role this console does not know yet.
      for (const official of page.items.filter((o) => CASE_WORKERS.includes(o.role))) {
        chooser.append(h("option", { value: official.id, selected: official.id === theCase.assignee?.id }, official.name));
      }
    }).catch(fail);
    return h("span", { class: "inline" }, chooser,
      h("button", { type: "button", id: "assign", onclick: () => act(() => api.patch(`/cases/${caseId}`,
        { assignee_id: chooser.value ? Number(chooser.value) : null }), t("case.assigned")) }, t("case.assign")));
  }

  function customer(theCase) {
    const person = theCase.customer;
    return h("section", { class: "card", id: "customer" },
      h("h2", {}, t("case.customer")),
      person
        ? h("dl", { class: "facts" },
          fact(t("customer.name"), person.name || "–"),
          fact(t("customer.phone"), person.phone || "–"),
          fact(t("customer.email"), person.email || "–"),
          fact(t("customer.language"), person.language ? t(`language.${person.language}`) : "–"),
          person.restricted ? fact(t("customer.restricted"), h("strong", {}, t("customer.restrictedYes"))) : null)
        : h("p", { class: "empty" }, t("case.anonymous")),
      person && can("customers.link") ? samePersonOpener(person) : null);
  }

  // For an official granted linking: the person's records and the candidates, read (and
  // audited as a read of the customer) only when asked for.
  function samePersonOpener(person) {
    const slot = h("div", { id: "same-person-slot" });
    const open = async () => {
      try {
        const detail = await api.get(`/customers/${person.id}`);
        if (!stopped) replace(slot, samePerson(detail, () => { load(); }));
      } catch (failure) {
        fail(failure);
      }
    };
    slot.append(h("button", { type: "button", id: "same-person-open", onclick: open }, t("link.open")));
    return slot;
  }

  function timeline(theCase) {
    const contacts = [...theCase.contacts].sort((a, b) => a.occurred_at.localeCompare(b.occurred_at));
    return h("section", { class: "card", id: "timeline" },
      h("h2", {}, t("case.timeline")),
      contacts.length
        ? h("ol", { class: "timeline" }, contacts.map((contact) => contactItem(contact, theCase)))
        : h("p", { class: "empty" }, t("case.noContacts")));
  }

  function contactItem(contact, theCase) {
    const times = [];
    if (contact.received_at) times.push(fact(t("contact.received"), dateTime(contact.received_at)));
    if (contact.started_at) times.push(fact(t("contact.started"), dateTime(contact.started_at)));
    if (contact.answered_at) times.push(fact(t("contact.answered"), dateTime(contact.answered_at)));
    if (contact.ended_at) times.push(fact(t("contact.ended"), dateTime(contact.ended_at)));
    if (contact.queue_seconds !== null && contact.queue_seconds !== undefined) {
      times.push(fact(t("contact.queueTime"), seconds(contact.queue_seconds)));
    }
    if (!times.length) times.push(fact(t("contact.at"), dateTime(contact.occurred_at)));
    if (contact.handled_by) times.push(fact(t("contact.handledBy"), contact.handled_by.name));
    const party = contact.direction === "inbound"
      ? contact.sender_name || contact.sender : contact.recipient;
    const files = theCase.attachments.filter((a) => a.contact_id === contact.id);
    return h("li", { class: `contact ${contact.direction}`, dataset: { contactId: contact.id } },
      h("header", {},
        h("span", { class: "badge" }, t(`channel.${contact.channel}`)),
        " ", t(`direction.${contact.direction}`),
        party ? h("span", { class: "party" }, " · ", party) : null,
        h("time", { datetime: contact.occurred_at }, dateTime(contact.occurred_at))),
      h("dl", { class: "facts small" }, times),
      contact.subject ? h("p", { class: "subject" }, contact.subject) : null,
      contact.body ? h("div", { class: "body" }, contact.body) : null,
      files.length ? h("ul", { class: "files" }, files.map(attachmentItem)) : null);
  }

  // Each file shows its malware-scan state; only a file the API calls downloadable (clean, or
  // released by an administrator) gets a download button.
  function scanNote(attachment) {
    const status = attachment.scan_status;
    if (!status) return t("case.fileNotFetched");
    if (attachment.released_at) return t("scan.released");
    const detail = attachment.scan_detail || "";
    return t(`scan.${status}`, { signature: detail, reason: detail });
  }

  function attachmentItem(attachment) {
    const note = h("span", { class: `scan scan-${attachment.scan_status || "none"}` }, " ", scanNote(attachment));
    const item = { dataset: { scanStatus: attachment.scan_status || "" } };
    if (!attachment.downloadable) return h("li", item, attachment.filename, note);
    return h("li", item, h("button", { type: "button", class: "link", onclick: async () => {
      try {
        saveBlob(await api.blob(`/cases/${caseId}/attachments/${attachment.id}`), attachment.filename);
      } catch (failure) {
        fail(failure);
      }
    } }, attachment.filename), note);
  }

  function replyForm(theCase) {
    const person = theCase.customer;
    const usable = REPLY_CHANNELS.filter((channel) =>
      person && (channel === "sms" ? person.phone : person.email));
    if (theCase.status === "closed" || !usable.length) return null;
    if (person.restricted) return restrictedNotice("reply-form", t("reply.title"));
    // One key per draft: sending the same draft again (a retry after an error) sends it once.
    const idempotencyKey = randomKey();
    const preferred = usable.includes(theCase.channel) ? theCase.channel : usable[0];
    const channel = h("select", { name: "channel", id: "reply-channel" },
      usable.map((c) => h("option", { value: c, selected: c === preferred }, t(`channel.${c}`))));
    const subject = h("input", { name: "subject", id: "reply-subject", maxlength: 200 });
    const subjectField = field(t("reply.subject"), subject);
    const body = h("textarea", { name: "body", id: "reply-body", rows: 4, required: true });
    const showSubject = () => { subjectField.hidden = channel.value !== "email"; };
    channel.addEventListener("change", showSubject);
    showSubject();
    const form = h("form", { class: "card", id: "reply-form" },
      h("h2", {}, t("reply.title")),
      field(t("reply.channel"), channel),
      subjectField,
      templatePicker(caseId, body, "reply", fail),
      field(t("reply.body"), body),
      h("button", { type: "submit", class: "primary" }, t("reply.send")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const payload = { channel: channel.value, body: body.value };
      if (channel.value === "email" && subject.value.trim()) payload.subject = subject.value.trim();
      await act(() => api.post(`/cases/${caseId}/replies`, payload, { "Idempotency-Key": idempotencyKey }),
        t("reply.queued"), { form, focusId: "reply-body" });
    });
    return form;
  }

  function notes(theCase) {
    const body = h("textarea", { name: "body", id: "note-body", rows: 3, required: true });
    const form = h("form", { id: "note-form" },
      field(t("notes.new"), body),
      h("button", { type: "submit" }, t("notes.add")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      await act(() => api.post(`/cases/${caseId}/notes`, { body: body.value }), t("notes.added"),
        { form, focusId: "note-body" });
    });
    return h("section", { class: "card", id: "notes" },
      h("h2", {}, t("notes.title")),
      theCase.notes.length
        ? h("ul", { class: "notes" }, theCase.notes.map((note) => h("li", {},
          h("div", { class: "body" }, note.body),
          h("p", { class: "hint" }, `${note.author?.name || "–"} · ${dateTime(note.created_at)}`))))
        : h("p", { class: "empty" }, t("notes.none")),
      form);
  }

  function questionAndAnswer(theCase) {
    const question = h("textarea", { id: "case-question", rows: 3 }, theCase.question || "");
    const answer = h("textarea", { id: "case-answer", rows: 3 }, theCase.answer || "");
    const form = h("form", { class: "card", id: "qa-form" },
      h("h2", {}, t("qa.title")),
      field(t("qa.question"), question),
      field(t("qa.answer"), answer),
      h("button", { type: "submit" }, t("qa.save")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      await act(() => api.patch(`/cases/${caseId}`, {
        question: question.value.trim() || null, answer: answer.value.trim() || null }), t("qa.saved"),
      { form, focusId: "case-question" });
    });
    return form;
  }

  // Only recordings this official may hear are listed by the API; with none, the section is
  // left out entirely rather than shown empty.
  function recordings() {
    const section = h("section", { class: "card", id: "recordings", hidden: true });
    if (!can("recordings.read")) return section;
    api.get("/recordings", { case_id: caseId, page_size: 50 }).then((page) => {
      if (stopped) return;
      if (page.items.length) {
        replace(section, h("h2", {}, t("recordings.title")),
          h("ul", { class: "recordings" }, page.items.map(recordingItem)));
        section.hidden = false;
      }
      section.dataset.state = "loaded";
    }).catch(fail);
    return section;
  }

  function recordingItem(recording) {
    const label = `${dateTime(recording.recorded_at)} · ${seconds(recording.duration_seconds)}`;
    if (!recording.playable) return h("li", {}, label, " ", t("recordings.notFetched"));
    const slot = h("div", { class: "player" });
    const play = h("button", { type: "button", class: "play-recording", onclick: async () => {
      // Every play is audited by the API, so the audio is fetched only when asked for.
      try {
        const url = URL.createObjectURL(await api.blob(`/recordings/${recording.id}/audio`));
        audioUrls.push(url);
        const player = h("audio", { controls: true, src: url, autoplay: true });
        replace(slot, player);
        play.remove();
        player.focus();
      } catch (failure) {
        fail(failure);
      }
    } }, t("recordings.play"));
    return h("li", {}, label, " ", play, slot,
      recording.retention_until ? h("p", { class: "hint" }, t("recordings.retention", { date: date(recording.retention_until) })) : null);
  }

  function feedback(theCase) {
    if (!theCase.feedback.length) return null;
    return h("section", { class: "card", id: "feedback" },
      h("h2", {}, t("feedback.title")),
      h("ul", {}, theCase.feedback.map((request) => h("li", {},
        h("p", {}, t(`feedback.status.${request.status}`),
          request.sent_at ? ` · ${t("feedback.sent", { at: dateTime(request.sent_at) })}` : "",
          request.status === "scheduled" ? ` · ${t("feedback.scheduled", { at: dateTime(request.send_after) })}` : ""),
        request.score ? h("p", { class: "score" }, t("feedback.score", { score: request.score })) : null,
        request.answer_text ? h("div", { class: "body" }, request.answer_text) : null))));
  }

  function forwardForm(theCase) {
    if (theCase.status === "closed" || !theCase.customer) return null;
    if (theCase.customer.restricted) return restrictedNotice("forward-form", t("forward.title"));
    const authority = h("select", { name: "authority", id: "forward-authority", required: true },
      h("option", { value: "" }, t("forward.choose")));
    api.get("/authorities", { active: true, page_size: 100 }).then((page) => {
      for (const item of page.items) authority.append(h("option", { value: item.id }, item.name));
    }).catch(fail);
    // A detail the case does not hold cannot be disclosed; the API would refuse it.
    const held = (name) => Boolean(name === "summary" ? theCase.subject || theCase.question : theCase.customer[name]);
    const boxes = DISCLOSABLE.map((name) => h("input", { type: "checkbox", name: "disclose", value: name,
      id: `disclose-${name}`, disabled: !held(name) }));
    const basis = h("input", { name: "legal_basis", id: "forward-basis", required: true, maxlength: 500 });
    const message = h("textarea", { name: "message", id: "forward-message", rows: 2 });
    const form = h("form", { class: "card", id: "forward-form" },
      h("h2", {}, t("forward.title")),
      field(t("forward.authority"), authority),
      h("fieldset", {}, h("legend", {}, t("forward.fields")),
        boxes.map((box) => h("label", { class: "check" }, box, t(`forward.field.${box.value}`)))),
      field(t("forward.basis"), basis, t("forward.basisHint")),
      field(t("forward.message"), message),
      h("button", { type: "submit" }, t("forward.send")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = boxes.filter((box) => box.checked).map((box) => box.value);
      if (!chosen.length) {
        say(t("forward.noneChosen"), "error");
        return;
      }
      await act(() => api.post(`/cases/${caseId}/forward`, {
        authority_id: Number(authority.value), disclose: chosen, legal_basis: basis.value.trim(),
        message: message.value.trim() || null }), t("forward.done"), { form });
    });
    return form;
  }

  function disclosures() {
    const section = h("section", { class: "card", id: "disclosures" }, h("h2", {}, t("disclosures.title")));
    api.get(`/cases/${caseId}/disclosures`).then((list) => {
      if (stopped) return;
      section.append(list.items.length
        ? h("table", {},
          h("thead", {}, h("tr", {}, ["disclosures.when", "disclosures.recipient", "disclosures.fields",
            "disclosures.basis", "disclosures.by"].map((key) => h("th", { scope: "col" }, t(key))))),
          h("tbody", {}, list.items.map((item) => h("tr", {},
            h("td", {}, dateTime(item.disclosed_at)),
            h("td", {}, item.recipient),
            h("td", {}, item.fields.map((name) => t(`forward.field.${name}`)).join(", ")),
            h("td", {}, item.legal_basis),
            h("td", {}, item.disclosed_by?.name || "–")))))
        : h("p", { class: "empty" }, t("disclosures.none")));
    }).catch(fail);
    return section;
  }

  replace(main, h("p", { class: "loading" }, t("app.loading")));
  load();
  return () => {
    stopped = true;
    for (const url of audioUrls) URL.revokeObjectURL(url);
  };
}

// Where a form would send something to or about a customer whose processing is restricted.
function restrictedNotice(id, title) {
  return h("section", { class: "card", id }, h("h2", {}, title), h("p", {}, t("case.restricted")));
}

function fact(label, value) {
  return [h("dt", {}, label), h("dd", {}, value ?? "–")];
}

// Text typed into the case's forms, kept across a redraw; the form just sent starts empty.
function keepDrafts(root, sent) {
  const kept = [...root.querySelectorAll("textarea[id], input[id], select[id]")]
    .filter((control) => !(sent && sent.contains(control)))
    .map((control) => [control.id, control.type === "checkbox" ? control.checked : control.value]);
  return {
    restore(into) {
      for (const [id, value] of kept) {
        const control = into.querySelector(`#${CSS.escape(id)}`);
        if (!control || control.disabled) continue;
        if (control.type === "checkbox") control.checked = value;
        else if (control.tagName !== "SELECT" || [...control.options].some((o) => o.value === value)) control.value = value;
      }
    },
  };
}

function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
