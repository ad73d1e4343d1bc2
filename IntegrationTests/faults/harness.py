#!/usr/bin/env python3
"""The fault harness: a Switchboard cluster of real processes under a seeded nemesis, then the
checker (checker.py) over what happened.

    python3 IntegrationTests/faults/harness.py --backend redis --seed 7 --duration 60 --runs 3

Producers enqueue with idempotency keys (retrying until acknowledged); worker processes
(`switchboard worker`, debug JSON logs) run echo, sleep and fail tools, lock-keyed sleeps among
them; once the faults are over and that work has drained, a burst of failing tasks tests the
retry spread. The nemesis picks, at random, one fault at a time among: kill -9 of a worker, SIGSTOP/SIGCONT of a worker,
SIGTERM of a worker (a rolling deploy), a partition, delay, half-open or reset of a worker's
connection to its server (our TCP proxy, proxy.py); with Redis or NATS (two servers on the one
store) also kill -9 of a server, a kill -9 and restart of the store (Redis: AOF, fsync always;
NATS: JetStream, sync_interval always), the same proxy faults between a server and its store,
and a step of one server's clock (libfaketime, when installed). Then everything is healed, the tasks drain, and the checker runs.
A failing run prints its seed; the same seed replays the same workload and fault schedule
(timing differs). Needs the debug build (`swift build`) and redis-server or nats-server.
"""
import argparse
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from checker import History, check, read_worker_log, retry_spread_figure  # noqa: E402
from proxy import FaultProxy  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
BINARY = os.path.join(ROOT, ".build", "debug", "switchboard")
LEASE_MS = 1500
LOCK_KEYS = ["repo-a", "repo-b", "repo-c"]
BURST = 150
BURST_RETRIES = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ms():
    return int(time.time() * 1000)


class Process:
    """One process of the cluster, restartable under the same name and log (appended)."""

    def __init__(self, name, args, log_path, env=None, ready=None):
        self.name, self.args, self.log_path, self.env, self.ready = name, args, log_path, env, ready
        self.process = None
        self.frozen = False

    def start(self):
        with open(self.log_path, "a") as log:
            # A session of its own, so that kill -9 reaches a wrapper's child too (`timeout`).
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                            env=dict(os.environ, **(self.env or {})), start_new_session=True)
        self.frozen = False
        if self.ready:
            deadline = time.time() + 30
            while not self.ready():
                if self.process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"{self.name} did not start; see {self.log_path}")
                time.sleep(0.05)

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    def signal(self, sig):
        if self.alive:
            self.process.send_signal(sig)

    def kill(self):
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.frozen = False

    def stop(self, timeout=30):
        if self.frozen:
            self.signal(signal.SIGCONT)
            self.frozen = False
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode if self.process else None


def port_answers(port, probe=b"PING\r\n", expect=b"+PONG"):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(probe)
            return s.recv(64).startswith(expect)
    except OSError:
        return False


def healthy(base):
    try:
        return requests.get(base + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


class Cluster:
    """The store (redis-server or nats-server), servers, workers and the proxies between them."""

    def __init__(self, backend, folder, workers=3, log=print):
        self.backend, self.folder, self.log = backend, folder, log
        self.store = None
        self.store_proxies = []
        self.servers = []
        self.server_ports = []
        self.worker_proxies = []
        self.workers = []
        self.clock_file = None
        faketime = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
        store_port = free_port()
        if backend == "redis":
            self.store = Process("redis", [
                "redis-server", "--port", str(store_port), "--bind", "127.0.0.1", "--dir", folder, "--save", "",
                "--appendonly", "yes", "--appendfsync", "always"], os.path.join(folder, "redis.log"),
                ready=lambda: port_answers(store_port))
        elif backend == "nats":
            config = os.path.join(folder, "nats.conf")
            with open(config, "w") as f:
                f.write(f"listen: 127.0.0.1:{store_port}\njetstream {{ store_dir: {json.dumps(os.path.join(folder, 'jetstream'))}, "
                        "sync_interval: always }\n")
            self.store = Process("nats", ["nats-server", "-c", config], os.path.join(folder, "nats.log"),
                                 ready=lambda: port_answers(store_port, probe=b"", expect=b"INFO "))
        if self.store:
            self.store.start()
            for i in range(2):
                self.store_proxies.append(FaultProxy(store_port, f"server{i + 1}-{backend}"))
        for i in range(1 if backend in ("memory", "sqlite") else 2):
            port = free_port()
            store = {"memory": lambda: "memory", "sqlite": lambda: "sqlite:" + os.path.join(folder, "switchboard.sqlite"), "redis": lambda: f"redis://127.0.0.1:{self.store_proxies[i].port}/0",
                     "nats": lambda: f"nats://127.0.0.1:{self.store_proxies[i].port}"}[backend]()
            args = [BINARY, "serve", "--port", str(port), "--backend", store, "--workers", "0",
                    "--retry-delay-ms", "2000", "--max-retry-delay-ms", "8000", "--max-releases", "5"]
            env, prefix = None, []
            if backend != "memory" and i == 1 and faketime:
                # The second server's clock can be stepped while it runs: libfaketime re-reads this
                # file every second (monotonic time is left alone, as an NTP step leaves it).
                self.clock_file = os.path.join(folder, "clock-offset")
                with open(self.clock_file, "w") as f:
                    f.write("+0s\n")
                env = {"LD_PRELOAD": faketime[0], "FAKETIME_TIMESTAMP_FILE": self.clock_file, "FAKETIME_CACHE_DURATION": "1",
                       "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
                # Preloaded through `timeout`: spawned directly with libfaketime, the binary saw no arguments.
                prefix = ["timeout", "--signal=TERM", "3600"]
            base = f"http://127.0.0.1:{port}"
            server = Process(f"server{i + 1}", prefix + args, os.path.join(folder, f"server{i + 1}.log"), env=env,
                             ready=lambda base=base: healthy(base))
            server.start()
            self.servers.append(server)
            self.server_ports.append(port)
        for i in range(workers):
            target = self.server_ports[i % len(self.server_ports)]
            proxy = FaultProxy(target, f"worker{i + 1}-server")
            self.worker_proxies.append(proxy)
            self.workers.append(Process(f"w{i + 1}", [
                BINARY, "worker", "--server", f"http://127.0.0.1:{proxy.port}", "--id", f"w{i + 1}", "--concurrency", "6",
                "--lease-ms", str(LEASE_MS), "--wait-ms", "1000", "--drain-timeout-ms", "2000",
                "--log-level", "debug", "--log-format", "json"], os.path.join(folder, f"w{i + 1}.log")))
            self.workers[-1].start()

    @property
    def bases(self):
        return [f"http://127.0.0.1:{port}" for port in self.server_ports]

    def heal(self):
        for proxy in self.store_proxies + self.worker_proxies:
            proxy.heal()
        if self.clock_file:
            with open(self.clock_file, "w") as f:
                f.write("+0s\n")
        if self.store and not self.store.alive:
            self.store.start()
        for process in self.servers + self.workers:
            if process.frozen:
                process.signal(signal.SIGCONT)
                process.frozen = False
            if not process.alive:
                process.start()

    def stop(self):
        codes = {w.name: w.stop() for w in self.workers}
        codes.update({s.name: s.stop() for s in self.servers})
        for proxy in self.store_proxies + self.worker_proxies:
            proxy.close()
        if self.store:
            self.store.kill()
        return codes


class Nemesis:
    """One fault at a time, chosen and timed by the run's random generator."""

    def __init__(self, cluster, rng, history, log):
        self.cluster, self.rng, self.history, self.log = cluster, rng, history, log
        self.counts = {}
        faults = ["kill_worker", "freeze_worker", "term_worker", "partition_worker", "delay_worker", "half_open_worker",
                  "reset_worker"]
        # The first fault, when the run must have one: with sqlite, the store is the server's own
        # file, so killing the server (kill -9, mid-write) is the store's crash.
        self.first = None
        if cluster.backend == "sqlite":
            faults += ["kill_server", "kill_server"]
            self.first = "kill_server"
        elif cluster.backend != "memory":
            store = cluster.backend
            faults += ["kill_server", f"restart_{store}", f"partition_{store}", f"delay_{store}", f"half_open_{store}"]
            if cluster.clock_file:
                faults.append("step_clock")
        self.faults = faults
        self.stopped = threading.Event()

    def run(self, duration):
        deadline = time.time() + duration
        while time.time() < deadline and not self.stopped.is_set():
            self.stopped.wait(self.rng.uniform(0.5, 2.0))
            fault = self.first or self.rng.choice(self.faults)
            self.first = None
            hold = self.rng.uniform(0.5, 4.0)
            self.counts[fault] = self.counts.get(fault, 0) + 1
            self.log(f"  nemesis {time.strftime('%H:%M:%S')}: {fault} for {hold:.1f} s")
            getattr(self, fault.replace(f"_{self.cluster.backend}", "_store"))(hold)

    def _worker(self):
        i = self.rng.randrange(len(self.cluster.workers))
        return self.cluster.workers[i], self.cluster.worker_proxies[i]

    def kill_worker(self, hold):
        worker, _ = self._worker()
        worker.kill()
        self.history.kills.setdefault(worker.name, []).append(now_ms())
        time.sleep(hold)
        worker.start()

    def freeze_worker(self, hold):
        worker, _ = self._worker()
        if not worker.alive:
            return
        worker.signal(signal.SIGSTOP)
        worker.frozen = True
        stopped = now_ms()
        time.sleep(hold)
        worker.signal(signal.SIGCONT)
        worker.frozen = False
        self.history.freezes.setdefault(worker.name, []).append((stopped, now_ms()))

    def term_worker(self, hold):
        worker, _ = self._worker()
        worker.stop()
        worker.start()

    @staticmethod
    def _for_a_while(proxy, hold, fault):
        fault(proxy)
        time.sleep(hold)
        proxy.heal()

    def partition_worker(self, hold):
        self._for_a_while(self._worker()[1], hold, FaultProxy.partition)

    def delay_worker(self, hold):
        proxy, ms = self._worker()[1], self.rng.uniform(50, 600)
        self._for_a_while(proxy, hold, lambda p: p.delay(ms))

    def half_open_worker(self, hold):
        self._worker()[1].half_open()

    def reset_worker(self, hold):
        self._worker()[1].reset()

    def _server(self):
        i = self.rng.randrange(len(self.cluster.servers))
        proxies = self.cluster.store_proxies
        return self.cluster.servers[i], proxies[i] if proxies else None

    def kill_server(self, hold):
        server, _ = self._server()
        server.kill()
        time.sleep(hold)
        server.start()

    def restart_store(self, hold):
        self.cluster.store.kill()
        time.sleep(min(hold, 1.5))
        self.cluster.store.start()

    def partition_store(self, hold):
        self._for_a_while(self._server()[1], hold, FaultProxy.partition)

    def delay_store(self, hold):
        proxy, ms = self._server()[1], self.rng.uniform(20, 300)
        self._for_a_while(proxy, hold, lambda p: p.delay(ms))

    def half_open_store(self, hold):
        self._server()[1].half_open()

    def step_clock(self, hold):
        # Ahead or behind by up to twice the lease: within the skew bound the server follows
        # the store's clock, beyond it it also stops reaping.
        offset = self.rng.choice([-1, 1]) * self.rng.uniform(0.3, 2 * LEASE_MS / 1000)
        with open(self.cluster.clock_file, "w") as f:
            f.write(f"{offset:+.3f}s\n")
        time.sleep(hold + 2)
        with open(self.cluster.clock_file, "w") as f:
            f.write("+0s\n")


class Producers:
    """Enqueues a seeded mix of tasks, each under an idempotency key, retried until acknowledged."""

    def __init__(self, cluster, rng, history, seed, log):
        self.cluster, self.rng, self.history, self.seed, self.log = cluster, rng, history, seed, log
        self.session = requests.Session()
        self.stopped = threading.Event()
        self.unacknowledged = 0
        self.errors = []
        self.lock = threading.Lock()

    def plan(self, i):
        """The i-th submission: (kind, body)."""
        rng = random.Random(f"{self.seed}-{i}")
        roll = rng.random()
        if roll < 0.40:
            kind, body = "echo", {"payload": {"tool_name": "echo", "input": {"i": i, "seed": self.seed}}}
        elif roll < 0.75:
            kind, body = "locked", {"payload": {"tool_name": "sleep", "input": {"ms": rng.randint(100, 600)}},
                                    "lock_key": rng.choice(LOCK_KEYS), "timeout_ms": 20000}
        elif roll < 0.85:
            kind, body = "sleep", {"payload": {"tool_name": "sleep", "input": {"ms": rng.randint(50, 400)}}, "timeout_ms": 20000}
        elif roll < 0.95:
            kind, body = "fail", {"payload": {"tool_name": "fail", "input": {"message": "as planned"}},
                                  "max_retries": rng.randint(0, 2)}
        else:
            kind, body = "cancel", {"payload": {"tool_name": "sleep", "input": {"ms": 3000}}, "timeout_ms": 20000}
        body["idempotency_key"] = f"faults-{self.seed}-{i}"
        return kind, body

    def submit(self, kind, body, give_up_at):
        """Posts until a server acknowledges (201, or 200 for a repeated key); the task id or None."""
        key = body["idempotency_key"]
        while time.time() < give_up_at:
            base = self.rng.choice(self.cluster.bases)
            try:
                response = self.session.post(base + "/v1/tasks", json=body, timeout=3)
            except requests.RequestException:
                time.sleep(0.2)
                continue
            if response.status_code in (200, 201):
                task = response.json()
                with self.lock:
                    self.history.acknowledged.setdefault(key, []).append(task["id"])
                    self.history.submitted[task["id"]] = {"kind": kind, "input": body["payload"].get("input")}
                return task["id"]
            if response.status_code in (429, 500, 502, 503, 504):
                time.sleep(0.2)
                continue
            with self.lock:
                self.errors.append(f"enqueue refused: {response.status_code} {response.text[:300]}")
            return None
        with self.lock:
            self.unacknowledged += 1
        return None

    def burst(self):
        """Failing tasks all at once (one batch), for the retry spread."""
        items = [{"payload": {"tool_name": "fail", "input": {"message": "burst"}}, "max_retries": BURST_RETRIES,
                  "idempotency_key": f"faults-{self.seed}-burst-{i}"} for i in range(BURST)]
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                response = self.session.post(self.cluster.bases[0] + "/v1/tasks/batch", json={"items": items}, timeout=5)
            except requests.RequestException:
                time.sleep(0.2)
                continue
            if response.status_code in (200, 201):
                for item, task in zip(items, response.json()["items"]):
                    self.history.acknowledged.setdefault(item["idempotency_key"], []).append(task["id"])
                    self.history.submitted[task["id"]] = {"kind": "burst", "input": None}
                    self.history.burst.append(task["id"])
                return
            time.sleep(0.2)
        raise AssertionError("the burst was never acknowledged")

    def run(self, rate):
        i = 0
        cancels = []
        while not self.stopped.is_set():
            kind, body = self.plan(i)
            task_id = self.submit(kind, body, time.time() + 30)
            if kind == "cancel" and task_id:
                cancels.append((time.time() + self.rng.uniform(0.1, 2.0), task_id))
            due = [c for c in cancels if c[0] <= time.time()]
            for c in due:
                cancels.remove(c)
                try:
                    self.session.post(self.rng.choice(self.cluster.bases) + f"/v1/tasks/{c[1]}/cancel", timeout=3)
                except requests.RequestException:
                    pass  # the cancel is best effort; the task ends one way or another
            i += 1
            time.sleep(self.rng.expovariate(rate))
        return i


def final_records(cluster, ids, timeout, log):
    """Waits (bounded) until every task is finished; the last record of each (None: not found)."""
    records = {}
    pending = set(ids)
    deadline = time.time() + timeout
    session = requests.Session()
    while pending and time.time() < deadline:
        for task_id in list(pending):
            try:
                response = session.get(cluster.bases[0] + f"/v1/tasks/{task_id}", timeout=5)
            except requests.RequestException:
                continue
            if response.status_code == 404:
                records[task_id] = None
                pending.discard(task_id)
            elif response.status_code == 200:
                records[task_id] = response.json()
                if records[task_id]["status"] in ("completed", "dead", "cancelled"):
                    pending.discard(task_id)
        if pending:
            time.sleep(0.5)
    log(f"  drained: {len(ids) - len(pending)} of {len(ids)} tasks finished")
    return records


def run_once(backend, seed, duration, folder, log=print):
    """One run; returns its summary (violations included)."""
    rng = random.Random(seed)
    history = History()
    os.makedirs(folder, exist_ok=True)
    log(f"run: backend={backend} seed={seed} duration={duration}s folder={folder}")
    cluster = Cluster(backend, folder, log=log)
    producers = Producers(cluster, random.Random(f"{seed}-producers"), history, seed, log)
    nemesis = Nemesis(cluster, random.Random(f"{seed}-nemesis"), history, log)
    started = time.time()
    try:
        threads = [threading.Thread(target=producers.run, args=(25,))]
        for thread in threads:
            thread.start()
        nemesis.run(duration)
        producers.stopped.set()
        for thread in threads:
            thread.join()
        cluster.heal()
        ids = {ids[0] for ids in history.acknowledged.values()}
        history.final = final_records(cluster, ids, 120, log)
        # The burst comes once the faults are over and the earlier work has drained, so its
        # retries' spread is the retry policy's: retries that fell due while every slot was busy
        # with the leftovers (reaped leases' retries), or while no worker could take them, would
        # rightly start together when a slot frees.
        producers.burst()
        history.final.update(final_records(cluster, set(history.burst), 120, log))
    finally:
        producers.stopped.set()
        nemesis.stopped.set()
        exit_codes = cluster.stop()
    for worker in cluster.workers:
        with open(worker.log_path) as f:
            history.executions.extend(read_worker_log(worker.name, f))
    violations = check(history) + producers.errors
    # A graceful stop of every process at the end is part of the contract too.
    for name, code in exit_codes.items():
        if code not in (0, None) and not (name == "server2" and code == 124):
            violations.append(f"exit: {name} exited {code} on SIGTERM")
    summary = {
        "backend": backend, "seed": seed, "seconds": round(time.time() - started, 1), "faults": sum(nemesis.counts.values()),
        "fault_kinds": nemesis.counts, "tasks": len(history.final), "executions": len(history.executions),
        "fenced": sum(1 for e in history.executions if e.outcome == "fenced"),
        "unacknowledged": producers.unacknowledged,
        "retry_bucket_share": round(retry_spread_figure(history) or 0, 4),
        "statuses": _count(r["status"] if r else "missing" for r in history.final.values()),
        "violations": violations,
    }
    with open(os.path.join(folder, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    # Enough to run the checker again over the same logs (checker.py's History).
    with open(os.path.join(folder, "history.json"), "w") as f:
        json.dump({"acknowledged": history.acknowledged, "submitted": history.submitted, "final": history.final,
                   "kills": history.kills, "freezes": history.freezes, "burst": history.burst}, f)
    return summary


def _count(values):
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["memory", "sqlite", "redis", "nats"], default="memory")
    parser.add_argument("--seed", type=int, default=None, help="the first run's seed (random when unset; printed)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--duration", type=float, default=30, help="seconds of faults per run")
    parser.add_argument("--out", default=os.path.join(ROOT, ".build", "faults"))
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    totals = {"runs": 0, "faults": 0, "tasks": 0, "executions": 0, "violations": 0}
    failed = []
    for run in range(args.runs):
        run_seed = seed + run
        folder = os.path.join(args.out, f"{args.backend}-{run_seed}")
        shutil.rmtree(folder, ignore_errors=True)
        summary = run_once(args.backend, run_seed, args.duration, folder)
        for k in ("faults", "tasks", "executions"):
            totals[k] += summary[k]
        totals["runs"] += 1
        totals["violations"] += len(summary["violations"])
        print(json.dumps({k: v for k, v in summary.items() if k != "violations"}))
        if summary["violations"]:
            failed.append(run_seed)
            for v in summary["violations"][:20]:
                print("  VIOLATION:", v)
            print(f"FAILED: replay with --backend {args.backend} --seed {run_seed} --duration {args.duration}; logs in {folder}")
    print("totals:", json.dumps(totals))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
