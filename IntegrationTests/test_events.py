"""`GET /v1/events` as server-sent events against the live binary: events arrive as they happen,
a reconnect with Last-Event-ID resumes where it stopped, and an open stream does not hold up a
clean shutdown."""
import json
import time

import requests

from conftest import Server


class EventStream:
    """A minimal SSE reader over a streamed response: yields (id, data) per event."""

    def __init__(self, base, last_event_id=None):
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.response = requests.get(base + "/v1/events", headers=headers, stream=True, timeout=10)
        assert self.response.status_code == 200
        assert self.response.headers["Content-Type"].startswith("text/event-stream")
        self.lines = self.response.iter_lines(decode_unicode=True)

    def next(self):
        event_id, data = None, []
        for line in self.lines:
            if line == "":
                if data:
                    return event_id, json.loads("\n".join(data))
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                event_id = value
            elif field == "data":
                data.append(value)
        raise AssertionError("the stream ended")

    def until(self, predicate, limit=50):
        for _ in range(limit):
            event_id, data = self.next()
            if predicate(data):
                return event_id, data
        raise AssertionError("no such event")

    def close(self):
        self.response.close()


def test_events_stream_live_and_resume_after_a_reconnect():
    server = Server("--workers", "0")
    try:
        stream = EventStream(server.base)
        ready_id, ready = stream.next()
        assert ready["type"] == "ready"
        started = time.time()
        task = requests.post(server.base + "/v1/tasks", json={"queue": "live", "payload": {"tool_name": "echo"}}).json()
        event_id, created = stream.until(lambda e: e["type"] == "task.created")
        assert created["task"]["id"] == task["id"] and created["task"]["status"] == "pending"
        assert time.time() - started < 5, "pushed, not polled"
        stream.close()

        # While nobody listens, two things happen; a reconnect with the last id gets both, in order.
        requests.post(server.base + "/v1/queues/live/pause").raise_for_status()
        requests.post(server.base + f"/v1/tasks/{task['id']}/cancel").raise_for_status()
        again = EventStream(server.base, last_event_id=event_id)
        _, paused = again.until(lambda e: e["type"] != "ready")
        _, cancelled = again.next()
        assert paused["type"] == "queue.paused" and paused["queue"] == "live"
        assert cancelled["type"] == "task.updated" and cancelled["task"]["status"] == "cancelled"
        again.close()

        # An id from an earlier run of the server: told to reload.
        stale = EventStream(server.base, last_event_id="old-7")
        _, first = stale.next()
        assert first["type"] == "reset"
        # And an open stream does not hold up the shutdown.
        started = time.time()
        assert server.stop() == 0
        assert time.time() - started < 10
        stale.close()
    finally:
        server.stop()
