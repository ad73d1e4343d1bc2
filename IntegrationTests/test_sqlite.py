"""The durable embedded default (the sqlite backend) through the real binary: restarts (SIGTERM
and kill -9 under load), a full disk answering 507, a corrupt or already-open file refused at
start, an online backup, the size in /metrics. (The fault harness kills the server under load
with workers and checks every acknowledgement too: test_faults.py.)"""
import os
import signal
import subprocess
import threading

import requests

from conftest import BINARY, Server, get_task, wait_for

JSON = {"Content-Type": "application/json"}


def start(data_dir, *args):
    return Server("--workers", "0", *args, env={"SWITCHBOARD_DATA_DIR": str(data_dir)})


def enqueue(server, **body):
    body.setdefault("payload", {"tool_name": "echo", "input": 1})
    response = requests.post(server.base + "/v1/tasks", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_default_backend_keeps_queued_tasks_and_dead_letters_across_a_restart(tmp_path):
    server = start(tmp_path)
    try:
        ready = requests.get(server.base + "/readyz").json()
        assert ready["durability"]["survives_restart"] is True
        assert "SQLite file" in ready["durability"]["settings"]["storage"]
        assert ready["durability"]["settings"]["synchronous"] == "FULL"
        queued = [enqueue(server, queue="work", payload={"tool_name": "echo", "input": i})["id"] for i in range(20)]
        doomed = enqueue(server, queue="doomed", max_retries=0)["id"]
        lease = requests.post(server.base + "/v1/leases", json={"worker_id": "w", "queues": ["doomed"], "max_tasks": 1}).json()
        failed = requests.post(f"{server.base}/v1/leases/{lease['items'][0]['lease_id']}/fail",
                               json={"error": "broken", "retryable": False})
        assert failed.status_code == 200, failed.text
        assert requests.post(server.base + "/v1/queues/work/pause").status_code == 200
    finally:
        assert server.stop() == 0
    assert os.path.exists(tmp_path / "switchboard.sqlite")

    server = start(tmp_path)
    try:
        items = requests.get(server.base + "/v1/tasks", params={"queue": "work", "limit": 100}).json()["items"]
        assert [t["id"] for t in items] == queued and all(t["status"] == "pending" for t in items)
        dead = requests.get(server.base + "/v1/dlq").json()["items"]
        assert [t["id"] for t in dead] == [doomed] and dead[0]["error"] == "broken"
        work = [q for q in requests.get(server.base + "/v1/queues").json()["items"] if q["name"] == "work"][0]
        assert work["paused"] is True
        metrics = requests.get(server.base + "/metrics").text
        size = [line for line in metrics.splitlines() if line.startswith("switchboard_storage_bytes ")]
        assert size and float(size[0].split()[1]) > 0
    finally:
        assert server.stop() == 0


def test_kill_9_under_load_loses_no_acknowledged_enqueue_and_leased_tasks_come_back(tmp_path):
    server = start(tmp_path, "--lease-grace-ms", "0")
    acknowledged, stop = [], threading.Event()

    def produce(n):
        session = requests.Session()
        i = 0
        while not stop.is_set():
            try:
                response = session.post(server.base + "/v1/tasks", json={
                    "queue": "load", "payload": {"tool_name": "echo", "input": [n, i]}}, timeout=5)
            except requests.RequestException:
                return
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
            i += 1

    producers = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for thread in producers:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 300, 30, "some acknowledged enqueues")
    # A lease and a completion acknowledged before the kill: both must be there after it.
    leased = requests.post(server.base + "/v1/leases", json={
        "worker_id": "w", "queues": ["load"], "max_tasks": 10, "lease_ms": 1000}).json()["items"]
    completed, running = leased[0], leased[1:]
    done = requests.post(f"{server.base}/v1/leases/{completed['lease_id']}/complete", json={"result": {"ok": True}})
    assert done.status_code == 200, done.text
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    stop.set()
    for thread in producers:
        thread.join()
    server.log.close()

    server = start(tmp_path, "--lease-grace-ms", "0")
    try:
        found = {}
        cursor = None
        while True:
            params = {"queue": "load", "limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = requests.get(server.base + "/v1/tasks", params=params).json()
            found.update({t["id"]: t for t in page["items"]})
            cursor = page.get("next_cursor")
            if not cursor:
                break
        missing = [i for i in acknowledged if i not in found]
        assert not missing, f"{len(missing)} acknowledged enqueues lost, e.g. {missing[:3]}"
        assert found[completed["task"]["id"]]["status"] == "completed"
        assert found[completed["task"]["id"]]["result"] == {"ok": True}
        # The leases held at the kill run out and are reaped like any: the tasks are retried.
        for lease in running:
            wait_for(lambda: get_task(server, lease["task"]["id"])["status"] in ("retrying", "pending"), 15,
                     "a lease held at the kill reaped")
    finally:
        assert server.stop() == 0


def test_a_full_disk_answers_507_keeps_what_was_acknowledged_and_serves_reads(tmp_path):
    server = start(tmp_path, "--sqlite-max-bytes", str(384 * 1024))
    acknowledged, refused = [], None
    try:
        for i in range(2000):
            response = requests.post(server.base + "/v1/tasks", json={
                "queue": "big", "payload": {"tool_name": "echo", "input": "x" * 4000, "i": i}})
            if response.status_code != 201:
                refused = response
                break
            acknowledged.append(response.json()["id"])
        assert refused is not None, "the limit was reached"
        assert refused.status_code == 507
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["status"] == 507 and "full" in problem["detail"]
        # Reads go on: the tasks, the queue, the health.
        assert get_task(server, acknowledged[-1])["status"] == "pending"
        depth = [q for q in requests.get(server.base + "/v1/queues").json()["items"] if q["name"] == "big"][0]["depth"]
        assert depth["pending"] == len(acknowledged)
        assert requests.get(server.base + "/healthz").status_code == 200
        assert requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "echo"}}).status_code == 507
    finally:
        assert server.stop() == 0
    server = start(tmp_path)
    try:
        depth = [q for q in requests.get(server.base + "/v1/queues").json()["items"] if q["name"] == "big"][0]["depth"]
        assert depth["pending"] == len(acknowledged), "every acknowledged task, and nothing refused"
        assert enqueue(server)["status"] == "pending", "room again: writes are taken"
    finally:
        assert server.stop() == 0


def serve_fails(data_dir, *args):
    result = subprocess.run([BINARY, "serve", "--port", "0", *args], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, SWITCHBOARD_DATA_DIR=str(data_dir)))
    assert result.returncode != 0
    return result.stderr


def test_a_corrupt_file_and_a_file_in_use_are_refused_at_start_with_a_clear_message(tmp_path):
    server = start(tmp_path)
    try:
        for i in range(300):
            enqueue(server, payload={"tool_name": "echo", "input": "y" * 200, "i": i})
        said = serve_fails(tmp_path)
        assert "in use by another switchboard process" in said and f"pid {server.process.pid}" in said
    finally:
        assert server.stop() == 0
    path = tmp_path / "switchboard.sqlite"
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(8192)
        f.write(b"\xa5" * (size - 8192))
    said = serve_fails(tmp_path)
    assert "is corrupt" in said and "backup" in said, said


def test_backup_while_serving_gives_a_database_that_starts(tmp_path):
    live, copy = tmp_path / "live", tmp_path / "copy.sqlite"
    server = start(live)
    try:
        ids = [enqueue(server, queue="kept")["id"] for _ in range(25)]
        result = subprocess.run([BINARY, "backup", str(copy)], capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, SWITCHBOARD_DATA_DIR=str(live)))
        assert result.returncode == 0, result.stderr
        again = subprocess.run([BINARY, "backup", "--data-dir", str(live), str(copy)], capture_output=True, text=True, timeout=60)
        assert again.returncode != 0 and "exists already" in again.stderr
        enqueue(server, queue="kept")
    finally:
        assert server.stop() == 0
    restored = Server("--workers", "0", "--backend", f"sqlite:{copy}")
    try:
        items = requests.get(restored.base + "/v1/tasks", params={"queue": "kept"}).json()["items"]
        assert [t["id"] for t in items] == ids
    finally:
        assert restored.stop() == 0


def test_bad_sqlite_options_are_refused(tmp_path):
    assert "sqlite-synchronous" in serve_fails(tmp_path, "--sqlite-synchronous", "sometimes")
    assert "sqlite-max-bytes" in serve_fails(tmp_path, "--sqlite-max-bytes", "-1")
    assert "needs a path" in serve_fails(tmp_path, "--backend", "sqlite:")
    assert "data-dir" in serve_fails(tmp_path, "--data-dir", "")
    missing = subprocess.run([BINARY, "backup", "--database", str(tmp_path / "none.sqlite"), str(tmp_path / "c.sqlite")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "no such file" in missing.stderr
