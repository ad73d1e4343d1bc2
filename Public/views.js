// The views of the operator's page. Each renders into <main>, keeps what it fetched, redraws
// rows in place (syncRows) and, where events concern it, updates from the live feed.
import { act, announce, api, badge, confirmAction, duration, el, go, link, metrics, show, syncRows, time } from "./app.js";
import { lineChart } from "./charts.js";

const states = ["pending", "scheduled", "running", "retrying", "dead", "completed", "cancelled"];
const cancellable = new Set(["pending", "scheduled", "retrying", "running"]);
const enc = encodeURIComponent;

const toolOf = (task) => (task.payload && typeof task.payload === "object" && typeof task.payload.tool_name === "string" ? task.payload.tool_name : null);
const reasonOf = (task) => (task.payload && typeof task.payload === "object" && typeof task.payload.reason === "string" ? task.payload.reason : null);

function table(id, headings, caption) {
  const body = el("tbody");
  const head = el("tr", {}, headings.map((h) => el("th", { scope: "col", class: h.startsWith("#") ? "num" : null }, h.replace(/^#/, ""))));
  const node = el("table", { id, "data-nav": "" }, caption ? el("caption", { class: "visually-hidden" }, caption) : null, el("thead", {}, head), body);
  return { wrap: el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption || id }, node), body };
}

function taskLink(id, text) {
  return el("a", { href: link("task", { id }), class: "mono", title: id }, text || id);
}

/** Calls `fn` once, `ms` after the last of a burst of calls. */
function debounced(fn, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
}

function counts(map) {
  const parts = states.filter((s) => map[s]).map((s) => el("span", { class: "badge s-" + s }, `${map[s]} ${s}`));
  const node = el("span", {}, parts.flatMap((p, i) => (i ? [" ", p] : [p])));
  node.dataset.sig = JSON.stringify(map);
  return node;
}

function pager(next, params, view) {
  const nav = el("nav", { class: "pager", "aria-label": "Pages" });
  if (params.get("cursor")) {
    const first = new URLSearchParams(params);
    first.delete("cursor");
    nav.append(el("a", { href: link(view, { params: first }) }, "← First page"));
  }
  if (next) {
    const more = new URLSearchParams(params);
    more.set("cursor", next);
    nav.append(el("a", { href: link(view, { params: more }), id: "next-page" }, "Next page →"));
  }
  return nav;
}

async function inChunks(ids, path) {
  let done = 0;
  for (let i = 0; i < ids.length; i += 1000) {
    const answer = await api("POST", path, { ids: ids.slice(i, i + 1000) });
    done += answer.requeued ?? answer.deleted ?? 0;
  }
  return done;
}

// MARK: Overview

const overview = {
  title: () => "Overview",
  async render(main) {
    this.cards = el("div", { class: "cards", id: "cards" });
    this.charts = el("div", { class: "charts", id: "charts" });
    main.append(
      el("h1", {}, "Overview"), this.cards, this.charts,
      el("p", { class: "muted" }, "Rates and percentiles come from this server's /metrics, sampled every 5 s since this page was opened; Prometheus and the Grafana dashboard keep the longer history."));
    this.unsubscribe = metrics.subscribe(() => this.draw());
    this.later = debounced(() => this.refresh().catch(show), 1000);
    await this.refresh();
  },
  leave() { this.unsubscribe?.(); },
  async refresh() {
    const [queues, workers] = await Promise.all([api("GET", "/v1/queues"), api("GET", "/v1/workers")]);
    this.queues = queues.items;
    this.workers = workers.items.filter((w) => w.state !== "gone");
    this.draw();
  },
  onEvent() { this.later(); },
  draw() {
    if (!this.queues) return;
    const sum = (state) => this.queues.reduce((n, q) => n + q.depth[state], 0);
    const slots = this.workers.reduce((n, w) => n + (w.slots || 0), 0);
    const busy = this.workers.reduce((n, w) => n + w.busy, 0);
    const oldest = this.queues.map((q) => q.oldest_pending_at).filter(Boolean).map((t) => Date.parse(t));
    const rate = (name) => { const r = metrics.rate(name); return r.length ? r[r.length - 1].value.toFixed(1) : "—"; };
    const card = (label, value) => el("div", { class: "card" }, el("div", { class: "value" }, value), el("div", { class: "label" }, label));
    this.cards.replaceChildren(
      card("pending", sum("pending")), card("running", sum("running")), card("retrying", sum("retrying")),
      card("dead", sum("dead")), card("busy / total worker slots", `${busy} / ${slots}`),
      card("longest wait now", oldest.length ? duration(Date.now() - Math.min(...oldest)) : "—"),
      card("completed per second", rate("switchboard_tasks_completed_total")), card("failed per second", rate("switchboard_tasks_failed_total")));
    const ms = (v) => (v * 1000 < 1000 ? (v * 1000).toFixed(v * 1000 < 10 ? 1 : 0) + " ms" : v.toFixed(2) + " s");
    const percentiles = (name) => [
      { label: "p50", colour: "var(--ok)", points: metrics.quantiles(name, 0.5) },
      { label: "p95", colour: "var(--warn)", points: metrics.quantiles(name, 0.95) },
      { label: "p99", colour: "var(--bad)", points: metrics.quantiles(name, 0.99) },
    ];
    this.charts.replaceChildren(
      lineChart("Tasks per second", [
        { label: "enqueued", colour: "var(--idle)", points: metrics.rate("switchboard_tasks_enqueued_total") },
        { label: "completed", colour: "var(--ok)", points: metrics.rate("switchboard_tasks_completed_total") },
        { label: "failed", colour: "var(--bad)", points: metrics.rate("switchboard_tasks_failed_total") },
        { label: "retried", colour: "var(--warn)", points: metrics.rate("switchboard_tasks_retried_total") },
        { label: "dead", colour: "var(--run)", points: metrics.rate("switchboard_tasks_dead_total") },
      ], { unit: "/s" }),
      lineChart("Queue wait (ready → leased), last 30 s", percentiles("switchboard_task_wait_seconds"), { format: ms }),
      lineChart("Run duration, last 30 s", percentiles("switchboard_task_duration_seconds"), { format: ms }),
      lineChart("Worker slots", [
        { label: "busy", colour: "var(--run)", points: metrics.gauge("switchboard_worker_slots_busy") },
        { label: "total", colour: "var(--idle)", points: metrics.gauge("switchboard_worker_slots_busy").map((p) => ({ at: p.at, value: slots })) },
      ], { format: (v) => v.toFixed(0) }));
  },
};

// MARK: Queues

const queues = {
  title: () => "Queues",
  async render(main) {
    const { wrap, body } = table("queues", ["Queue", "State", ...states.map((s) => "#" + s), "#latency", "Action"], "Queues");
    this.body = body;
    main.append(el("h1", {}, "Queues"),
      el("p", { class: "muted" }, "Counts link to the tasks in that state. Latency: how long the longest-waiting pending task has waited."), wrap);
    this.later = debounced(() => this.refresh().catch(show), 300);
    await this.refresh();
    this.timer = setInterval(() => this.draw(), 1000);
  },
  leave() { clearInterval(this.timer); },
  async refresh() {
    this.items = (await api("GET", "/v1/queues")).items;
    this.draw();
  },
  onEvent(event) { if (event.queue) this.later(); },
  draw() {
    syncRows(this.body, this.items, (q) => q.name, (q) => [
      el("a", { href: link("tasks", { params: new URLSearchParams({ queue: q.name }) }) }, q.name),
      q.paused ? el("span", { class: "badge s-retrying" }, "paused") : el("span", { class: "badge s-active" }, "active"),
      ...states.map((s) => el("a", { href: link("tasks", { params: new URLSearchParams({ queue: q.name, status: s }) }), "aria-label": `${q.depth[s]} ${s} in ${q.name}` }, String(q.depth[s]))),
      q.oldest_pending_at ? duration(Date.now() - Date.parse(q.oldest_pending_at)) : "—",
      el("button", {
        type: "button", "aria-label": `${q.paused ? "Resume" : "Pause"} queue ${q.name}`,
        onclick: () => this.toggle(q),
      }, q.paused ? "Resume" : "Pause"),
    ]);
  },
  async toggle(q) {
    const verb = q.paused ? "Resume" : "Pause";
    const text = q.paused ? `Resume queue ${q.name}? Workers start leasing from it again.` : `Pause queue ${q.name}? Workers stop leasing from it; enqueues still land.`;
    if (!(await confirmAction(text, verb))) return;
    await act(() => api("POST", `/v1/queues/${enc(q.name)}/${q.paused ? "resume" : "pause"}`), `Queue ${q.name} ${q.paused ? "resumed" : "paused"}`);
  },
};

// MARK: Tasks

const filters = ["status", "queue", "type", "run_id", "tool_name"];

const tasks = {
  title: () => "Tasks",
  async render(main, route) {
    const params = route.params;
    this.params = params;
    const field = (name, label, input) => el("label", {}, label, input);
    const form = el("form", { class: "toolbar", id: "task-filters", role: "search", "aria-label": "Filter tasks" },
      field("status", "Status", el("select", { name: "status", id: "filter-status" },
        el("option", { value: "" }, "any"), states.map((s) => el("option", { value: s, selected: params.get("status") === s }, s)))),
      filters.slice(1).map((name) => field(name, name.replace("_", " "), el("input", { name, id: "filter-" + name, value: params.get(name) || "", size: 12 }))),
      field("metadata", "metadata key:value", el("input", { name: "metadata", id: "filter-metadata", value: params.getAll("metadata").join(", "), size: 16, placeholder: "env:prod, team:a" })),
      field("limit", "per page", el("select", { name: "limit", id: "filter-limit" }, ["25", "50", "100", "500"].map((n) => el("option", { value: n, selected: (params.get("limit") || "50") === n }, n)))),
      el("button", { type: "submit" }, "Apply"),
      el("a", { href: link("tasks") }, "Clear"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const next = new URLSearchParams();
      for (const name of [...filters, "limit"]) if (data.get(name)) next.set(name, String(data.get(name)).trim());
      for (const entry of String(data.get("metadata") || "").split(",").map((s) => s.trim()).filter(Boolean)) next.append("metadata", entry);
      go("tasks", { params: next });
    });
    const { wrap, body } = table("tasks", ["Task", "Queue", "Type", "Tool", "Status", "#Attempts", "Created", "Updated"], "Tasks");
    this.body = body;
    this.pager = el("div");
    this.summary = el("p", { class: "muted", id: "tasks-summary", "aria-live": "polite" });
    main.append(el("h1", {}, "Tasks"), form, this.summary, wrap, this.pager);
    this.later = debounced(() => this.refresh().catch(show), 500);
    await this.refresh();
  },
  query() {
    const query = new URLSearchParams();
    for (const name of filters) if (this.params.get(name)) query.set(name, this.params.get(name));
    for (const entry of this.params.getAll("metadata")) query.append("metadata", entry);
    query.set("limit", this.params.get("limit") || "50");
    if (this.params.get("cursor")) query.set("cursor", this.params.get("cursor"));
    return query;
  },
  async refresh() {
    const page = await api("GET", "/v1/tasks?" + this.query());
    this.items = page.items;
    this.next = page.next_cursor;
    this.draw();
  },
  draw() {
    syncRows(this.body, this.items, (t) => t.id, (t) => [
      taskLink(t.id), t.queue, t.type, toolOf(t) || "—", badge(t.status), t.attempts, time(t.created_at), time(t.updated_at),
    ]);
    this.summary.textContent = this.items.length ? `${this.items.length} task${this.items.length === 1 ? "" : "s"} on this page, oldest first.` : "No task matches.";
    this.pager.replaceChildren(pager(this.next, this.params, "tasks"));
  },
  onEvent(event) {
    const change = event.task;
    if (!change) return;
    const known = this.items?.find((t) => t.id === change.id);
    if (known) {
      Object.assign(known, { status: change.status, attempts: change.attempts, worker_id: change.worker_id, error: change.error, updated_at: change.updated_at });
      if (event.type === "task.deleted") this.items = this.items.filter((t) => t !== known);
      this.draw();
    } else if (event.type === "task.created" && !this.next) {
      const p = this.params;
      const matches = (!p.get("queue") || p.get("queue") === change.queue) && (!p.get("type") || p.get("type") === change.type)
        && (!p.get("status") || p.get("status") === change.status) && (!p.get("run_id") || p.get("run_id") === change.run_id);
      if (matches) this.later();
    }
  },
};

// MARK: Task detail

const task = {
  title: (route) => "Task " + route.id,
  async render(main, route, isCurrent) {
    this.id = route.id;
    this.main = main;
    this.isCurrent = isCurrent;
    await this.refresh();
  },
  async refresh() {
    const t = await api("GET", "/v1/tasks/" + enc(this.id));
    if (!this.isCurrent()) return;  // the operator moved on while this was loading
    const focused = document.activeElement?.id;
    const actions = el("div", { class: "toolbar" });
    if (cancellable.has(t.status)) {
      actions.append(el("button", { type: "button", id: "cancel-task", class: "danger", onclick: async () => {
        if (await confirmAction(`Cancel task ${t.id}?${t.status === "running" ? " Its worker is asked to stop." : ""}`, "Cancel task")) {
          await act(() => api("POST", `/v1/tasks/${enc(t.id)}/cancel`), "Cancel requested");
        }
      } }, "Cancel"));
    }
    if (t.status === "dead") {
      actions.append(el("button", { type: "button", id: "requeue-task", onclick: async () => {
        if (await confirmAction(`Requeue dead task ${t.id}? It goes back to pending with its attempts reset.`, "Requeue")) {
          await act(() => api("POST", `/v1/dlq/${enc(t.id)}/requeue`), "Task requeued");
        }
      } }, "Requeue"));
    }
    const row = (label, value) => [el("dt", {}, label), el("dd", {}, value ?? el("span", { class: "muted" }, "—"))];
    const fields = el("dl", { class: "fields" },
      row("Status", badge(t.status)), row("Queue", el("a", { href: link("tasks", { params: new URLSearchParams({ queue: t.queue }) }) }, t.queue)),
      row("Type", t.type), row("Tool", toolOf(t)), row("Reason", reasonOf(t)),
      row("Run", t.run_id ? el("a", { href: link("run", { id: t.run_id }) }, t.run_id) : null),
      row("Priority", t.priority), row("Lock key", t.lock_key ? el("code", {}, t.lock_key) : null),
      row("Metadata", Object.keys(t.metadata).length ? Object.entries(t.metadata).map(([k, v]) => `${k}=${v}`).join(", ") : null),
      row("Attempts", `${t.attempts} of ${t.max_retries + 1}${t.releases ? `, released ${t.releases}×` : ""}`),
      row("Timeout", duration(t.timeout_ms)), row("Worker", t.worker_id), row("Lease expires", t.lease_expires_at ? time(t.lease_expires_at) : null),
      row("Created", time(t.created_at)), row("Not before", t.not_before ? time(t.not_before) : null),
      row("Started", time(t.started_at)), row("Finished", time(t.finished_at)), row("Updated", time(t.updated_at)));
    const errors = table("task-errors", ["#Attempt", "At", "Worker", "Error"], "Errors of each attempt");
    syncRows(errors.body, t.errors, (e) => String(e.attempt) + e.at, (e) => [e.attempt, time(e.at), e.worker_id || "—", el("span", { class: "mono" }, e.message)]);
    this.main.replaceChildren(
      el("h1", {}, "Task ", el("span", { class: "mono" }, t.id), " ", badge(t.status)), actions, fields,
      el("div", { class: "two" },
        el("section", { "aria-labelledby": "payload-h" }, el("h2", { id: "payload-h" }, "Payload"), el("pre", { id: "payload", tabindex: "0" }, JSON.stringify(t.payload, null, 2))),
        el("section", { "aria-labelledby": "result-h" }, el("h2", { id: "result-h" }, "Result"), el("pre", { id: "result", tabindex: "0" }, t.result === null ? "—" : JSON.stringify(t.result, null, 2)))),
      el("h2", {}, "Errors"), t.errors.length ? errors.wrap : el("p", { class: "muted" }, "No failed attempt."));
    if (focused) document.getElementById(focused)?.focus();
  },
  onEvent(event) { if (event.task?.id === this.id) this.refresh().catch(show); },
};

// MARK: Dead letters

const signature = (message) => (message || "(no message)").replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<id>").replace(/\d+/g, "#").slice(0, 200);

const dlq = {
  title: () => "Dead letters",
  async render(main) {
    this.selected = new Set();
    this.open = null;
    this.main = main;
    const groups = table("dlq-groups", ["#Count", "Type", "Tool", "Error", "First seen", "Last seen", "Attempts", "Actions"], "Dead tasks grouped by error, type and tool");
    this.groupBody = groups.body;
    this.toolbar = el("div", { class: "toolbar" },
      el("button", { type: "button", id: "requeue-selected", disabled: true, onclick: () => this.bulk("requeue", [...this.selected], "selected") }, "Requeue selected"),
      el("button", { type: "button", id: "delete-selected", class: "danger", disabled: true, onclick: () => this.bulk("delete", [...this.selected], "selected") }, "Delete selected"));
    this.detail = el("section", { id: "dlq-detail", "aria-live": "polite" });
    this.summary = el("p", { class: "muted", id: "dlq-summary" });
    main.append(el("h1", {}, "Dead letters"),
      el("p", { class: "muted" }, "Dead tasks grouped by error signature (numbers and ids masked), type and tool. Show a group to see every attempt's error side by side and pick tasks."),
      this.summary, this.toolbar, groups.wrap, this.detail);
    this.later = debounced(() => this.refresh().catch(show), 500);
    await this.refresh();
  },
  async refresh() {
    const dead = [];
    let cursor = null;
    let pages = 0;
    do {
      const page = await api("GET", "/v1/dlq?limit=1000" + (cursor ? "&cursor=" + enc(cursor) : ""));
      dead.push(...page.items);
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    this.truncated = Boolean(cursor);
    const groups = new Map();
    for (const t of dead) {
      const key = [t.type, toolOf(t) || "", signature(t.error)].join("\u0000");
      if (!groups.has(key)) groups.set(key, { key, type: t.type, tool: toolOf(t), signature: signature(t.error), example: t.error, tasks: [] });
      groups.get(key).tasks.push(t);
    }
    this.groups = [...groups.values()].sort((a, b) => b.tasks.length - a.tasks.length);
    const ids = new Set(dead.map((t) => t.id));
    for (const id of [...this.selected]) if (!ids.has(id)) this.selected.delete(id);
    this.draw();
  },
  label(group) { return `${group.type}/${group.tool || "—"}`; },
  draw() {
    const total = this.groups.reduce((n, g) => n + g.tasks.length, 0);
    this.summary.textContent = total ? `${total} dead task${total === 1 ? "" : "s"} in ${this.groups.length} group${this.groups.length === 1 ? "" : "s"}${this.truncated ? " (the first 10,000)" : ""}.` : "The dead-letter queue is empty.";
    syncRows(this.groupBody, this.groups, (g) => g.key, (g) => {
      const finished = g.tasks.map((t) => Date.parse(t.finished_at || t.updated_at));
      const same = g.tasks.every((t) => t.errors.every((e) => signature(e.message) === g.signature));
      return [
        g.tasks.length, g.type, g.tool || "—", el("span", { class: "mono", title: g.example || "" }, g.signature),
        time(new Date(Math.min(...finished)).toISOString()), time(new Date(Math.max(...finished)).toISOString()),
        same ? "same error every attempt" : el("span", { class: "warn" }, "errors vary (flaky?)"),
        el("span", { class: "toolbar" },
          el("button", { type: "button", "aria-expanded": String(this.open === g.key), onclick: () => { this.open = this.open === g.key ? null : g.key; this.draw(); } }, this.open === g.key ? "Hide" : "Show"),
          el("button", { type: "button", class: "requeue-group", onclick: () => this.bulk("requeue", g.tasks.map((t) => t.id), this.label(g)) }, "Requeue"),
          el("button", { type: "button", class: "danger delete-group", onclick: () => this.bulk("delete", g.tasks.map((t) => t.id), this.label(g)) }, "Delete")),
      ];
    });
    this.drawDetail();
    const n = this.selected.size;
    this.toolbar.querySelector("#requeue-selected").disabled = n === 0;
    this.toolbar.querySelector("#delete-selected").disabled = n === 0;
    this.toolbar.querySelector("#requeue-selected").textContent = `Requeue selected (${n})`;
    this.toolbar.querySelector("#delete-selected").textContent = `Delete selected (${n})`;
  },
  drawDetail() {
    const group = this.groups.find((g) => g.key === this.open);
    if (!group) { this.detail.replaceChildren(); this.detailBody = null; return; }
    const attempts = Math.max(1, ...group.tasks.map((t) => t.errors.length));
    if (!this.detailBody || this.detail.dataset.key !== group.key || this.detail.dataset.attempts !== String(attempts)) {
      const headings = ["Select", "Task", "Queue", ...Array.from({ length: attempts }, (_, i) => `Attempt ${i + 1}`)];
      const t = table("dlq-tasks", headings, `Tasks of ${this.label(group)}, each attempt's error`);
      this.detailBody = t.body;
      this.detail.dataset.key = group.key;
      this.detail.dataset.attempts = String(attempts);
      this.detail.replaceChildren(el("h2", {}, `${group.tasks.length} × ${this.label(group)}: each attempt's error`), t.wrap);
    }
    syncRows(this.detailBody, group.tasks, (t) => t.id, (t) => {
      const box = el("input", { type: "checkbox", "aria-label": "Select task " + t.id, checked: this.selected.has(t.id) });
      box.dataset.sig = "box:" + t.id + ":" + this.selected.has(t.id);
      box.addEventListener("change", () => { if (box.checked) this.selected.add(t.id); else this.selected.delete(t.id); this.draw(); });
      const errors = Array.from({ length: attempts }, (_, i) => {
        const e = t.errors[i];
        return e ? el("span", { class: "mono", title: `${e.at} on ${e.worker_id || "?"}` }, e.message) : "—";
      });
      return [box, taskLink(t.id), t.queue, ...errors];
    });
  },
  async bulk(action, ids, what) {
    if (!ids.length) return;
    const verb = action === "requeue" ? "Requeue" : "Delete";
    const text = action === "requeue" ? `${verb} ${ids.length} × ${what}? They go back to pending with attempts reset.` : `${verb} ${ids.length} × ${what}? They are gone for good.`;
    if (!(await confirmAction(text, `${verb} ${ids.length}`))) return;
    await act(async () => {
      const done = await inChunks(ids, action === "requeue" ? "/v1/dlq/requeue" : "/v1/dlq/delete");
      for (const id of ids) this.selected.delete(id);
      announce(`${action === "requeue" ? "Requeued" : "Deleted"} ${done} task${done === 1 ? "" : "s"}`);
    });
  },
  onEvent(event) {
    if (event.type.startsWith("dlq.") || event.type === "task.deleted" || event.task?.status === "dead" || this.groups?.some((g) => g.tasks.some((t) => t.id === event.task?.id))) this.later();
  },
};

// MARK: Runs

const runs = {
  title: () => "Runs",
  async render(main, route) {
    this.params = route.params;
    const { wrap, body } = table("runs", ["Run", "#Tasks", "States", "Queues", "Started", "Last activity", "Span"], "Recent runs");
    this.body = body;
    this.pager = el("div");
    main.append(el("h1", {}, "Runs"), el("p", { class: "muted" }, "Agent runs, the one with the newest task first."), wrap, this.pager);
    this.later = debounced(() => this.refresh().catch(show), 500);
    await this.refresh();
  },
  async refresh() {
    const query = new URLSearchParams({ limit: "25" });
    if (this.params.get("cursor")) query.set("cursor", this.params.get("cursor"));
    const page = await api("GET", "/v1/runs?" + query);
    this.items = page.items;
    syncRows(this.body, page.items, (r) => r.run_id, (r) => [
      el("a", { href: link("run", { id: r.run_id }), class: "mono" }, r.run_id), r.total, counts(r.counts), r.queues.join(", "),
      time(r.created_at), time(r.updated_at), duration(Date.parse(r.updated_at) - Date.parse(r.created_at)),
    ]);
    this.pager.replaceChildren(pager(page.next_cursor, this.params, "runs"));
  },
  onEvent(event) { if (event.task?.run_id && !this.params.get("cursor")) this.later(); },
};

// MARK: Run trace

const run = {
  title: (route) => "Run " + route.id,
  async render(main, route, isCurrent) {
    this.id = route.id;
    this.main = main;
    this.isCurrent = isCurrent;
    this.later = debounced(() => this.refresh().catch(show), 300);
    await this.refresh();
  },
  async refresh() {
    const summary = await api("GET", "/v1/runs/" + enc(this.id));
    if (!this.isCurrent()) return;  // the operator moved on while this was loading
    const ordered = [...summary.tasks].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id < b.id ? -1 : 1));
    this.ids = new Set(ordered.map((t) => t.id));
    const open = ordered.filter((t) => cancellable.has(t.status));
    const dead = ordered.filter((t) => t.status === "dead");
    const actions = el("div", { class: "toolbar" },
      el("button", { type: "button", id: "cancel-run", class: "danger", disabled: !open.length, onclick: async () => {
        if (!(await confirmAction(`Cancel ${open.length} unfinished task${open.length === 1 ? "" : "s"} of run ${this.id}?`, "Cancel run"))) return;
        await act(async () => { for (const t of open) await api("POST", `/v1/tasks/${enc(t.id)}/cancel`).catch((e) => { if (e.status !== 409) throw e; }); }, "Run cancelled");
      } }, `Cancel run (${open.length})`),
      el("button", { type: "button", id: "requeue-run-dead", disabled: !dead.length, onclick: async () => {
        if (!(await confirmAction(`Requeue ${dead.length} dead task${dead.length === 1 ? "" : "s"} of run ${this.id}?`, "Requeue"))) return;
        await act(() => inChunks(dead.map((t) => t.id), "/v1/dlq/requeue"), "Dead tasks requeued");
      } }, `Requeue dead (${dead.length})`));
    const list = table("run-tasks", ["#", "Task", "Tool", "Reason", "Status", "#Attempts", "Worker", "Created", "Started", "Finished"], "Tasks of the run in creation order");
    syncRows(list.body, ordered, (t) => t.id, (t) => [
      ordered.indexOf(t) + 1, taskLink(t.id, t.id.slice(-8)), toolOf(t) || t.type, reasonOf(t) || "—", badge(t.status), t.attempts, t.worker_id || "—",
      time(t.created_at), time(t.started_at), time(t.finished_at),
    ]);
    this.main.replaceChildren(
      el("h1", {}, "Run ", el("span", { class: "mono" }, this.id)), counts(summary.counts), actions,
      el("h2", {}, "Trace"),
      el("p", { class: "muted" }, "One bar per task, in the lane of the worker of its last attempt: grey while it waited, each failed attempt in red ended by a mark, then the attempt that stands coloured by its outcome. Hover or focus a bar for its details."),
      el("div", { class: "trace", id: "trace" }, trace(ordered)),
      el("h2", {}, "Tasks"), list.wrap);
  },
  onEvent(event) { if (event.task && (event.task.run_id === this.id || this.ids?.has(event.task.id))) this.later(); },
};

function trace(ordered) {
  const svgNS = "http://www.w3.org/2000/svg";
  const now = Date.now();
  const at = (iso) => (iso ? Date.parse(iso) : null);
  const endOf = (t) => at(t.finished_at) ?? (t.status === "running" ? now : at(t.updated_at));
  const start = Math.min(...ordered.map((t) => at(t.created_at)));
  const end = Math.max(start + 1, ...ordered.map(endOf));
  const lanes = new Map();
  for (const t of ordered) {
    const lane = t.worker_id || "not started";
    if (!lanes.has(lane)) lanes.set(lane, []);
    lanes.get(lane).push(t);
  }
  const width = 1000, left = 8, right = 260, row = 24, laneHead = 22, axis = 26;
  const height = axis + [...lanes.values()].reduce((h, l) => h + laneHead + l.length * row, 0) + 6;
  const x = (ms) => left + ((ms - start) / (end - start)) * (width - left - right);
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "group");
  svg.setAttribute("aria-label", `Trace of ${ordered.length} tasks over ${duration(end - start)}`);
  const add = (parent, tag, attributes, text) => {
    const node = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    parent.append(node);
    return node;
  };
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const px = left + fraction * (width - left - right);
    add(svg, "line", { x1: px, x2: px, y1: axis - 6, y2: height, class: "chart-axis" });
    add(svg, "text", { x: px, y: 14, class: "chart-text", "text-anchor": fraction === 0 ? "start" : fraction === 1 ? "end" : "middle" }, "+" + duration(fraction * (end - start)));
  }
  let y = axis;
  for (const [lane, laneTasks] of lanes) {
    add(svg, "text", { x: left, y: y + 15, class: "lane-label" }, lane === "not started" ? "not started" : "worker " + lane);
    y += laneHead;
    for (const t of laneTasks) {
      const created = at(t.created_at), started = at(t.started_at), finished = endOf(t);
      const anchor = add(svg, "a", { href: link("task", { id: t.id }), class: "bar", "data-task": t.id, "data-created": t.created_at });
      const label = [toolOf(t) || t.type, reasonOf(t)].filter(Boolean).join(" — ");
      add(anchor, "title", {}, `${label} · ${t.status} · ${t.attempts} attempt${t.attempts === 1 ? "" : "s"} · ${t.id}`);
      const segment = (from, to, cls, tall) => add(anchor, "rect", {
        x: x(from), y: tall ? y + 3 : y + 5, width: Math.max(tall ? 2 : 1, x(to) - x(from)), height: tall ? 18 : 14, class: cls, rx: 2 });
      // Waiting (grey), each failed attempt (red, ended by a mark), then the attempt that
      // stands, coloured by its outcome. Entries from before attempts' starts were kept get
      // only their mark, inside the grey.
      let waitFrom = created;
      for (const e of t.errors) {
        const failedAt = at(e.at), startedAt = at(e.started_at);
        if (startedAt !== null && startedAt >= waitFrom) {
          segment(waitFrom, startedAt, "wait", false);
          segment(startedAt, failedAt, "seg-failed", true);
          waitFrom = failedAt;
        }
        add(anchor, "line", { x1: x(failedAt), x2: x(failedAt), y1: y + 1, y2: y + 23, class: "fail-mark" });
      }
      const lastFailedStart = t.errors.length ? at(t.errors[t.errors.length - 1].started_at) : null;
      const standing = started !== null && started !== lastFailedStart && !["pending", "scheduled", "retrying"].includes(t.status);
      segment(waitFrom, standing ? Math.max(waitFrom, started) : finished, "wait", false);
      if (standing) segment(started, finished, "seg-" + t.status, true);
      add(anchor, "text", { x: Math.min(x(finished) + 6, width - right + 6), y: y + 16, class: "bar-label" }, label.length > 42 ? label.slice(0, 41) + "…" : label);
      y += row;
    }
  }
  return svg;
}

// MARK: Workers

const workers = {
  title: () => "Workers",
  async render(main) {
    const { wrap, body } = table("workers", ["Worker", "Host", "#Slots", "#Busy", "Last seen", "State", "#Leased", "#Completed", "#Failed", "#Released", "#Expired", "Tools"], "Workers");
    this.body = body;
    main.append(el("h1", {}, "Workers"), el("p", { class: "muted" }, "Every worker that leased from this server, in-process or remote, with the tools it runs (an MCP server's as NAME.TOOL); gone: not seen for a while."), wrap);
    this.later = debounced(() => this.refresh().catch(show), 1000);
    await this.refresh();
    this.timer = setInterval(() => this.refresh().catch(show), 5000);
  },
  leave() { clearInterval(this.timer); },
  async refresh() {
    const items = (await api("GET", "/v1/workers")).items;
    syncRows(this.body, items, (w) => w.id, (w) => [
      el("span", { class: "mono" }, w.id), w.host || "—", w.slots ?? "—", w.busy, time(w.last_seen), badge(w.state),
      w.counters.leased, w.counters.completed, w.counters.failed, w.counters.released, w.counters.expired,
      el("span", { class: "mono" }, (w.tools || []).join(", ") || "—"),
    ]);
  },
  onEvent(event) { if (event.task) this.later(); },
};

// MARK: Locks

const locks = {
  title: () => "Locks",
  async render(main) {
    const explicit = table("locks", ["Key", "Holder", "#Fencing token", "Expires", "Time left", "Note"], "Locks");
    const keys = table("lock-keys", ["Lock key", "Held by task", "Worker", "Lease expires", "#Waiting tasks", "Note"], "Lock keys of tasks");
    this.explicitBody = explicit.body;
    this.keysBody = keys.body;
    main.append(el("h1", {}, "Locks"),
      el("p", { class: "muted" }, "Locks taken through /v1/locks, with their fencing tokens."), explicit.wrap,
      el("h2", {}, "Task lock keys"),
      el("p", { class: "muted" }, "Tasks with a lock_key run one at a time per key: the running one holds it, pending ones wait (first 1,000 of each)."), keys.wrap);
    this.later = debounced(() => this.refresh().catch(show), 300);
    await this.refresh();
    this.timer = setInterval(() => this.draw(), 1000);
  },
  leave() { clearInterval(this.timer); },
  async refresh() {
    const [held, workerList, running, pending] = await Promise.all([
      api("GET", "/v1/locks"), api("GET", "/v1/workers"), api("GET", "/v1/tasks?status=running&limit=1000"), api("GET", "/v1/tasks?status=pending&limit=1000")]);
    this.held = held.items;
    this.gone = new Set(workerList.items.filter((w) => w.state === "gone").map((w) => w.id));
    const waiting = new Map();
    for (const t of pending.items) if (t.lock_key) waiting.set(t.lock_key, (waiting.get(t.lock_key) || 0) + 1);
    const holders = running.items.filter((t) => t.lock_key);
    const keys = new Map(holders.map((t) => [t.lock_key, { key: t.lock_key, task: t, waiting: waiting.get(t.lock_key) || 0 }]));
    for (const [key, n] of waiting) if (!keys.has(key)) keys.set(key, { key, task: null, waiting: n });
    this.keys = [...keys.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
    this.draw();
  },
  draw() {
    const left = (iso) => { const ms = Date.parse(iso) - Date.now(); return ms > 0 ? duration(ms) : "expired"; };
    const goneNote = (worker) => (worker && this.gone.has(worker) ? el("span", { class: "warn" }, `worker ${worker} is gone`) : "");
    syncRows(this.explicitBody, this.held, (l) => l.key, (l) => [el("code", {}, l.key), l.holder, l.token, time(l.expires_at), left(l.expires_at), goneNote(l.holder)]);
    syncRows(this.keysBody, this.keys, (k) => k.key, (k) => [
      el("code", {}, k.key), k.task ? taskLink(k.task.id, k.task.id.slice(-8)) : "free (tasks wait their turn)", k.task?.worker_id || "—",
      k.task?.lease_expires_at ? left(k.task.lease_expires_at) : "—", k.waiting, goneNote(k.task?.worker_id),
    ]);
  },
  onEvent(event) { if (event.type.startsWith("lock.") || event.task) this.later(); },
};

export const views = { overview, queues, tasks, task, dlq, runs, run, workers, locks };
