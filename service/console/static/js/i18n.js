// Interface texts in Finnish, Swedish and English, from static/i18n/<language>.json.

const LANGUAGES = ["fi", "sv", "en"];
const LOCALES = { fi: "fi-FI", sv: "sv-FI", en: "en-GB" };
const STORAGE_KEY = "console.language";
let language = "en";
let messages = {};
let fallback = {};

export function current() {
  return language;
}

function preferred() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  for (const wanted of navigator.languages || []) {
    const base = wanted.slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(base)) return base;
  }
  return "fi";
}

async function fetchMessages(lang) {
  const response = await fetch(`static/i18n/${lang}.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`texts for ${lang} did not load`);
  return response.json();
}

export async function setLanguage(lang) {
  const chosen = LANGUAGES.includes(lang) ? lang : preferred();
  if (!Object.keys(fallback).length) fallback = await fetchMessages("en");
  messages = chosen === "en" ? fallback : await fetchMessages(chosen);
  language = chosen;
  localStorage.setItem(STORAGE_KEY, chosen);
  document.documentElement.lang = chosen;
  translate(document);
}

export async function init() {
  await setLanguage(preferred());
}

export function t(key, params = {}) {
  let text = messages[key] ?? fallback[key];
  if (text === undefined) {
    console.warn(`missing text: ${key}`);
    return key;
  }
  for (const [name, value] of Object.entries(params)) {
    text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

// Elements written in index.html carry data-i18n (text) or data-i18n-label (aria-label).
export function translate(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
}

export function dateTime(value) {
  if (!value) return "";
  return new Intl.DateTimeFormat(LOCALES[language], { dateStyle: "short", timeStyle: "medium" })
    .format(new Date(value));
}

export function date(value) {
  if (!value) return "";
  return new Intl.DateTimeFormat(LOCALES[language], { dateStyle: "long" }).format(new Date(value));
}

export function number(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return new Intl.NumberFormat(LOCALES[language], { maximumFractionDigits: digits }).format(value);
}

function unit(value, name) {
  return new Intl.NumberFormat(LOCALES[language], { style: "unit", unit: name, unitDisplay: "short" }).format(value);
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  const minutes = Math.floor(value / 60);
  const rest = Math.round(value % 60);
  return minutes ? `${unit(minutes, "minute")} ${unit(rest, "second")}` : unit(rest, "second");
}
