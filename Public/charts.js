// The overview's numbers: /metrics sampled every 5 s while the page is open (rates and
// percentiles from the differences between samples), drawn as small SVG line charts.
// Parsing /metrics in the page keeps the server free of a second time-series store: the page
// shows the minutes since it was opened, the same counters Prometheus scrapes; longer history
// is Prometheus's and Grafana's job.

const svgNS = "http://www.w3.org/2000/svg";

/** `name{labels} value` lines → Map(name → [{labels, value}]). */
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    if (!out.has(match[1])) out.set(match[1], []);
    out.get(match[1]).push({ labels, value: Number(match[3]) });
  }
  return out;
}

function total(sample, name) {
  return (sample.get(name) || []).reduce((sum, entry) => sum + entry.value, 0);
}

/** Cumulative bucket counts by upper bound, summed over every label set. */
function buckets(sample, name) {
  const byBound = new Map();
  for (const entry of sample.get(name + "_bucket") || []) {
    const bound = entry.labels.le === "+Inf" ? Infinity : Number(entry.labels.le);
    byBound.set(bound, (byBound.get(bound) || 0) + entry.value);
  }
  return [...byBound.entries()].sort((a, b) => a[0] - b[0]);
}

/** Prometheus's histogram_quantile over the observations between two samples. */
export function quantile(before, after, name, q) {
  const previous = new Map(buckets(before, name));
  const deltas = buckets(after, name).map(([bound, count]) => [bound, count - (previous.get(bound) || 0)]);
  const count = deltas.length ? deltas[deltas.length - 1][1] : 0;
  if (count <= 0) return null;
  const rank = q * count;
  let lowerBound = 0, lowerCount = 0;
  for (const [bound, cumulative] of deltas) {
    if (cumulative >= rank) {
      if (bound === Infinity) return lowerBound;
      const inBucket = cumulative - lowerCount;
      return inBucket <= 0 ? bound : lowerBound + (bound - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = bound;
    lowerCount = cumulative;
  }
  return lowerBound;
}

export class MetricsHistory {
  constructor(fetchText, { every = 5000, keep = 121 } = {}) {
    Object.assign(this, { fetchText, every, keep });
    this.samples = [];
    this.listeners = new Set();
  }

  start() {
    const tick = async () => {
      try {
        const text = await this.fetchText();
        this.samples.push({ at: Date.now(), metrics: parseMetrics(text) });
        if (this.samples.length > this.keep) this.samples.shift();
        for (const listener of this.listeners) listener();
      } catch {
        // A refused or failed scrape leaves a gap; the view shows the error of its own calls.
      }
    };
    tick();
    this.timer = setInterval(tick, this.every);
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Per-second rate of a counter (summed over labels) between consecutive samples. */
  rate(name) {
    return this.samples.slice(1).map((sample, index) => {
      const before = this.samples[index];
      const seconds = (sample.at - before.at) / 1000;
      return { at: sample.at, value: Math.max(0, total(sample.metrics, name) - total(before.metrics, name)) / seconds };
    });
  }

  /** A quantile over the last `window` samples' observations, at each sample. */
  quantiles(name, q, window = 6) {
    return this.samples.slice(1).map((sample, index) => {
      const before = this.samples[Math.max(0, index + 1 - window)];
      return { at: sample.at, value: quantile(before.metrics, sample.metrics, name, q) };
    });
  }

  gauge(name) {
    return this.samples.map((sample) => ({ at: sample.at, value: total(sample.metrics, name) }));
  }

  latest(name) {
    const last = this.samples[this.samples.length - 1];
    return last ? total(last.metrics, name) : null;
  }
}

/** A line chart: `series` is [{label, colour, points: [{at, value}]}]; null values are gaps. */
export function lineChart(caption, series, { unit = "", format = (v) => v.toFixed(1) } = {}) {
  const width = 600, height = 170, left = 44, right = 8, top = 10, bottom = 22;
  const now = Date.now();
  // The minutes this page has seen, up to ten: a page opened a minute ago fills its charts.
  const first = Math.min(now, ...series.flatMap((s) => s.points.map((p) => p.at)));
  const span = Math.min(10 * 60_000, Math.max(60_000, now - first));
  const spanText = span >= 120_000 ? Math.round(span / 60_000) + " min" : Math.round(span / 1000) + " s";
  const values = series.flatMap((s) => s.points.map((p) => p.value)).filter((v) => v !== null && Number.isFinite(v));
  const max = Math.max(1e-9, ...values) * 1.1;
  const x = (at) => left + ((at - (now - span)) / span) * (width - left - right);
  const y = (value) => top + (1 - value / max) * (height - top - bottom);

  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const latest = series.map((s) => {
    const last = [...s.points].reverse().find((p) => p.value !== null);
    return `${s.label} ${last ? format(last.value) + unit : "no data"}`;
  });
  svg.setAttribute("aria-label", `${caption}, last ${spanText}; now: ${latest.join(", ")}`);
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add("line", { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, class: "chart-axis" });
  add("line", { x1: left, x2: width - right, y1: top, y2: top, class: "chart-axis", "stroke-dasharray": "3 3" });
  add("text", { x: left - 4, y: top + 4, "text-anchor": "end", class: "chart-text" }, format(max) + unit);
  add("text", { x: left - 4, y: height - bottom, "text-anchor": "end", class: "chart-text" }, "0");
  add("text", { x: left, y: height - 6, class: "chart-text" }, "−" + spanText);
  add("text", { x: width - right, y: height - 6, "text-anchor": "end", class: "chart-text" }, "now");
  for (const s of series) {
    let path = "";
    let pen = false;
    for (const point of s.points) {
      if (point.value === null || !Number.isFinite(point.value) || point.at < now - span) { pen = false; continue; }
      path += `${pen ? "L" : "M"}${x(point.at).toFixed(1)},${y(point.value).toFixed(1)}`;
      pen = true;
    }
    if (path) add("path", { d: path, fill: "none", style: `stroke: ${s.colour}`, "stroke-width": 2, "stroke-linejoin": "round" });
  }
  const figure = document.createElement("figure");
  figure.className = "chart";
  const figcaption = document.createElement("figcaption");
  figcaption.textContent = caption;
  const legend = document.createElement("div");
  legend.className = "legend";
  series.forEach((s, index) => {
    const item = document.createElement("span");
    item.style.setProperty("--swatch", s.colour);
    item.textContent = latest[index];
    legend.append(item);
  });
  figure.append(figcaption, svg, legend);
  return figure;
}
