#!/usr/bin/env python3
"""A Switchboard worker in Python, standard library only: it leases tasks over the REST API,
heartbeats while a tool runs, and completes or fails each task.

    python3 Examples/PythonWorker/python_worker.py --server http://127.0.0.1:8080 --queue default

With auth and HTTPS: SWITCHBOARD_TOKEN (or --token) holds a worker-scoped token, --ca-file the CA
that signed the server's certificate, --client-cert/--client-key a client certificate for mTLS.

Tools: "upper" (returns the input's "text" in capitals), "slow" (sleeps input "seconds",
heartbeating) and anything else fails as not retryable.
"""
import argparse
import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request


TOKEN = None
CONTEXT = None


def call(server, path, body=None, timeout=70):
    """POSTs JSON and returns (status, decoded answer)."""
    data = json.dumps(body if body is not None else {}).encode()
    headers = {"Content-Type": "application/json"}
    if TOKEN:
        headers["Authorization"] = f"Bearer {TOKEN}"
    request = urllib.request.Request(server + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=CONTEXT) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:  # a problem+json answer
        return error.code, json.loads(error.read() or b"null")


def run_tool(task, beat):
    payload = task["payload"]
    name, data = payload.get("tool_name"), payload.get("input") or {}
    if name == "upper":
        return {"text": str(data.get("text", "")).upper()}
    if name == "slow":
        deadline = time.time() + float(data.get("seconds", 1))
        while time.time() < deadline:
            if beat():  # the task was cancelled
                raise RuntimeError("cancelled on request")
            time.sleep(min(0.2, max(0.0, deadline - time.time())))
        return {"slept": data.get("seconds", 1)}
    raise LookupError(f"no tool {name!r} in this worker")


def work(server, worker_id, queues, stop):
    while not stop.is_set():
        status, answer = call(server, "/v1/leases", {"worker_id": worker_id, "queues": queues, "max_tasks": 1,
                                                     "lease_ms": 5000, "wait_ms": 2000, "host": socket.gethostname()})
        if status != 200:
            time.sleep(1)
            continue
        for lease in answer["items"]:
            lease_id, task = lease["lease_id"], lease["task"]
            last = [time.time()]

            def beat():
                if time.time() - last[0] < 1:
                    return False
                last[0] = time.time()
                code, state = call(server, f"/v1/leases/{lease_id}/heartbeat", {"worker_id": worker_id})
                return code != 200 or state["cancel_requested"]

            try:
                result = run_tool(task, beat)
            except LookupError as error:
                call(server, f"/v1/leases/{lease_id}/fail", {"error": str(error), "retryable": False})
            except Exception as error:  # retryable: the server backs off and tries again
                call(server, f"/v1/leases/{lease_id}/fail", {"error": str(error), "retryable": True})
            else:
                call(server, f"/v1/leases/{lease_id}/complete", {"result": result})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8080")
    parser.add_argument("--id", default=f"py-{socket.gethostname()}")
    parser.add_argument("--queue", action="append", dest="queues")
    parser.add_argument("--token", default=os.environ.get("SWITCHBOARD_TOKEN"), help="bearer token (default: SWITCHBOARD_TOKEN)")
    parser.add_argument("--ca-file", help="PEM of the CA that signed the server's certificate")
    parser.add_argument("--client-cert", help="PEM client certificate, for mTLS")
    parser.add_argument("--client-key", help="PEM key of the client certificate")
    args = parser.parse_args()
    TOKEN = args.token
    if args.server.startswith("https://"):
        CONTEXT = ssl.create_default_context(cafile=args.ca_file)
        CONTEXT.minimum_version = ssl.TLSVersion.TLSv1_2
        if args.client_cert:
            CONTEXT.load_cert_chain(args.client_cert, args.client_key)
    try:
        work(args.server.rstrip("/"), args.id, args.queues or ["default"], threading.Event())
    except KeyboardInterrupt:
        pass
