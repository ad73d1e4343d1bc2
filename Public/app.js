// The page's shell: the API client (bearer token from sessionStorage), the hash router, the
// keyboard, the confirmation dialog and the live feed's wiring. Views live in views.js.
import { Live } from "./live.js";
import { MetricsHistory } from "./charts.js";
import { views } from "./views.js";

const tokenKey = "switchboard-token";

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export class APIError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

/** Calls the API; with auth on, as the token in this tab's sessionStorage (never a cookie). */
export async function api(method, path, body, { text = false } = {}) {
  const headers = {};
  const token = sessionStorage.getItem(tokenKey);
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, credentials: "omit", body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    if (token) sessionStorage.removeItem(tokenKey);
    askForToken();
    throw new APIError(401, token ? "The server refused that token; paste another." : "This server needs a token.");
  }
  document.getElementById("logout").hidden = !token;
  if (!response.ok) {
    const problem = await response.json().catch(() => ({ detail: response.statusText }));
    throw new APIError(response.status, problem.detail || problem.title || String(response.status));
  }
  if (response.status === 204) return null;
  return text ? response.text() : response.json();
}

export function authHeaders() {
  const token = sessionStorage.getItem(tokenKey);
  return token ? { Authorization: "Bearer " + token } : {};
}

function askForToken() {
  document.getElementById("login").hidden = false;
  document.getElementById("logout").hidden = true;
}

export function show(error) {
  document.getElementById("error").textContent = error ? String(error.message || error) : "";
}

/** Says something to screen readers (a polite live region). */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  requestAnimationFrame(() => { region.textContent = text; });
}

/** A time in local time, its UTC form on hover. */
export function time(iso) {
  if (!iso) return el("span", { class: "muted", text: "—" });
  const date = new Date(iso);
  return el("time", { datetime: iso, title: "UTC: " + date.toISOString() }, date.toLocaleString());
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60_000) return (ms / 1000).toFixed(ms < 10_000 ? 1 : 0) + " s";
  if (ms < 3_600_000) return Math.floor(ms / 60_000) + " min " + Math.round((ms % 60_000) / 1000) + " s";
  return Math.floor(ms / 3_600_000) + " h " + Math.round((ms % 3_600_000) / 60_000) + " min";
}

export function badge(status) {
  return el("span", { class: "badge s-" + status, text: status });
}

/** Asks before an action: resolves true when the operator confirms. */
export function confirmAction(text, okLabel = "OK") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

/**
 * Brings a table body to `items` in place: rows are keyed, a cell is replaced only when what it
 * shows changed, so focus and selection survive live updates.
 */
export function syncRows(tbody, items, keyOf, cellsOf) {
  const existing = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    let row = existing.get(key);
    if (row) existing.delete(key);
    else { row = document.createElement("tr"); row.dataset.key = key; }
    const cells = cellsOf(item);
    cells.forEach((content, index) => {
      const cell = row.cells[index] || row.insertCell();
      const node = content instanceof Node ? content : document.createTextNode(content === undefined || content === null ? "" : String(content));
      const signature = content instanceof Node ? (content.dataset?.sig ?? content.outerHTML) : "t:" + node.textContent;
      if (cell.dataset.sig !== signature) {
        cell.replaceChildren(node);
        cell.dataset.sig = signature;
      }
      if (typeof content === "number") cell.className = "num";
    });
    while (row.cells.length > cells.length) row.deleteCell(-1);
    const next = previous ? previous.nextSibling : tbody.firstChild;
    if (next !== row) tbody.insertBefore(row, next);
    previous = row;
  }
  for (const row of existing.values()) row.remove();
}

/** The current route: `#/view/id?params`. */
export function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?");
  const [view = "overview", ...rest] = path.split("/");
  return { view: view || "overview", id: rest.length ? decodeURIComponent(rest.join("/")) : null, params: new URLSearchParams(query) };
}

export function link(view, { id = null, params = null } = {}) {
  let hash = "#/" + view + (id ? "/" + encodeURIComponent(id) : "");
  const query = params ? new URLSearchParams([...params].filter(([, v]) => v !== "" && v !== null && v !== undefined)).toString() : "";
  return query ? hash + "?" + query : hash;
}

export function go(view, options) { location.hash = link(view, options); }

/** Runs an action from a button, shows its error, and refreshes the view after it. */
export async function act(action, done) {
  try {
    show(null);
    await action();
    if (done) announce(done);
  } catch (error) {
    show(error);
  }
  await page.refresh();
}

export const metrics = new MetricsHistory(() => api("GET", "/metrics", undefined, { text: true }));

const page = {
  view: null,
  route: null,
  generation: 0,
  async render() {
    const route = currentRoute();
    const view = views[route.view] || views.overview;
    this.view?.leave?.();
    this.view = view;
    this.route = route;
    const generation = ++this.generation;
    for (const a of document.querySelectorAll("nav a")) {
      if (a.dataset.view === route.view || (route.view === "task" && a.dataset.view === "tasks") || (route.view === "run" && a.dataset.view === "runs")) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const main = document.getElementById("view");
    main.replaceChildren();
    show(null);
    try {
      await view.render(main, route, () => generation === this.generation);
      document.title = (view.title ? view.title(route) + " · " : "") + "Switchboard";
    } catch (error) {
      show(error);
    }
  },
  async refresh() {
    if (!this.view) return;
    try {
      await (this.view.refresh ? this.view.refresh() : this.render());
    } catch (error) {
      show(error);
    }
  },
};

const live = new Live({
  headers: authHeaders,
  onEvent: (event) => page.view?.onEvent?.(event),
  onReset: () => page.refresh(),
  onStatus: (text) => { document.getElementById("live-status").textContent = text; },
  onUnauthorized: () => askForToken(),
  // `?live=long-poll` or `?live=poll` starts with a fallback (behind a proxy that buffers streams).
  mode: new URLSearchParams(location.search).get("live") || "stream",
});

// Keyboard: "/" searches, j/k move through a table's rows, Enter opens the selected one.
function typing(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || target?.isContentEditable;
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target) || document.querySelector("dialog[open]")) return;
  if (event.key === "/") {
    event.preventDefault();
    document.getElementById("search-box").focus();
  } else if (event.key === "j" || event.key === "k") {
    const rows = [...document.querySelectorAll("main table[data-nav] tbody tr")];
    if (!rows.length) return;
    const current = rows.findIndex((row) => row.classList.contains("selected"));
    const next = Math.max(0, Math.min(rows.length - 1, current < 0 ? 0 : current + (event.key === "j" ? 1 : -1)));
    rows.forEach((row, index) => row.classList.toggle("selected", index === next));
    const target = rows[next].querySelector("a, button, input") || rows[next];
    if (!target.hasAttribute("href") && target.tabIndex < 0) target.tabIndex = -1;
    target.focus();
    event.preventDefault();
  } else if (event.key === "Enter") {
    const selected = document.querySelector("main table[data-nav] tbody tr.selected a");
    if (selected && document.activeElement === document.body) { selected.click(); event.preventDefault(); }
  }
});

document.getElementById("search").addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = document.getElementById("search-box");
  const id = box.value.trim();
  if (!id) return;
  show(null);
  try {
    await api("GET", "/v1/tasks/" + encodeURIComponent(id));
    go("task", { id });
  } catch (error) {
    if (error.status !== 404) return show(error);
    try {
      await api("GET", "/v1/runs/" + encodeURIComponent(id));
      go("run", { id });
    } catch (runError) {
      show(runError.status === 404 ? new Error(`No task or run has the id ${id}.`) : runError);
    }
  }
});

document.getElementById("live-toggle").addEventListener("click", (event) => {
  const on = event.currentTarget.getAttribute("aria-pressed") !== "true";
  event.currentTarget.setAttribute("aria-pressed", String(on));
  if (on) { live.resume(); page.refresh(); } else live.pause();
});

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const field = document.getElementById("token");
  sessionStorage.setItem(tokenKey, field.value.trim());
  field.value = "";
  document.getElementById("login").hidden = true;
  live.restart();
  await page.render();
});

document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(tokenKey);
  live.stop();
  askForToken();
});

window.addEventListener("hashchange", () => page.render().then(() => document.getElementById("view").focus({ preventScroll: true })));
page.render();
live.start();
metrics.start();
