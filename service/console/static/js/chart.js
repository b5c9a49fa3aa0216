// Small SVG bar charts, drawn here so the console needs no build step and no third-party code.
// Every chart is paired with a table of the same numbers for screen readers and for checking.

import { h } from "./dom.js";
import { number } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 720;
const HEIGHT = 260;
const MARGIN = { top: 12, right: 12, bottom: 48, left: 52 };

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// A round step (1, 2 or 5 times a power of ten) giving about four grid lines.
function niceStep(maximum) {
  const rough = maximum / 4;
  if (rough <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  for (const factor of [1, 2, 5, 10]) {
    if (rough <= factor * magnitude) return factor * magnitude;
  }
  return 10 * magnitude;
}

// categories: labels along the x axis; series: [{ name, values }] with null for a hidden value.
// Stacked series sum per category; a null contributes nothing and is listed in the table.
export function barChart({ title, categories, series, stacked = true, format = (v) => number(v, 1), id }) {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sums = categories.map((_, i) => stacked
    ? series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0)
    : Math.max(0, ...series.map((s) => s.values[i] ?? 0)));
  const step = niceStep(Math.max(0, ...sums));
  const top = step * Math.max(1, Math.ceil(Math.max(0, ...sums) / step));
  const band = plotWidth / Math.max(1, categories.length);
  const barWidth = stacked ? band * 0.7 : (band * 0.8) / Math.max(1, series.length);
  const y = (value) => MARGIN.top + plotHeight - (value / top) * plotHeight;
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart",
    "aria-label": title });
  for (let value = 0; value <= top + step / 2; value += step) {
    chart.append(svg("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value), class: "grid" }),
      svg("text", { x: MARGIN.left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" }, format(value)));
  }
  const labelEvery = Math.ceil(categories.length / 12);
  categories.forEach((category, i) => {
    const x0 = MARGIN.left + band * i + (band - (stacked ? barWidth : barWidth * series.length)) / 2;
    let base = 0;
    series.forEach((s, k) => {
      const value = s.values[i];
      if (value === null || value === undefined || value === 0) return;
      const x = stacked ? x0 : x0 + k * barWidth;
      const bottom = stacked ? base : 0;
      chart.append(svg("rect", { x, y: y(bottom + value), width: Math.max(1, barWidth - 1),
        height: Math.max(0, y(bottom) - y(bottom + value)), class: `bar series-${k % 8}` },
      svg("title", {}, `${category} · ${s.name}: ${format(value)}`)));
      if (stacked) base += value;
    });
    if (i % labelEvery === 0) {
      chart.append(svg("text", { x: MARGIN.left + band * i + band / 2, y: HEIGHT - MARGIN.bottom + 16,
        class: "axis", "text-anchor": "middle" }, category));
    }
  });
  const legend = h("ul", { class: "legend" }, series.map((s, k) =>
    h("li", {}, h("span", { class: `swatch series-${k % 8}`, "aria-hidden": "true" }), s.name)));
  const table = h("details", {}, h("summary", {}, title),
    h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), series.map((s) => h("th", { scope: "col" }, s.name)))),
      h("tbody", {}, categories.map((category, i) => h("tr", {},
        h("th", { scope: "row" }, category),
        series.map((s) => h("td", {}, s.values[i] === null ? "•" : format(s.values[i]))))))));
  return h("figure", { class: "chart-figure", id },
    h("figcaption", {}, title), chart, legend, table);
}
