// Follows GET /v1/events. A fetch stream rather than EventSource, because EventSource cannot send
// the bearer token. Falls back, when a stream cannot be held (a buffering proxy), to the JSON
// long-poll of the same endpoint, and when that fails too, to reloading the view every 5 s.
export class Live {
  /** `mode` starts a step down (`long-poll` or `poll`): what the page's `?live=` asks for. */
  constructor({ headers, onEvent, onReset, onStatus, onUnauthorized, mode = "stream" }) {
    Object.assign(this, { headers, onEvent, onReset, onStatus, onUnauthorized });
    this.lastID = null;
    this.paused = false;
    this.missed = 0;
    this.initialMode = ["stream", "long-poll", "poll"].includes(mode) ? mode : "stream";
    this.mode = this.initialMode;
    this.failures = 0;
    this.controller = null;
    this.running = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.loop();
  }

  stop() {
    this.running = false;
    this.controller?.abort();
    clearInterval(this.pollTimer);
    this.onStatus("stopped");
  }

  restart() {
    this.stop();
    this.mode = this.initialMode;
    this.failures = 0;
    this.start();
  }

  pause() {
    this.paused = true;
    this.missed = 0;
    this.onStatus("paused");
  }

  resume() {
    this.paused = false;
    this.onStatus(this.mode === "stream" ? "live" : this.mode === "long-poll" ? "live (long-poll)" : "polling every 5 s");
  }

  deliver(event) {
    if (event.type === "ready") {
      this.failures = 0;
      if (!this.paused) this.onStatus("live");
      return;
    }
    if (event.type === "reset") { if (!this.paused) this.onReset(); return; }
    if (this.paused) {
      this.missed += 1;
      this.onStatus(`paused (${this.missed} new)`);
      return;
    }
    this.onEvent(event);
  }

  async loop() {
    while (this.running) {
      try {
        if (this.mode === "stream") await this.stream();
        else if (this.mode === "long-poll") { await this.longPoll(); continue; }
        else { this.poll(); return; }
      } catch (error) {
        if (!this.running) return;
        if (error.status === 401) { this.onUnauthorized(); this.running = false; this.onStatus("needs a token"); return; }
        this.failures += 1;
      }
      if (!this.running) return;
      // A stream that never got going three times in a row: step down to the next way.
      if (this.failures >= 3) {
        this.mode = this.mode === "stream" ? "long-poll" : "poll";
        this.failures = 0;
        continue;
      }
      this.onStatus("reconnecting…");
      await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** this.failures, 5000)));
    }
  }

  async stream() {
    this.controller = new AbortController();
    const headers = { Accept: "text/event-stream", ...this.headers() };
    if (this.lastID) headers["Last-Event-ID"] = this.lastID;
    const response = await fetch("/v1/events", { headers, credentials: "omit", signal: this.controller.signal });
    if (!response.ok || !response.body) throw Object.assign(new Error("events: " + response.status), { status: response.status });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id = null;
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("id:")) id = line.slice(3).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        }
        if (id) this.lastID = id;
        if (data.length) this.deliver(JSON.parse(data.join("\n")));
      }
    }
    throw new Error("the event stream ended");
  }

  async longPoll() {
    this.controller = new AbortController();
    // The first call only learns where the journal stands; the next ones wait for events.
    const query = new URLSearchParams({ wait_ms: this.lastID ? "25000" : "0" });
    if (this.lastID) query.set("after", this.lastID);
    const response = await fetch("/v1/events?" + query, { headers: this.headers(), credentials: "omit", signal: this.controller.signal });
    if (!response.ok) throw Object.assign(new Error("events: " + response.status), { status: response.status });
    const answer = await response.json();
    this.failures = 0;
    if (!this.paused) this.onStatus("live (long-poll)");
    if (answer.reset) this.deliver({ type: "reset" });
    for (const event of answer.items) this.deliver(event);
    this.lastID = answer.last_event_id;
  }

  poll() {
    this.onStatus("polling every 5 s");
    clearInterval(this.pollTimer);
    this.pollTimer = setInterval(() => { if (!this.paused) this.onReset(); }, 5000);
  }
}
