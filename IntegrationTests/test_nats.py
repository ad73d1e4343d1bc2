"""Switchboard servers on real nats-servers (JetStream, file storage, sync_interval always):
a restart, a kill -9 under load, several servers sharing queues and locks, a server killed
mid-task, and a three-node cluster losing its stream leader under load. Each test starts its
own NATS so it may kill it."""
import asyncio
import json
import subprocess
import threading
import time

import requests

from backend_checks import (TASKS, a_killed_servers_running_task_is_rerun_by_another, all_completed, each_task_runs_once_across, echo,
                            lock_contenders_never_overlap)
from conftest import Server, get_task as task, wait_for


def stream_info(url, stream="sb_tasks"):
    """The task stream's info, asked with nats-py (an independent client)."""
    import nats

    async def ask():
        nc = await nats.connect(servers=[f"nats://{hostport}" for hostport in url.removeprefix("nats://").split(",")])
        try:
            reply = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=5)
            return json.loads(reply.data)
        finally:
            await nc.close()

    return asyncio.run(ask())


class Producer:
    """Posts batches of ten echo tasks in a thread, keeping the ids of the acknowledged ones."""

    def __init__(self, servers):
        self.servers = servers
        self.acknowledged, self.refused = [], 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        session = requests.Session()
        i = 0
        while not self.stop_event.is_set():
            batch = {"items": [echo(i + k) for k in range(10)]}
            server = self.servers[(i // 10) % len(self.servers)]
            i += 10
            try:
                response = session.post(server.base + TASKS + "/batch", json=batch, timeout=15)
            except requests.RequestException:
                self.refused += 1
                continue
            if response.status_code == 201:
                self.acknowledged.extend(item["id"] for item in response.json()["items"])
            else:
                assert response.status_code == 503, response.text
                self.refused += 1
                time.sleep(0.01)

    def stop(self):
        self.stop_event.set()
        self.thread.join()


def test_readiness_follows_nats_and_the_server_rides_out_a_restart(nats_server):
    server = Server("--backend", nats_server.url, "--workers", "1")
    try:
        ready = requests.get(server.base + "/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        durability = ready.json()["durability"]
        assert durability["survives_restart"] is True and durability["settings"]["storage"] == "file", durability
        assert any("replica" in w for w in durability["warnings"]), "one replica is worth a warning"
        nats_server.kill()
        ready = requests.get(server.base + "/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        refused = requests.post(server.base + TASKS, json=echo(0), timeout=15)
        assert refused.status_code == 503, refused.text
        nats_server.start()
        wait_for(lambda: requests.get(server.base + "/readyz", timeout=5).status_code == 200, 15, "readiness after the restart")
        created = requests.post(server.base + TASKS, json=echo(1), timeout=5)
        assert created.status_code == 201, created.text
        wait_for(lambda: task(server, created.json()["id"])["status"] == "completed", 15, "the task after the restart")
    finally:
        assert server.stop() == 0


def test_acknowledged_enqueues_survive_a_nats_crash_under_load(nats_server):
    """kill -9 of nats-server (sync_interval always) while tasks are enqueued and completed:
    every enqueue that got a 201 is still there and ends completed, each run once."""
    server = Server("--backend", nats_server.url, "--workers", "2", "--concurrency", "8",
                    "--lease-ms", "3000", "--retry-delay-ms", "100", "--max-retry-delay-ms", "500")
    producer = Producer([server])
    try:
        time.sleep(1.5)
        before = len(producer.acknowledged)
        nats_server.restart(down_for=0.5)
        time.sleep(2)
        producer.stop()
        assert before > 0 and len(producer.acknowledged) > before, "enqueues went on after the restart"
        # The outage happened under the producer: the server lost NATS and came back (calls in
        # flight wait up to 5 s for the connection, so a short outage may refuse none).
        wait_for(lambda: "NATS reconnected" in server.output(), 10, "the server to reconnect to NATS")
        wait_for(lambda: all_completed(server, producer.acknowledged), 60, "every acknowledged task to complete")
    finally:
        producer.stop()
        assert server.stop() == 0


def test_a_killed_servers_running_task_is_reaped_by_another_and_completes(nats_server):
    a_killed_servers_running_task_is_rerun_by_another(nats_server.url)


def test_two_servers_on_one_nats_share_queues_locks_and_dead_letters(nats_server, tmp_path):
    servers = [Server("--backend", nats_server.url, "--workers", "1", "--concurrency", "4", "--worker-id", f"s{i}")
               for i in range(2)]
    try:
        each_task_runs_once_across(servers)
        # A dead letter made through one server is listed and requeued through the other.
        dead = requests.post(servers[0].base + TASKS, json={"payload": {"tool_name": "fail", "input": {"retryable": False}}}, timeout=5).json()
        wait_for(lambda: any(t["id"] == dead["id"] for t in requests.get(servers[1].base + "/v1/dlq", timeout=5).json()["items"]),
                 15, "the dead letter seen by the other server")
        requeued = requests.post(servers[1].base + f"/v1/dlq/{dead['id']}/requeue", timeout=5)
        assert requeued.status_code == 200, requeued.text
        # Locks across servers: contenders in separate processes never overlap, tokens rise.
        lock_contenders_never_overlap(servers, tmp_path, contenders=4, rounds=10)
    finally:
        for s in servers:
            assert s.stop() == 0


def test_a_three_node_cluster_loses_its_stream_leader_under_load_and_nothing_acknowledged(nats_cluster):
    """R3 streams on three routed nats-servers; the task stream's leader is killed (-9) while two
    Switchboard servers take enqueues and run them: they keep serving through the election, and
    every acknowledged task completes."""
    servers = [Server("--backend", nats_cluster.url, "--nats-replicas", "3", "--workers", "1", "--concurrency", "8",
                      "--worker-id", f"c{i}", "--lease-ms", "3000", "--retry-delay-ms", "100", "--max-retry-delay-ms", "500")
               for i in range(2)]
    producer = Producer(servers)
    try:
        info = stream_info(nats_cluster.url)
        assert info["config"]["num_replicas"] == 3
        leader = info["cluster"]["leader"]
        time.sleep(1.5)
        before = len(producer.acknowledged)
        killed_at = time.time()
        nats_cluster.node(leader).kill()
        # The survivors elect a new leader within seconds; enqueues wait (503) meanwhile.
        wait_for(lambda: len(producer.acknowledged) > before + 100, 30, "enqueues acknowledged again after the leader died")
        print(f"enqueues resumed {time.time() - killed_at:.1f} s after the leader was killed")
        time.sleep(1)
        producer.stop()
        assert before > 0
        new_leader = wait_for(lambda: stream_info(nats_cluster.url)["cluster"].get("leader"), 15, "a new stream leader")
        assert new_leader != leader
        wait_for(lambda: all_completed(servers[0], producer.acknowledged), 90, "every acknowledged task to complete")
        assert all(requests.get(s.base + "/readyz", timeout=5).status_code == 200 for s in servers)
    finally:
        producer.stop()
        for s in servers:
            assert s.stop() == 0


def test_serve_over_tls_to_nats(pki, tmp_path):
    """tls:// with a private CA (--nats-ca-file): the server's certificate for localhost is checked."""
    from conftest import free_port, require_tool
    require_tool("nats-server")
    cert, key = pki.server()
    port = free_port()
    log = open(tmp_path / "nats-tls.log", "w")
    nats = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js"),
                             "--tls", "--tlscert", cert, "--tlskey", key], stdout=log, stderr=subprocess.STDOUT)
    try:
        server = Server("--backend", f"tls://localhost:{port}", "--nats-ca-file", pki.ca, "--workers", "1")
        try:
            assert requests.get(server.base + "/readyz", timeout=5).status_code == 200
            created = requests.post(server.base + TASKS, json=echo(7), timeout=5)
            assert created.status_code == 201, created.text
            done = wait_for(lambda: (t := task(server, created.json()["id"]))["status"] == "completed" and t, 15, "the task")
            assert done["result"] == {"i": 7}
        finally:
            assert server.stop() == 0
    finally:
        nats.kill()
        nats.wait()
        log.close()


def test_serve_refuses_bad_nats_settings():
    """Bad flags are refused before anything starts, with what is wrong."""
    from conftest import BINARY
    for args, says in [(["--backend", "nats://"], "backend"), (["--backend", "nats://127.0.0.1:4222", "--nats-replicas", "2"], "nats-replicas"),
                       (["--backend", "nats://127.0.0.1:4222", "--nats-prefix", "a.b"], "nats-prefix"),
                       (["--backend", "mqtt://x"], "unknown backend")]:
        result = subprocess.run([BINARY, "serve", *args], capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and says in result.stderr, (args, result.stderr)
