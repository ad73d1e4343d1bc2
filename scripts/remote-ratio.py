#!/usr/bin/env python3
"""No-op tasks per second through two remote `switchboard worker` processes against the same
server with two in-process workers, back to back (release build, memory backend).
Each run: pause the queue, enqueue N echo tasks in batches, resume, time until all completed.
Also prints each run's CPU time per task (Linux: /proc/PID/stat), server and workers apart —
steadier on a noisy machine than the rates.
Usage: scripts/remote-ratio.py [tasks] [concurrency per worker]"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release", "switchboard")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
C = int(sys.argv[2]) if len(sys.argv) > 2 else 32


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(base, path, body=None):
    request = urllib.request.Request(base + path, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def completed(base):
    with urllib.request.urlopen(base + "/v1/queues", timeout=10) as response:
        queues = json.loads(response.read())["items"]
    return sum(q["depth"]["completed"] for q in queues if q["name"] == "bench")


def cpu_seconds(process):
    """User plus system time of a process so far (Linux)."""
    with open(f"/proc/{process.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(remote):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workers = "0" if remote else "2"
    server = subprocess.Popen([BIN, "serve", "--backend", "memory", "--port", str(port), "--workers", workers, "--concurrency", str(C),
                               "--queues", "bench", "--log-level", "error", "--max-finished-tasks", str(N * 2)])
    processes = [server]
    try:
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        post(base, "/v1/queues/bench/pause")
        if remote:
            processes += [subprocess.Popen([BIN, "worker", "--server", base, "--id", f"remote-{i}", "--concurrency", str(C),
                                            "--queues", "bench", "--log-level", "error"]) for i in range(2)]
        item = {"queue": "bench", "payload": {"tool_name": "echo", "input": {}}}
        for _ in range(N // 1000):
            post(base, "/v1/tasks/batch", {"items": [item] * 1000})
        time.sleep(0.5)
        cpu_before = [cpu_seconds(p) for p in processes]
        started = time.monotonic()
        post(base, "/v1/queues/bench/resume")
        while completed(base) < N:
            time.sleep(0.02)
        rate = N / (time.monotonic() - started)
        cpu = [cpu_seconds(p) - before for p, before in zip(processes, cpu_before)]
        return rate, {"server": round(cpu[0] * 1e6 / N, 1), "workers": round(sum(cpu[1:]) * 1e6 / N, 1)}
    finally:
        for p in reversed(processes):
            p.terminate()
            p.wait()


in_process, in_process_cpu = measure(remote=False)
remote, remote_cpu = measure(remote=True)
print(json.dumps({"tasks": N, "concurrency_per_worker": C, "in_process_per_sec": round(in_process),
                  "remote_per_sec": round(remote), "ratio": round(remote / in_process, 2),
                  "cpu_us_per_task": {"in_process": in_process_cpu, "remote": remote_cpu}}))
