"""Checks the Redis and NATS live tests share: the same behaviour, asked of each backend."""
import os
import signal
import subprocess
import sys

import requests

from conftest import Server, get_task as task, wait_for

TASKS = "/v1/tasks"


def echo(i):
    return {"payload": {"tool_name": "echo", "input": {"i": i}}}


def all_completed(server, ids):
    return all(task(server, i).get("status") == "completed" for i in ids)


def a_killed_servers_running_task_is_rerun_by_another(store_url):
    """A server killed (-9) mid-task: a server started after it reaps the lease and reruns the task."""
    first = Server("--backend", store_url, "--workers", "1", "--worker-id", "first",
                   "--lease-ms", "1000", "--retry-delay-ms", "100", "--max-retry-delay-ms", "100")
    second = None
    try:
        created = requests.post(first.base + TASKS, json={"payload": {"tool_name": "sleep", "input": {"ms": 1500}}}, timeout=5).json()
        running = wait_for(lambda: (t := task(first, created["id"]))["status"] == "running" and t, 10, "the first run")
        assert running["worker_id"].startswith("first")
        first.stop(sig=signal.SIGKILL)
        second = Server("--backend", store_url, "--workers", "1", "--worker-id", "second",
                        "--retry-delay-ms", "100", "--max-retry-delay-ms", "100")
        done = wait_for(lambda: (t := task(second, created["id"]))["status"] == "completed" and t, 30, "the rerun")
        assert done["attempts"] == 2
        assert done["worker_id"].startswith("second")
        assert "lease expired" in done["errors"][0]["message"]
    finally:
        first.stop(sig=signal.SIGKILL)
        if second:
            assert second.stop() == 0


def each_task_runs_once_across(servers):
    """200 short tasks posted to the servers in turn: every one completes once, both servers run some."""
    ids = []
    for n in range(10):
        batch = {"items": [{"payload": {"tool_name": "sleep", "input": {"ms": 5}}} for _ in range(20)]}
        response = requests.post(servers[n % 2].base + TASKS + "/batch", json=batch, timeout=10)
        assert response.status_code == 201, response.text
        ids += [item["id"] for item in response.json()["items"]]
    wait_for(lambda: all_completed(servers[0], ids), 60, "all tasks to complete")
    tasks = [task(servers[1], i) for i in ids]
    assert all(t["attempts"] == 1 for t in tasks), "no task was leased twice"
    assert {t["worker_id"][:2] for t in tasks} == {"s0", "s1"}, "both servers ran tasks"


CONTENDER = r"""
import os, sys, time, requests
base, key, holder, rounds, folder = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
for _ in range(rounds):
    lease = requests.post(f"{base}/v1/locks/{key}/acquire",
                          json={"holder": holder, "ttl_ms": 10000, "wait_ms": 20000}, timeout=30)
    assert lease.status_code == 200, lease.text
    token = lease.json()["token"]
    # The critical section: a marker only one holder may create at a time.
    fd = os.open(os.path.join(folder, "inside"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    with open(os.path.join(folder, "tokens"), "a") as log:
        log.write(f"{token}\n")
    time.sleep(0.002)
    os.close(fd)
    os.unlink(os.path.join(folder, "inside"))
    released = requests.post(f"{base}/v1/locks/{key}/release", json={"holder": holder, "token": token}, timeout=10)
    assert released.status_code in (200, 204), released.text
"""


def lock_contenders_never_overlap(servers, tmp_path, contenders, rounds):
    """Contenders in separate processes, through the servers in turn, take one lock `rounds`
    times each: never two inside at once, and the fencing tokens rise with every grant."""
    script = tmp_path / "contender.py"
    script.write_text(CONTENDER)
    folder = tmp_path / "resource"
    folder.mkdir()
    processes = [subprocess.Popen([sys.executable, str(script), servers[i % len(servers)].base, "shared", f"p{i}", str(rounds), str(folder)])
                 for i in range(contenders)]
    for p in processes:
        assert p.wait(timeout=120) == 0, "a contender failed (an overlap raises FileExistsError)"
    tokens = [int(line) for line in (folder / "tokens").read_text().split()]
    total = contenders * rounds
    assert len(tokens) == total
    assert tokens == sorted(tokens) and len(set(tokens)) == total, "fencing tokens rise with every grant"
