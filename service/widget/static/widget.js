// The citizens' chat widget. Embedded on an authority's page with
//   <script src="https://<service>/chat-widget/widget.js" data-widget-id="<id>" async></script>
// or used as the standalone page /chat-widget/?widget=<id>. A classic script with no
// dependencies, so that it runs on any page. The chat's token lives in this closure only:
// never in cookies or web storage, so it ends with the tab.
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__serviceChatWidget) return;
  window.__serviceChatWidget = true;

  var LANGUAGES = ["fi", "sv", "en"];
  var POLL_SECONDS = 20;
  var TEXTS = {
    fi: {
      languageName: "suomi", open: "Chat – kysy meiltä", title: "Chat asiakaspalveluun", close: "Sulje chat",
      language: "Kieli", how: "Miten haluat asioida?",
      anonymous: "Nimettömänä", anonymousHint: "Emme tallenna nimeäsi emmekä yhteystietojasi.",
      named: "Nimelläni", namedHint: "Voimme palata asiaan sähköpostitse.",
      name: "Nimi", email: "Sähköposti", privacy: "Näin käsittelemme tietojasi (tietosuojaseloste)",
      privacyNewTab: "avautuu uuteen välilehteen", start: "Aloita chat", starting: "Aloitetaan…",
      waiting: "Olet jonossa. Asiakaspalvelija vastaa pian.", messages: "Viestit", you: "Sinä",
      official: "Asiakaspalvelu", message: "Viestisi", send: "Lähetä", sendHint: "Enter lähettää, vaihto+Enter tekee rivinvaihdon.",
      end: "Lopeta chat", ended: "Chat on päättynyt. Kiitos yhteydenotosta!", again: "Aloita uusi chat",
      joined: "{name} liittyi chattiin.", tooMany: "Liian monta yritystä. Odota hetki ja yritä uudelleen.",
      offline: "Yhteys katkesi. Yritämme uudelleen…", failed: "Jokin meni vikaan. Yritä uudelleen.",
      checkEmail: "Tarkista sähköpostiosoite.", needName: "Kirjoita nimesi tai valitse nimetön chat.",
      empty: "Kirjoita viesti ensin.",
    },
    sv: {
      languageName: "svenska", open: "Chatt – fråga oss", title: "Chatt med kundtjänsten", close: "Stäng chatten",
      language: "Språk", how: "Hur vill du chatta?",
      anonymous: "Anonymt", anonymousHint: "Vi sparar inte ditt namn eller dina kontaktuppgifter.",
      named: "Med mitt namn", namedHint: "Vi kan återkomma per e-post.",
      name: "Namn", email: "E-post", privacy: "Så behandlar vi dina uppgifter (dataskyddsbeskrivning)",
      privacyNewTab: "öppnas i en ny flik", start: "Starta chatten", starting: "Startar…",
      waiting: "Du står i kö. En kundtjänstmedarbetare svarar snart.", messages: "Meddelanden", you: "Du",
      official: "Kundtjänsten", message: "Ditt meddelande", send: "Skicka", sendHint: "Enter skickar, Skift+Enter ger en ny rad.",
      end: "Avsluta chatten", ended: "Chatten har avslutats. Tack för att du kontaktade oss!", again: "Starta en ny chatt",
      joined: "{name} anslöt till chatten.", tooMany: "För många försök. Vänta en stund och försök igen.",
      offline: "Förbindelsen bröts. Vi försöker igen…", failed: "Något gick fel. Försök igen.",
      checkEmail: "Kontrollera e-postadressen.", needName: "Skriv ditt namn eller välj en anonym chatt.",
      empty: "Skriv ett meddelande först.",
    },
    en: {
      languageName: "English", open: "Chat – ask us", title: "Chat with customer service", close: "Close the chat",
      language: "Language", how: "How do you want to chat?",
      anonymous: "Anonymously", anonymousHint: "We keep neither your name nor your contact details.",
      named: "With my name", namedHint: "We can get back to you by email.",
      name: "Name", email: "Email", privacy: "How we handle your data (privacy notice)",
      privacyNewTab: "opens in a new tab", start: "Start the chat", starting: "Starting…",
      waiting: "You are in the queue. An adviser will answer soon.", messages: "Messages", you: "You",
      official: "Customer service", message: "Your message", send: "Send", sendHint: "Enter sends, Shift+Enter starts a new line.",
      end: "End the chat", ended: "The chat has ended. Thank you for contacting us!", again: "Start a new chat",
      joined: "{name} joined the chat.", tooMany: "Too many attempts. Please wait a moment and try again.",
      offline: "The connection was lost. Trying again…", failed: "Something went wrong. Please try again.",
      checkEmail: "Check the email address.", needName: "Write your name, or choose an anonymous chat.",
      empty: "Write a message first.",
    },
  };
  var LOCALES = { fi: "fi-FI", sv: "sv-FI", en: "en-GB" };

  var pageMode = script.getAttribute("data-mode") === "page";
  var query = new URLSearchParams(window.location.search);
  var widgetId = script.getAttribute("data-widget-id") || (pageMode ? query.get("widget") : "") || "";
  var api = new URL("/api/v1/", script.src).href;

  // What the tab knows of the chat; nothing of it is stored anywhere else.
  var state = {
    language: chooseLanguage(), settings: null, view: "start", open: pageMode, chatId: null, token: null,
    after: 0, messages: [], ended: false, polling: false, busy: false, joinedBy: null,
    draft: { anonymous: true, name: "", email: "", message: "" },
  };

  function chooseLanguage() {
    var wanted = [script.getAttribute("data-language"), query.get("lang"),
      document.documentElement.lang].concat(navigator.languages || []);
    for (var i = 0; i < wanted.length; i++) {
      var base = String(wanted[i] || "").slice(0, 2).toLowerCase();
      if (LANGUAGES.indexOf(base) >= 0) return base;
    }
    return "fi";
  }

  function t(key, params) {
    var text = TEXTS[state.language][key];
    for (var name in params || {}) text = text.split("{" + name + "}").join(params[name]);
    return text;
  }

  // Elements from data, never from HTML: a message cannot inject markup into the page.
  function h(tag, attributes) {
    var element = document.createElement(tag);
    for (var name in attributes || {}) {
      var value = attributes[name];
      if (value === undefined || value === null || value === false) continue;
      if (name.slice(0, 2) === "on") element.addEventListener(name.slice(2), value);
      else if (value === true) element.setAttribute(name, "");
      else element.setAttribute(name, String(value));
    }
    for (var i = 2; i < arguments.length; i++) add(element, arguments[i]);
    return element;
  }

  function add(element, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { add(element, c); }); return; }
    element.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  function empty(element) {
    while (element.firstChild) element.removeChild(element.firstChild);
  }

  // --- the API --------------------------------------------------------------------------------

  function call(method, path, body) {
    var headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(api + path, {
      method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store", mode: "cors",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var failure = new Error(data.detail || "HTTP " + response.status);
          failure.status = response.status;
          failure.problem = data;
          throw failure;
        }
        return { data: data, retryAfter: Number(response.headers.get("Retry-After")) || 0 };
      });
    }, function () {
      var offline = new Error("offline");
      offline.status = 0;
      throw offline;
    });
  }

  function kindly(failure) {
    if (failure.status === 429) return t("tooMany");
    if (failure.status === 0) return t("offline");
    if (failure.status === 422 && failure.problem && failure.problem.errors && failure.problem.errors.email) {
      return t("checkEmail");
    }
    return t("failed");
  }

  function loadSettings() {
    call("GET", "chats/widgets/" + encodeURIComponent(widgetId || "-")).then(function (result) {
      state.settings = result.data;
      render();
    }, function () { /* the form works without the notice link; starting will report trouble */ });
  }

  function startChat() {
    var draft = state.draft;
    if (!draft.anonymous && !draft.name.trim()) { say(t("needName"), true); focus("scw-name"); return; }
    state.busy = true;
    render();
    var body = { anonymous: draft.anonymous, language: state.language, widget_id: widgetId || null };
    if (!draft.anonymous) {
      body.name = draft.name.trim();
      if (draft.email.trim()) body.email = draft.email.trim();
    }
    call("POST", "chats", body).then(function (result) {
      state.chatId = result.data.chat_id;
      state.token = result.data.token;
      state.view = "chat";
      state.busy = false;
      state.after = 0;
      state.messages = [];
      state.joinedBy = null;
      state.ended = false;
      render();
      say(t("waiting"));
      focus("scw-message");
      poll();
    }, function (failure) {
      state.busy = false;
      render();
      say(kindly(failure), true);
    });
  }

  function poll() {
    if (state.polling || !state.token || state.ended) return;
    state.polling = true;
    var chatId = state.chatId;
    call("GET", "chats/" + chatId + "/messages?after=" + state.after + "&wait=" + POLL_SECONDS)
      .then(function (result) {
        state.polling = false;
        if (chatId !== state.chatId) return;
        receive(result.data.items);
        if (result.data.ended) { finished(); return; }
        setTimeout(poll, result.retryAfter * 1000);
      }, function (failure) {
        state.polling = false;
        if (chatId !== state.chatId) return;
        if (failure.status === 401 || failure.status === 404) { finished(); return; }
        say(kindly(failure), true);
        setTimeout(poll, failure.status === 429 ? 10000 : 3000);
      });
  }

  function receive(items) {
    if (!items.length) return;
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      state.after = Math.max(state.after, item.id);
      if (state.messages.some(function (m) { return m.id === item.id; })) continue;
      state.messages.push(item);
      if (item.author === "official" && !state.joinedBy && item.official_name) {
        state.joinedBy = item.official_name;
        say(t("joined", { name: item.official_name }));
      }
      appendMessage(item);
    }
  }

  function sendMessage() {
    var text = state.draft.message.trim();
    if (!text) { say(t("empty"), true); focus("scw-message"); return; }
    if (state.busy) return;
    state.busy = true;
    setBusy();
    call("POST", "chats/" + state.chatId + "/messages", { body: text }).then(function (result) {
      state.busy = false;
      state.draft.message = "";
      var box = find("scw-message");
      if (box) { box.value = ""; box.focus(); }
      setBusy();
      receive([result.data]);
    }, function (failure) {
      state.busy = false;
      setBusy();
      if (failure.status === 409) { finished(); return; }
      say(kindly(failure), true);
    });
  }

  function endChat() {
    if (state.busy) return;
    state.busy = true;
    setBusy();
    call("POST", "chats/" + state.chatId + "/end").then(function () {
      state.busy = false;
      finished();
    }, function (failure) {
      state.busy = false;
      setBusy();
      say(kindly(failure), true);
    });
  }

  function finished() {
    state.ended = true;
    state.token = null; // nothing more can be done with it
    state.view = "ended";
    render();
    say(t("ended"));
    focus("scw-again");
  }

  function restart() {
    state.view = "start";
    state.chatId = null;
    state.messages = [];
    state.draft.message = "";
    render();
    say("");
    focus("scw-start");
  }

  // --- drawing --------------------------------------------------------------------------------

  var host = h("div", { id: "service-chat-widget" });
  var root = host;
  if (pageMode) {
    (document.getElementById("chat") || document.body).appendChild(host);
  } else {
    document.body.appendChild(host);
    // Its own shadow root, so that the host page's styles and the widget's leave each other alone.
    root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    root.appendChild(h("link", { rel: "stylesheet", href: new URL("widget.css", script.src).href }));
  }
  var frame = h("div", { class: "scw" });
  root.appendChild(frame);
  var statusLine = h("p", { class: "scw-status", role: "status", "aria-live": "polite" });

  function find(id) {
    return root.querySelector ? root.querySelector("#" + id) : document.getElementById(id);
  }

  function focus(id) {
    setTimeout(function () { var element = find(id); if (element) element.focus(); }, 0);
  }

  function say(message, isError) {
    statusLine.className = "scw-status" + (isError ? " scw-error" : "");
    statusLine.textContent = message || "";
  }

  function setBusy() {
    var buttons = frame.querySelectorAll("button[data-busy]");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = state.busy;
  }

  function render() {
    empty(frame);
    if (pageMode) {
      document.documentElement.lang = state.language;
      document.title = t("title");
    }
    frame.setAttribute("lang", state.language);
    if (!pageMode) {
      frame.appendChild(h("button", {
        type: "button", class: "scw-launcher", id: "scw-launcher", "aria-expanded": String(state.open),
        "aria-controls": "scw-panel", onclick: function () { toggle(!state.open); },
      }, t("open")));
    }
    var panel = h(pageMode ? "main" : "section", {
      class: "scw-panel " + (pageMode ? "scw-page" : "scw-floating"), id: "scw-panel",
      "aria-labelledby": "scw-title", hidden: !state.open,
    });
    panel.appendChild(header());
    panel.appendChild(statusLine);
    if (state.view === "start") panel.appendChild(startForm());
    else if (state.view === "chat") panel.appendChild(chatView());
    else panel.appendChild(h("div", {}, h("button", { type: "button", class: "scw-primary", id: "scw-again",
      onclick: restart }, t("again"))));
    frame.appendChild(panel);
  }

  function toggle(open) {
    state.open = open;
    render();
    focus(open ? (state.view === "chat" ? "scw-message" : "scw-title") : "scw-launcher");
  }

  function header() {
    var chooser = h("select", { id: "scw-language", onchange: function (event) {
      state.language = event.target.value;
      render();
      focus("scw-language");
    } }, LANGUAGES.map(function (code) {
      return h("option", { value: code, selected: code === state.language, lang: code }, TEXTS[code].languageName);
    }));
    return h("div", { class: "scw-header" },
      h(pageMode ? "h1" : "h2", { class: "scw-title", id: "scw-title", tabindex: "-1" }, t("title")),
      h("label", { class: "scw-inline", for: "scw-language" }, h("span", {}, t("language")), chooser),
      pageMode ? null : h("button", { type: "button", class: "scw-close", id: "scw-close", "aria-label": t("close"),
        onclick: function () { toggle(false); } }, "×"));
  }

  function startForm() {
    var draft = state.draft;
    function choice(value, label, hint) {
      return h("label", { class: "scw-choice" },
        h("input", { type: "radio", name: "scw-identity", value: value, id: "scw-" + value,
          checked: (value === "anonymous") === draft.anonymous,
          onchange: function () { draft.anonymous = value === "anonymous"; render(); focus("scw-" + value); } }),
        h("span", {}, label, h("span", { class: "scw-hint", id: "scw-" + value + "-hint" }, " – " + hint)));
    }
    var notice = state.settings && state.settings.privacy_notice_url;
    var form = h("form", { class: "scw-start", id: "scw-start-form", novalidate: true },
      h("fieldset", {}, h("legend", {}, t("how")),
        choice("anonymous", t("anonymous"), t("anonymousHint")),
        choice("named", t("named"), t("namedHint"))),
      draft.anonymous ? null : [
        field(t("name"), h("input", { type: "text", id: "scw-name", autocomplete: "name", maxlength: 200,
          required: true, "aria-required": "true", value: draft.name,
          oninput: function (event) { draft.name = event.target.value; } })),
        field(t("email"), h("input", { type: "email", id: "scw-email", autocomplete: "email", maxlength: 254,
          value: draft.email, oninput: function (event) { draft.email = event.target.value; } })),
      ],
      notice ? h("p", {}, h("a", { href: notice, target: "_blank", rel: "noopener noreferrer", id: "scw-privacy" },
        t("privacy"), h("span", { class: "scw-hint" }, " (" + t("privacyNewTab") + ")"))) : null,
      h("button", { type: "submit", class: "scw-primary", id: "scw-start", "data-busy": true,
        disabled: state.busy }, state.busy ? t("starting") : t("start")));
    form.addEventListener("submit", function (event) { event.preventDefault(); if (!state.busy) startChat(); });
    return form;
  }

  function field(label, control) {
    return h("div", { class: "scw-field" }, h("label", { class: "scw-label", for: control.id }, label), control);
  }

  var log = null;

  function chatView() {
    // The live region is a box around the list: role="log" on the list itself would take away
    // its list semantics.
    log = h("ol", { class: "scw-list" });
    var region = h("div", { class: "scw-log", id: "scw-log", role: "log", "aria-live": "polite",
      "aria-label": t("messages"), tabindex: "0" }, log);
    state.messages.forEach(appendMessage);
    var box = h("textarea", { id: "scw-message", rows: 3, maxlength: 5000, "aria-describedby": "scw-send-hint",
      oninput: function (event) { state.draft.message = event.target.value; },
      onkeydown: function (event) {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); sendMessage(); }
      } });
    box.value = state.draft.message;
    var form = h("form", { id: "scw-send-form" },
      h("div", { class: "scw-field" }, h("label", { class: "scw-label", for: "scw-message" }, t("message")), box,
        h("span", { class: "scw-hint", id: "scw-send-hint" }, t("sendHint"))),
      h("div", { class: "scw-actions" },
        h("button", { type: "submit", class: "scw-primary", id: "scw-send", "data-busy": true, disabled: state.busy }, t("send")),
        h("button", { type: "button", id: "scw-end", "data-busy": true, disabled: state.busy, onclick: endChat }, t("end"))));
    form.addEventListener("submit", function (event) { event.preventDefault(); sendMessage(); });
    return h("div", { class: "scw-chat" }, region, form);
  }

  function appendMessage(item) {
    if (!log || !log.isConnected) return;
    var mine = item.author === "customer";
    var who = mine ? t("you") : (item.official_name || t("official"));
    var at = new Date(item.created_at);
    log.appendChild(h("li", { class: "scw-message" + (mine ? " scw-mine" : ""), "data-author": item.author },
      h("span", { class: "scw-who" }, who, " ",
        h("time", { class: "scw-time", datetime: item.created_at },
          new Intl.DateTimeFormat(LOCALES[state.language], { timeStyle: "short" }).format(at))),
      item.body));
    log.parentNode.scrollTop = log.parentNode.scrollHeight;
  }

  frame.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !pageMode && state.open) toggle(false);
  });

  render();
  loadSettings();
})();
