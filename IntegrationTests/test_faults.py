"""The fault harness (faults/): its checker and proxy on their own, the partition case live, and
short seeded runs of the whole harness on memory and on Redis (CI's form; longer runs:
`python3 IntegrationTests/faults/harness.py --help`)."""
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import BINARY, ROOT, Server, get_task, require_tool, stop_process, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "faults"))
from checker import Execution, History, check, read_worker_log  # noqa: E402
from harness import run_once  # noqa: E402
from proxy import FaultProxy  # noqa: E402


def record(status="completed", attempts=1, max_retries=3, releases=0, result=None):
    return {"status": status, "attempts": attempts, "max_retries": max_retries, "releases": releases, "result": result}


def clean_history():
    """Two tasks of one lock key run one after the other, tokens rising; an echo completed once."""
    h = History()
    h.acknowledged = {"k1": ["t1"], "k2": ["t2", "t2"], "k3": ["t3"]}
    h.submitted = {"t3": {"kind": "echo", "input": {"i": 3}}}
    h.final = {"t1": record(), "t2": record(), "t3": record(result={"i": 3})}
    h.executions = [
        Execution("w1", "t1", "l1", start=1000, end=1500, lock_key="k", token=1, attempt=1, outcome="succeeded", accepted=True),
        Execution("w2", "t2", "l2", start=1600, end=2000, lock_key="k", token=2, attempt=1, outcome="succeeded", accepted=True),
        Execution("w1", "t3", "l3", start=1000, end=1001, attempt=1, outcome="succeeded", accepted=True),
    ]
    return h


def test_the_checker_passes_a_clean_history_and_names_each_violation():
    assert check(clean_history()) == []

    def violations(change):
        h = clean_history()
        change(h)
        found = check(h)
        assert len(found) >= 1, "the checker missed it"
        return " | ".join(found)

    assert "lost" in violations(lambda h: h.final.update(t1=None))
    assert "lost" in violations(lambda h: h.final.update(t1=record(status="running")))
    assert "idempotency" in violations(lambda h: h.acknowledged.update(k1=["t1", "t9"]))
    assert "completed twice" in violations(lambda h: h.executions.append(
        Execution("w3", "t3", "l9", start=1200, end=1300, attempt=2, outcome="succeeded", accepted=True)))
    assert "attempts" in violations(lambda h: h.final.update(t1=record(attempts=5, max_retries=3)))
    assert "results" in violations(lambda h: h.final.update(t3=record(result={"i": 4})))

    def overlap(earlier_outcome, accepted, later_token=2, frozen=False, killed=None):
        def change(h):
            h.executions[0].end, h.executions[0].outcome, h.executions[0].accepted = 1800, earlier_outcome, accepted
            h.executions[1].token = later_token
            if frozen:
                h.freezes["w1"] = [(1100, 1700)]
            if killed:
                h.kills["w1"] = [killed]
        return change

    # The earlier holder's outcome was accepted while the later ran: two holders at once.
    assert "two holders" in violations(overlap("succeeded", True, frozen=True))
    # Fenced, but its worker ran all along: it should have stopped before its lease could go.
    assert "never frozen" in violations(overlap("fenced", None))
    # The same token twice.
    assert "without distinct tokens" in violations(overlap("fenced", None, later_token=1, frozen=True))
    # The later-started handler holds the older lease (its worker froze between lease and start)
    # and its outcome was accepted: two holders.
    assert "two holders" in violations(overlap("fenced", None, later_token=0, frozen=True))

    def zombie_starts_late(h):
        overlap("succeeded", True, later_token=0)(h)
        h.executions[1].outcome, h.executions[1].accepted = "fenced", None
        h.freezes["w2"] = [(900, 1600)]
    # ...and the same with the older one frozen, then fenced: allowed.
    h = clean_history()
    zombie_starts_late(h)
    assert check(h) == []
    # Frozen past its lease, woken, fenced, refused: allowed (the token protects the resource).
    h = clean_history()
    overlap("fenced", None, frozen=True)(h)
    assert check(h) == []
    # Killed before the later started: no overlap at all.
    h = clean_history()
    overlap("succeeded", None, killed=1550)(h)
    h.executions[0].end = None
    assert check(h) == []
    # A token handed out twice.
    assert "tokens" in violations(lambda h: setattr(h.executions[1], "token", 1))

    # Retries of a burst bunched into one 100 ms bucket, and spread over seconds.
    h = clean_history()
    h.burst = [f"b{i}" for i in range(100)]
    h.executions += [Execution("w1", f"b{i}", f"lb{i}", start=5000 + i % 7, attempt=2, end=5010) for i in range(100)]
    assert "retry spread" in " ".join(check(h))
    rng = random.Random(1)
    h.executions = [e for e in h.executions if not e.task_id.startswith("b")]
    h.executions += [Execution("w1", f"b{i}", f"lb{i}", start=5000 + rng.randrange(20_000), attempt=2, end=0) for i in range(100)]
    for e in h.executions[-100:]:
        e.end = e.start + 1
    assert check(h) == []


def test_the_worker_log_reader_pairs_starts_ends_and_deliveries():
    lines = [
        '{"ts":"2026-11-30T00:00:01.000Z","message":"handler started","task_id":"t","lease_id":"l","attempt":"2",'
        '"lock_key":"k","fencing_token":"7"}',
        "not json: a text line",
        '{"ts":"2026-11-30T00:00:01.250Z","message":"handler ended","task_id":"t","lease_id":"l","outcome":"fenced"}',
        '{"ts":"2026-11-30T00:00:02.000Z","message":"handler started","task_id":"u","lease_id":"m","attempt":"1",'
        '"lock_key":"","fencing_token":""}',
        '{"ts":"2026-11-30T00:00:02.100Z","message":"outcome reported","task_id":"u","lease_id":"m","accepted":"true"}',
        '{"ts":"2026-11-30T00:00:03.000Z","message":"handler sta',  # cut by kill -9
    ]
    fenced, plain = read_worker_log("w1", lines)
    assert (fenced.lock_key, fenced.token, fenced.attempt, fenced.outcome, fenced.end - fenced.start) == ("k", 7, 2, "fenced", 250)
    assert (plain.lock_key, plain.token, plain.end, plain.accepted) == ("", None, None, True)


def echo_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return

            def echo(c=connection):
                try:
                    while data := c.recv(1024):
                        c.sendall(data)
                except OSError:
                    pass
                c.close()
            threading.Thread(target=echo, daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    return server


def test_the_proxy_partitions_delays_half_opens_and_resets():
    upstream = echo_server()
    proxy = FaultProxy(upstream.getsockname()[1])
    try:
        c = socket.create_connection(("127.0.0.1", proxy.port))
        c.settimeout(1)
        c.sendall(b"one")
        assert c.recv(16) == b"one"
        proxy.partition()
        c.sendall(b"two")
        with pytest.raises(socket.timeout):
            c.recv(16)
        proxy.heal()
        assert c.recv(16) == b"two", "held across the partition, delivered intact"
        proxy.delay(300)
        started = time.time()
        c.sendall(b"three")
        assert c.recv(16) == b"three" and time.time() - started >= 0.55, "300 ms each way"
        proxy.heal()
        proxy.half_open()
        c.sendall(b"four")
        with pytest.raises(socket.timeout):
            c.recv(16)  # open, and silent
        fresh = socket.create_connection(("127.0.0.1", proxy.port))
        fresh.settimeout(1)
        fresh.sendall(b"five")
        assert fresh.recv(16) == b"five", "new connections work after a half-open"
        proxy.reset()
        with pytest.raises(OSError):
            if fresh.recv(16) == b"":
                raise ConnectionResetError("closed")
    finally:
        proxy.close()
        upstream.close()


def test_a_partitioned_worker_fences_itself_before_another_worker_takes_its_lock_keyed_task(tmp_path):
    """The partition case: a worker's connection to its server is black-holed while it runs a
    lock-keyed task under a short lease. Its heartbeats hang; it stops the handler before the
    lease can be reaped; the task is reaped and run by another worker, with a higher token,
    after the first one stopped."""
    server = Server("--workers", "0", "--retry-delay-ms", "100", "--max-retry-delay-ms", "100")
    proxy = FaultProxy(server.port)
    workers = []

    def start_worker(name, port):
        log = open(tmp_path / f"{name}.log", "w")
        process = subprocess.Popen([BINARY, "worker", "--server", f"http://127.0.0.1:{port}", "--id", name, "--lease-ms", "1500",
                                    "--wait-ms", "500", "--log-level", "debug", "--log-format", "json"],
                                   cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        workers.append((process, log))

    def executions(name):
        with open(tmp_path / f"{name}.log") as f:
            return read_worker_log(name, f)

    try:
        created = requests.post(server.base + "/v1/tasks", json={
            "payload": {"tool_name": "sleep", "input": {"ms": 6000}}, "lock_key": "repo", "timeout_ms": 20000}, timeout=5).json()
        start_worker("cut", proxy.port)
        first = wait_for(lambda: executions("cut"), 15, "the first worker's handler")[0]
        proxy.partition()
        start_worker("other", server.port)
        done = wait_for(lambda: (t := get_task(server, created["id"]))["status"] == "completed" and t, 30, "the rerun")
        # The cut-off worker's long-poll, sent before the partition, may be handed the task again
        # once it is reaped; that answer is lost in the partition and its lease runs out too (an
        # attempt more), which is at-least-once working as it should.
        assert done["worker_id"] == "other" and done["attempts"] >= 2
        assert all("lease expired" in error["message"] for error in done["errors"]), done["errors"]
        assert len(executions("cut")) == 1, "no handler ran on the cut-off side after the first"
        first = executions("cut")[0]
        second = executions("other")[-1]
        assert first.outcome == "fenced", f"the cut-off worker stopped its handler itself ({first.outcome})"
        assert first.end < second.start, "the first handler had stopped before the second started"
        assert second.token > first.token
        assert first.end - first.start < 1500, "stopped within its lease"
    finally:
        proxy.close()
        for process, log in workers:
            stop_process(process, log, timeout=10)
        assert server.stop() == 0


def test_a_half_open_connection_holds_a_worker_up_no_longer_than_its_request_timeout(tmp_path):
    """The server's side of the worker's connections vanishes without a word (a NAT dropped the
    flow): the worker's long-poll waits for nothing. It gives up after --request-timeout-ms plus
    its wait, not the HTTP client's 30 s default, and takes new work over a new connection."""
    server = Server("--workers", "0")
    proxy = FaultProxy(server.port)
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([BINARY, "worker", "--server", f"http://127.0.0.1:{proxy.port}", "--id", "w", "--wait-ms", "1000",
                               "--request-timeout-ms", "2000"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        first = requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "echo", "input": 1}}, timeout=5).json()
        wait_for(lambda: get_task(server, first["id"])["status"] == "completed", 15, "the first task")
        wait_for(lambda: proxy.open_connections > 0, 5, "the worker's long-poll")
        time.sleep(0.2)
        proxy.half_open()
        started = time.time()
        second = requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "echo", "input": 2}}, timeout=5).json()
        wait_for(lambda: get_task(server, second["id"])["status"] == "completed", 20, "the task after the half-open")
        assert time.time() - started < 10, "held up past the request timeout"
    finally:
        proxy.close()
        stop_process(worker, log, timeout=10)
        assert server.stop() == 0


def _harness(backend, tmp_path):
    seed = int(os.environ.get("SWITCHBOARD_FAULT_SEED") or random.randrange(1 << 31))
    seconds = float(os.environ.get("SWITCHBOARD_FAULT_SECONDS") or 20)
    print(f"fault harness: backend={backend} seed={seed} seconds={seconds} (replay: SWITCHBOARD_FAULT_SEED={seed})")
    summary = run_once(backend, seed, seconds, str(tmp_path / "run"))
    print(json.dumps({k: v for k, v in summary.items() if k != "violations"}))
    assert summary["violations"] == [], f"seed {seed}: " + "\n".join(summary["violations"][:20])
    assert summary["faults"] > 0 and summary["tasks"] > 100 and summary["executions"] > summary["tasks"]
    return summary


def test_the_fault_harness_finds_no_violation_on_memory(tmp_path):
    _harness("memory", tmp_path)


def test_the_fault_harness_finds_no_violation_on_sqlite_with_the_server_killed(tmp_path):
    # kill -9 of the server under load: acknowledged enqueues and completions survive the
    # restart, leased tasks come back (reaped), locks hold with rising fencing tokens.
    summary = _harness("sqlite", tmp_path)
    assert summary["fault_kinds"].get("kill_server", 0) > 0, "the run killed the server at least once"


def test_the_fault_harness_finds_no_violation_on_redis(tmp_path):
    require_tool("redis-server")
    _harness("redis", tmp_path)


def test_the_fault_harness_finds_no_violation_on_nats(tmp_path):
    require_tool("nats-server")
    _harness("nats", tmp_path)
