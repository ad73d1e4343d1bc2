"""Switchboard servers on a real redis-server: restarts, crashes, several servers, locks across
processes. Each test starts its own redis-server (AOF, fsync always) so it may kill it."""
import os
import signal
import subprocess
import sys
import threading
import time

import requests

from conftest import Server, get_task as task, wait_for

from backend_checks import (TASKS, a_killed_servers_running_task_is_rerun_by_another, all_completed, each_task_runs_once_across, echo,
                            lock_contenders_never_overlap)


def test_readiness_follows_redis_and_the_server_rides_out_a_restart(redis_server):
    server = Server("--backend", redis_server.url, "--workers", "1")
    try:
        ready = requests.get(server.base + "/readyz", timeout=5)
        assert ready.status_code == 200
        # This redis-server keeps an append-only file and never evicts: the backend says so.
        durability = ready.json()["durability"]
        assert durability["survives_restart"] is True, durability
        assert durability["settings"]["appendonly"] == "yes" and durability["settings"]["maxmemory-policy"] == "noeviction"
        assert durability["warnings"] == []
        redis_server.kill()
        ready = requests.get(server.base + "/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        refused = requests.post(server.base + TASKS, json=echo(0), timeout=5)
        assert refused.status_code == 503, refused.text
        assert refused.json()["status"] == 503
        redis_server.start()
        wait_for(lambda: requests.get(server.base + "/readyz", timeout=5).status_code == 200, 15, "readiness after the restart")
        created = requests.post(server.base + TASKS, json=echo(1), timeout=5)
        assert created.status_code == 201, created.text
        wait_for(lambda: task(server, created.json()["id"])["status"] == "completed", 15, "the task after the restart")
    finally:
        assert server.stop() == 0


def test_acknowledged_enqueues_survive_a_redis_crash_under_load(redis_server):
    """kill -9 of redis-server (AOF, appendfsync always) while tasks are enqueued and completed:
    every enqueue that got a 201 is still there and ends completed."""
    server = Server("--backend", redis_server.url, "--workers", "2", "--concurrency", "8",
                    "--lease-ms", "2000", "--retry-delay-ms", "100", "--max-retry-delay-ms", "500")
    acknowledged, refused = [], [0]
    stop = threading.Event()

    def produce():
        session = requests.Session()
        i = 0
        while not stop.is_set():
            batch = {"items": [echo(i + k) for k in range(10)]}
            i += 10
            try:
                response = session.post(server.base + TASKS + "/batch", json=batch, timeout=10)
            except requests.RequestException:
                refused[0] += 1
                continue
            if response.status_code == 201:
                acknowledged.extend(item["id"] for item in response.json()["items"])
            else:
                assert response.status_code == 503, response.text
                refused[0] += 1
                time.sleep(0.01)

    producer = threading.Thread(target=produce)
    try:
        producer.start()
        time.sleep(1.5)
        before = len(acknowledged)
        redis_server.restart(down_for=0.5)
        time.sleep(1.5)
        stop.set()
        producer.join()
        assert before > 0 and len(acknowledged) > before, "enqueues went on after the restart"
        assert refused[0] > 0, "the outage was seen by the producer"
        wait_for(lambda: all_completed(server, acknowledged), 60, "every acknowledged task to complete")
    finally:
        stop.set()
        assert server.stop() == 0


def test_a_killed_servers_running_task_is_reaped_by_another_and_completes(redis_server):
    a_killed_servers_running_task_is_rerun_by_another(redis_server.url)


def test_two_servers_on_one_redis_run_each_task_once(redis_server):
    servers = [Server("--backend", redis_server.url, "--workers", "1", "--concurrency", "4", "--worker-id", f"s{i}")
               for i in range(2)]
    try:
        each_task_runs_once_across(servers)
    finally:
        for s in servers:
            assert s.stop() == 0


def test_lock_contenders_in_separate_processes_never_overlap(redis_server, tmp_path):
    servers = [Server("--backend", redis_server.url, "--workers", "0") for _ in range(2)]
    try:
        lock_contenders_never_overlap(servers, tmp_path, contenders=6, rounds=15)
    finally:
        for s in servers:
            assert s.stop() == 0


STALLED_HOLDER = r"""
import sys, requests
base = sys.argv[1]
lease = requests.post(f"{base}/v1/locks/res/acquire", json={"holder": "stalled", "ttl_ms": 300}, timeout=10).json()
print(lease["token"], flush=True)
sys.stdin.readline()  # SIGSTOPped here, past the TTL
renewed = requests.post(f"{base}/v1/locks/res/renew", json={"holder": "stalled", "token": lease["token"], "ttl_ms": 1000}, timeout=10)
released = requests.post(f"{base}/v1/locks/res/release", json={"holder": "stalled", "token": lease["token"]}, timeout=10)
print(renewed.status_code, released.status_code, flush=True)
"""


class FencedResource:
    """A store that accepts a write only with a token at least as high as any it has seen."""

    def __init__(self):
        self.highest = 0
        self.value = None

    def write(self, token, value):
        if token < self.highest:
            return False
        self.highest, self.value = token, value
        return True


def test_a_holder_stopped_past_its_ttl_is_fenced_out(redis_server, tmp_path):
    server = Server("--backend", redis_server.url, "--workers", "0")
    try:
        script = tmp_path / "stalled.py"
        script.write_text(STALLED_HOLDER)
        holder = subprocess.Popen([sys.executable, str(script), server.base], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        old_token = int(holder.stdout.readline())
        resource = FencedResource()
        assert resource.write(old_token, "from the first holder")
        holder.send_signal(signal.SIGSTOP)
        successor = requests.post(f"{server.base}/v1/locks/res/acquire",
                                  json={"holder": "successor", "ttl_ms": 10000, "wait_ms": 5000}, timeout=10)
        assert successor.status_code == 200, successor.text
        new_token = successor.json()["token"]
        assert new_token > old_token
        assert resource.write(new_token, "from the successor")
        holder.send_signal(signal.SIGCONT)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        renew_status, release_status = map(int, holder.stdout.readline().split())
        assert holder.wait(timeout=10) == 0
        assert (renew_status, release_status) == (409, 409), "the stalled holder's lease is gone"
        assert not resource.write(old_token, "late write"), "the late write is refused by its token"
        assert resource.value == "from the successor"
    finally:
        assert server.stop() == 0


def test_fencing_tokens_keep_rising_across_a_redis_restart(redis_server):
    server = Server("--backend", redis_server.url, "--workers", "0")
    try:
        def acquire(holder):
            response = requests.post(f"{server.base}/v1/locks/restart-key/acquire",
                                     json={"holder": holder, "ttl_ms": 10000}, timeout=10)
            assert response.status_code == 200, response.text
            return response.json()["token"]

        first = acquire("a")
        assert requests.post(f"{server.base}/v1/locks/restart-key/release",
                             json={"holder": "a", "token": first}, timeout=10).status_code in (200, 204)
        redis_server.restart()
        second = wait_for(lambda: requests.get(server.base + "/readyz", timeout=5).status_code == 200 and acquire("b"),
                          15, "a lock after the restart")
        assert second > first
    finally:
        assert server.stop() == 0


def test_serve_over_tls_to_redis():
    """rediss:// with a private CA: scripts/test.sh starts a TLS-only redis-server."""
    url, ca = os.environ.get("SWITCHBOARD_TEST_REDISS_URL"), os.environ.get("SWITCHBOARD_TEST_REDIS_CA")
    if not url or not ca:
        if os.environ.get("CI"):
            raise AssertionError("scripts/test.sh must start the TLS redis-server in CI")
        import pytest
        pytest.skip("no TLS redis-server (run through scripts/test.sh)")
    server = Server("--backend", url, "--redis-ca-file", ca, "--redis-prefix", "tls-live", "--workers", "1")
    try:
        assert requests.get(server.base + "/readyz", timeout=5).status_code == 200
        created = requests.post(server.base + TASKS, json=echo(7), timeout=5)
        assert created.status_code == 201, created.text
        done = wait_for(lambda: (t := task(server, created.json()["id"]))["status"] == "completed" and t, 15, "the task")
        assert done["result"] == {"i": 7}
    finally:
        assert server.stop() == 0


def test_a_server_whose_clock_runs_ahead_does_not_reap_live_leases(redis_server):
    """One server runs two minutes ahead (libfaketime): by its wall clock every lease of the
    others has expired. It measures its clock against Redis's TIME, says so in /readyz, and
    leaves reaping alone. The same clock under a bound wide enough to accept the skew keeps its
    time on Redis's: its leases are dated on Redis's time, and it reaps a lease only once it expired."""
    import glob
    libraries = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    if not libraries:
        import pytest
        pytest.skip("libfaketime is not installed (CI installs the faketime package)")
    ahead = {"LD_PRELOAD": libraries[0], "FAKETIME": "+120s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    # Preloaded through `timeout` (which passes SIGTERM on): spawned directly with libfaketime
    # preloaded, the binary saw no arguments on this machine.
    wrapper = ["timeout", "600"]
    honest = Server("--backend", redis_server.url, "--workers", "0")
    skewed = Server("--backend", redis_server.url, "--workers", "0", env=ahead, prefix=wrapper)
    try:
        created = requests.post(honest.base + TASKS, json=echo(0), timeout=5).json()
        leased = requests.post(honest.base + "/v1/leases", json={"worker_id": "w", "lease_ms": 30000}, timeout=5).json()
        assert [item["task"]["id"] for item in leased["items"]] == [created["id"]]
        clock = wait_for(lambda: requests.get(skewed.base + "/readyz", timeout=5).json().get("clock"), 10, "a clock measurement")
        assert clock["within_bound"] is False and 110_000 <= clock["skew_ms"] <= 130_000, clock
        # Several maintenance passes of the skewed server.
        time.sleep(3)
        assert task(honest, created["id"])["status"] == "running", "the skewed server reaped a live lease"
    finally:
        assert skewed.stop() == 0
    tolerant = Server("--backend", redis_server.url, "--workers", "0", "--max-clock-skew-ms", "600000", env=ahead, prefix=wrapper)
    try:
        wait_for(lambda: requests.get(tolerant.base + "/readyz", timeout=5).json().get("clock", {}).get("within_bound"), 10,
                 "a measurement within the wide bound")
        second = requests.post(tolerant.base + TASKS, json=echo(1), timeout=5).json()
        lease = requests.post(tolerant.base + "/v1/leases", json={"worker_id": "w", "lease_ms": 1000}, timeout=5).json()["items"][0]
        assert lease["task"]["id"] == second["id"]
        expires = rfc3339_ms(lease["expires_at"])
        assert abs(expires - (time.time() * 1000 + 1000)) < 1500, "dated on Redis's clock, not two minutes ahead"
        # Reaped: the attempt ends with a "lease expired" error. Its retry's backoff is full jitter
        # (0–1 s), so the task may be queued again before a poll sees it retrying.
        reaped = wait_for(lambda: (t := task(honest, second["id"]))["errors"] and t, 15, "the expired lease reaped")
        assert reaped["status"] in ("retrying", "queued") and "lease expired" in reaped["errors"][0]["message"], reaped
        assert task(honest, created["id"])["status"] == "running", "the live lease is left alone"
    finally:
        assert tolerant.stop() == 0
        assert honest.stop() == 0


def rfc3339_ms(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000
