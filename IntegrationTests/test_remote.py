"""Remote workers: `switchboard worker` processes and the Python example against `serve`."""
import os
import signal
import subprocess
import sys
import threading
import time

import requests

from conftest import BINARY, ROOT, Server, get_task as task, stop_process, wait_for

TASKS = "/v1/tasks"


class WorkerProcess:
    def __init__(self, server, worker_id, *args):
        self.log_path = os.path.join(ROOT, ".build", f"live-worker-{worker_id}-{server.port}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [BINARY, "worker", "--server", server.base, "--id", worker_id, "--wait-ms", "2000", *args],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        return stop_process(self.process, self.log, sig, timeout)


def sleep_task(ms, **extra):
    return {"payload": {"tool_name": "sleep", "input": {"ms": ms}}, **extra}


def test_two_worker_processes_share_a_batch():
    server = Server("--workers", "0")
    workers = [WorkerProcess(server, f"rw-{i}", "--concurrency", "4") for i in range(2)]
    try:
        ids = []
        for _ in range(10):
            batch = {"items": [sleep_task(5) for _ in range(20)]}
            ids += [t["id"] for t in requests.post(server.base + TASKS + "/batch", json=batch, timeout=10).json()["items"]]
        wait_for(lambda: all(task(server, i)["status"] == "completed" for i in ids), 60, "every task to complete")
        runs = [task(server, i) for i in ids]
        assert all(t["attempts"] == 1 for t in runs)
        assert {t["worker_id"] for t in runs} == {"rw-0", "rw-1"}, "both workers ran tasks"
        seen = {w["id"]: w for w in requests.get(server.base + "/v1/workers", timeout=5).json()["items"]}
        assert seen["rw-0"]["slots"] == 4 and seen["rw-0"]["state"] == "active"
        assert seen["rw-0"]["counters"]["completed"] + seen["rw-1"]["counters"]["completed"] == 200
    finally:
        for w in workers:
            assert w.stop() == 0
        assert server.stop() == 0


def test_a_killed_worker_s_task_completes_on_the_other_after_its_lease():
    server = Server("--workers", "0", "--retry-delay-ms", "100", "--max-retry-delay-ms", "100")
    first = WorkerProcess(server, "doomed", "--lease-ms", "1000")
    second = None
    try:
        created = requests.post(server.base + TASKS, json=sleep_task(1500), timeout=5).json()
        wait_for(lambda: task(server, created["id"])["status"] == "running", 10, "the first run")
        first.stop(sig=signal.SIGKILL)
        second = WorkerProcess(server, "survivor")
        done = wait_for(lambda: (t := task(server, created["id"]))["status"] == "completed" and t, 30, "the rerun")
        assert done["attempts"] == 2 and done["worker_id"] == "survivor"
        assert done["errors"][0]["worker_id"] == "doomed" and "lease expired" in done["errors"][0]["message"]
        gone = {w["id"]: w for w in requests.get(server.base + "/v1/workers", timeout=5).json()["items"]}["doomed"]
        assert gone["counters"]["expired"] == 1
    finally:
        first.stop(sig=signal.SIGKILL)
        if second:
            assert second.stop() == 0
        assert server.stop() == 0


def test_a_late_complete_from_a_stale_lease_is_refused():
    server = Server("--workers", "0", "--retry-delay-ms", "0", "--max-retry-delay-ms", "0")
    try:
        created = requests.post(server.base + TASKS, json=sleep_task(1), timeout=5).json()
        zombie = requests.post(server.base + "/v1/leases", json={"worker_id": "zombie", "lease_ms": 200}, timeout=5).json()
        stale = zombie["items"][0]["lease_id"]
        time.sleep(0.3)
        fresh = wait_for(lambda: requests.post(server.base + "/v1/leases", json={"worker_id": "healthy"},
                                               timeout=5).json()["items"], 10, "the redelivery")
        late = requests.post(f"{server.base}/v1/leases/{stale}/complete", json={"result": "late"}, timeout=5)
        assert late.status_code == 409 and late.headers["content-type"] == "application/problem+json"
        assert task(server, created["id"])["status"] == "running", "the late complete changed nothing"
        done = requests.post(f"{server.base}/v1/leases/{fresh[0]['lease_id']}/complete", json={"result": "on time"}, timeout=5)
        assert done.json()["result"] == "on time" and done.json()["attempts"] == 2
    finally:
        assert server.stop() == 0


def test_sigterm_drains_a_worker():
    server = Server("--workers", "0")
    worker = WorkerProcess(server, "drainer")
    try:
        created = requests.post(server.base + TASKS, json=sleep_task(1500), timeout=5).json()
        wait_for(lambda: task(server, created["id"])["status"] == "running", 10, "the run")
        started = time.time()
        assert worker.stop(sig=signal.SIGTERM) == 0
        assert time.time() - started >= 0.5, "the worker waited for its task"
        done = task(server, created["id"])
        assert done["status"] == "completed" and done["attempts"] == 1
    finally:
        worker.stop()
        assert server.stop() == 0


def test_a_long_poll_lease_returns_as_soon_as_a_task_is_enqueued():
    server = Server("--workers", "0")
    try:
        answer = {}

        def lease():
            answer["response"] = requests.post(server.base + "/v1/leases",
                                               json={"worker_id": "poller", "wait_ms": 20000}, timeout=30)
            answer["at"] = time.monotonic()

        poller = threading.Thread(target=lease)
        poller.start()
        time.sleep(0.3)
        enqueued_at = time.monotonic()
        requests.post(server.base + TASKS, json=sleep_task(1), timeout=5)
        poller.join(timeout=25)
        assert len(answer["response"].json()["items"]) == 1
        assert answer["at"] - enqueued_at < 0.5, "woken by the enqueue, not by the 20 s wait"
    finally:
        assert server.stop() == 0


def test_completions_carried_on_a_long_poll_land_at_once():
    server = Server("--workers", "0")
    try:
        created = requests.post(server.base + TASKS, json=sleep_task(1), timeout=5).json()
        lease = requests.post(server.base + "/v1/leases", json={"worker_id": "carrier"}, timeout=5).json()["items"][0]
        answer = {}

        def lease_carrying():
            answer["response"] = requests.post(server.base + "/v1/leases", json={
                "worker_id": "carrier", "wait_ms": 20000, "complete": [{"lease_id": lease["lease_id"], "result": {"ok": 1}}]},
                timeout=30)

        poller = threading.Thread(target=lease_carrying)
        poller.start()
        # The queue is empty, so the call long-polls; its completion landed before it began waiting.
        wait_for(lambda: task(server, created["id"])["status"] == "completed", 5, "the carried completion")
        assert poller.is_alive(), "still waiting for work"
        requests.post(server.base + TASKS, json=sleep_task(1), timeout=5)
        poller.join(timeout=25)
        body = answer["response"].json()
        assert [c["status"] for c in body["completed"]] == [200]
        assert len(body["items"]) == 1
        assert task(server, created["id"])["result"] == {"ok": 1}
    finally:
        assert server.stop() == 0


def test_the_python_example_worker():
    server = Server("--workers", "0")
    example = subprocess.Popen([sys.executable, os.path.join(ROOT, "Examples", "PythonWorker", "python_worker.py"),
                                "--server", server.base, "--id", "py-1"])
    try:
        def enqueue(tool, data):
            body = {"payload": {"tool_name": tool, "input": data}}
            return requests.post(server.base + TASKS, json=body, timeout=5).json()["id"]

        upper = enqueue("upper", {"text": "hello"})
        # Longer than its 5 s lease: it completes only because the worker heartbeats.
        slow = enqueue("slow", {"seconds": 6})
        unknown = enqueue("nope", {})
        assert wait_for(lambda: task(server, upper)["status"] == "completed", 20, "upper")
        assert task(server, upper)["result"] == {"text": "HELLO"}
        assert wait_for(lambda: task(server, unknown)["status"] == "dead", 20, "the unknown tool")
        assert "no tool" in task(server, unknown)["error"]
        done = wait_for(lambda: (t := task(server, slow))["status"] == "completed" and t, 30, "slow")
        assert done["attempts"] == 1 and done["worker_id"] == "py-1"
    finally:
        example.kill()
        example.wait()
        assert server.stop() == 0


def test_the_swift_example_app_runs_its_own_tool():
    server = Server("--workers", "0")
    example = subprocess.Popen([os.path.join(ROOT, ".build", "debug", "remote-worker-example"), server.base],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = {"payload": {"tool_name": "word_count", "input": {"text": "one two  three"}}}
        task_id = requests.post(server.base + TASKS, json=body, timeout=5).json()["id"]
        done = wait_for(lambda: (t := task(server, task_id))["status"] == "completed" and t, 20, "word_count")
        assert done["result"] == {"words": 3} and done["worker_id"] == "word-counter"
        example.send_signal(signal.SIGTERM)
        assert example.wait(timeout=20) == 0
    finally:
        if example.poll() is None:
            example.kill()
            example.wait()
        assert server.stop() == 0


def test_sigterm_ends_long_polls_instead_of_waiting_them_out():
    server = Server("--workers", "0")
    answers = {}

    def poll(name, path, body):
        try:
            answers[name] = requests.post(server.base + path, json=body, timeout=30)
        except requests.RequestException as error:
            answers[name] = error

    requests.post(server.base + "/v1/locks/busy/acquire", json={"holder": "a", "ttl_ms": 60000}, timeout=5)
    pollers = [threading.Thread(target=poll, args=("lease", "/v1/leases", {"worker_id": "w", "wait_ms": 20000})),
               threading.Thread(target=poll, args=("lock", "/v1/locks/busy/acquire",
                                                   {"holder": "b", "ttl_ms": 1000, "wait_ms": 20000}))]
    for p in pollers:
        p.start()
    time.sleep(0.5)
    started = time.time()
    assert server.stop() == 0
    assert time.time() - started < 5, "the long-polls did not hold up the shutdown"
    for p in pollers:
        p.join(timeout=10)
    assert answers["lease"].status_code == 200 and answers["lease"].json()["items"] == []
    # Still held when the wait was cut short: refused as any wait that ends without the lock.
    assert answers["lock"].status_code in (409, 503)


def test_admin_subcommands_use_the_api():
    import json

    server = Server("--workers", "0")

    def cli(*args, ok=True):
        result = subprocess.run([BINARY, *args, "--server", server.base], capture_output=True, text=True, timeout=30)
        assert (result.returncode == 0) == ok, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else result.stderr

    try:
        created = cli("task", "enqueue", "echo", "--input", '{"n": 1}', "--queue", "ops", "--run-id", "r-1")
        assert created["status"] == "pending" and created["run_id"] == "r-1"
        assert cli("task", "get", created["id"])["id"] == created["id"]
        assert [t["id"] for t in cli("task", "list", "--queue", "ops")["items"]] == [created["id"]]
        assert cli("task", "cancel", created["id"])["status"] == "cancelled"
        assert "404" in cli("task", "get", "no-such-task", ok=False)
        assert "status" in cli("task", "list", "--status", "bogus", ok=False)

        doomed = requests.post(server.base + TASKS, json={"queue": "ops", "payload": {"tool_name": "fail"}}, timeout=5).json()
        lease = requests.post(server.base + "/v1/leases", json={"worker_id": "w", "queues": ["ops"]}, timeout=5).json()["items"][0]
        requests.post(f"{server.base}/v1/leases/{lease['lease_id']}/fail", json={"error": "x", "retryable": False}, timeout=5)
        assert [t["id"] for t in cli("dlq", "list")["items"]] == [doomed["id"]]
        assert cli("dlq", "requeue", doomed["id"])["status"] == "pending"
        assert cli("dlq", "requeue", "--queue", "ops") == {"requeued": 0}
        assert cli("dlq", "purge") == {"deleted": 0}

        token = requests.post(server.base + "/v1/locks/k1/acquire", json={"holder": "h", "ttl_ms": 60000}, timeout=5).json()["token"]
        assert [l["key"] for l in cli("lock", "list")["items"]] == ["k1"]
        assert cli("lock", "get", "k1")["token"] == token
        cli("lock", "release", "k1", "--holder", "h", "--fencing-token", str(token))
        assert "not held" in cli("lock", "get", "k1", ok=False)
    finally:
        assert server.stop() == 0


def test_a_long_poll_whose_client_went_away_leases_nothing():
    import json
    import socket

    server = Server("--workers", "0")
    try:
        body = json.dumps({"worker_id": "ghost", "wait_ms": 20000}).encode()
        ghost = socket.create_connection(("127.0.0.1", server.port))
        ghost.sendall(b"POST /v1/leases HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.3)
        ghost.close()  # the worker is gone while its long-poll waits
        time.sleep(0.3)
        created = requests.post(server.base + TASKS, json=sleep_task(1), timeout=5).json()
        time.sleep(0.3)
        assert task(server, created["id"])["status"] == "pending", "not leased to a client that is gone"
        leased = requests.post(server.base + "/v1/leases", json={"worker_id": "alive"}, timeout=5).json()["items"]
        assert leased[0]["task"]["attempts"] == 1
    finally:
        assert server.stop() == 0


def test_a_lock_wait_whose_client_went_away_takes_nothing():
    import json
    import socket

    server = Server("--workers", "0")
    try:
        held = requests.post(server.base + "/v1/locks/res/acquire", json={"holder": "a", "ttl_ms": 60000}, timeout=5).json()
        body = json.dumps({"holder": "ghost", "ttl_ms": 60000, "wait_ms": 20000}).encode()
        ghost = socket.create_connection(("127.0.0.1", server.port))
        ghost.sendall(b"POST /v1/locks/res/acquire HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.3)
        ghost.close()
        time.sleep(0.3)
        requests.post(server.base + "/v1/locks/res/release", json={"holder": "a", "token": held["token"]}, timeout=5)
        time.sleep(0.3)
        assert requests.get(server.base + "/v1/locks/res", timeout=5).status_code == 404, "not granted to a client that is gone"
    finally:
        assert server.stop() == 0
