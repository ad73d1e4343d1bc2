"""Live checks against the built `switchboard` binary."""
import os
import re
import subprocess
import time

import pytest
import requests

from conftest import BINARY, ROOT, Server, free_port, require_tool


def walkthrough_script():
    with open(f"{ROOT}/README.md") as f:
        readme = f.read()
    section = readme[readme.index("<!-- walkthrough:start -->"):readme.index("<!-- walkthrough:end -->")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) >= 6, "the README walkthrough lost its examples"
    return "set -euo pipefail\n" + "\n".join(blocks)


def test_readme_walkthrough_runs_as_written(server):
    require_tool("jq")
    script = walkthrough_script().replace("localhost:8080", f"127.0.0.1:{server.port}")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '"status": "completed"' in out
    assert "201\n200\n" in out, "the idempotent replay answers 200"
    assert '"error": "disk full"' in out
    assert '"status": 409' in out, "the second holder is refused"
    assert '{"type":"about:blank","title":"Unprocessable Content","status":422,"detail":"priority must be between 0 and 255"}' in out
    assert re.search(r'switchboard_tasks_completed_total\{queue="default",type="tool_call"\} \d+', out)
    # The state the walkthrough leaves behind.
    assert requests.get(server.base + "/v1/locks").json()["items"] == []
    reports = [q for q in requests.get(server.base + "/v1/queues").json()["items"] if q["name"] == "reports"]
    assert reports and reports[0]["paused"] is False


def test_sigterm_drains_a_running_task_and_exits_0():
    server = Server("--workers", "1", "--concurrency", "2")
    task = requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "sleep", "input": {"ms": 1500}}}).json()
    deadline = time.time() + 10
    while requests.get(f"{server.base}/v1/tasks/{task['id']}").json()["status"] != "running":
        assert time.time() < deadline, "the task never started"
        time.sleep(0.02)
    started = time.time()
    code = server.stop()
    elapsed = time.time() - started
    log = server.output()
    assert code == 0, log
    assert elapsed >= 0.5, "the server exited without waiting for the running task"
    assert "completed=1" in log and "released=0" in log, log


def test_sigterm_releases_what_does_not_finish_within_the_drain_timeout():
    server = Server("--workers", "1", "--drain-timeout-ms", "200")
    requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "sleep", "input": {"ms": 60000}}})
    deadline = time.time() + 10
    while requests.get(server.base + "/v1/tasks?status=running").json()["items"] == []:
        assert time.time() < deadline, "the task never started"
        time.sleep(0.02)
    code = server.stop()
    log = server.output()
    assert code == 0, log
    assert "released=1" in log, log


def test_bodies_over_the_limit_get_413_before_being_read():
    server = Server("--max-body-bytes", "1024")
    try:
        big = b'{"payload": "' + b"a" * 4096 + b'"}'
        response = requests.post(server.base + "/v1/tasks", data=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.headers["Content-Type"] == "application/problem+json"
        assert requests.get(server.base + "/v1/tasks").json()["items"] == []
    finally:
        server.stop()


def test_metrics_pass_promtool(server):
    require_tool("promtool")
    base = server.base
    requests.post(base + "/v1/tasks", json={"payload": {"tool_name": "echo", "input": {}}})
    requests.post(base + "/v1/tasks", json={"payload": {"tool_name": "fail", "input": {"retryable": False}}})
    requests.post(base + "/v1/locks/k/acquire", json={"holder": "h", "ttl_ms": 1000})
    requests.get(base + "/v1/tasks/missing")
    # A maintenance pass (every second) publishes queue depths and gauges.
    deadline = time.time() + 15
    while "switchboard_queue_depth{" not in (text := requests.get(base + "/metrics").text):
        assert time.time() < deadline, "no maintenance pass published queue depths"
        time.sleep(0.1)
    for family in ["switchboard_tasks_enqueued_total", "switchboard_tasks_completed_total", "switchboard_tasks_failed_total",
                   "switchboard_tasks_dead_total", "switchboard_task_duration_seconds", "switchboard_task_wait_seconds",
                   "switchboard_queue_depth", "switchboard_workers", "switchboard_worker_slots_busy",
                   "switchboard_lock_acquisitions_total", "switchboard_locks_held", "switchboard_http_requests_total",
                   "switchboard_http_request_duration_seconds"]:
        assert f"# TYPE {family} " in text, family
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_openapi_document_is_valid():
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    document, _ = read_from_filename(f"{ROOT}/openapi.yaml")
    validate(document)


def test_schemathesis_finds_nothing(tmp_path):
    require_tool("schemathesis")
    from conftest import make_tokens

    # With auth on, as in production: every call carries an admin token, and schemathesis's
    # ignored_auth check also calls each secured operation without it and expects a refusal.
    path, tokens = make_tokens(tmp_path, ("schemathesis", "--scope", "admin"))
    server = Server("--auth-file", path)
    # /mcp speaks JSON-RPC as the MCP specification has it (the MCP tests cover it): left out.
    common = ["schemathesis", "run", f"{ROOT}/openapi.yaml", "--url", server.base, "--seed", "1",
              "--header", f"Authorization: Bearer {tokens['schemathesis']}", "--exclude-path", "/mcp"]
    try:
        # Every operation but the three long-polls, with every phase and check.
        result = subprocess.run(
            common + ["--max-examples", "40", "--exclude-operation-id", "acquireLock", "--exclude-operation-id", "leaseTasks",
                      "--exclude-operation-id", "getEvents"],
            capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        # acquireLock long-polls up to wait_ms (5 minutes at most) for locks earlier examples took
        # for up to a day, and leaseTasks up to a minute for work: hooks keep schema-valid waits and
        # TTLs short, and the coverage phase (whose boundary values bypass hooks) is left to the
        # router tests.
        env = dict(os.environ, SCHEMATHESIS_HOOKS="schemathesis_hooks", PYTHONPATH=os.path.dirname(__file__))
        result = subprocess.run(
            common + ["--max-examples", "150", "--include-operation-id", "acquireLock", "--include-operation-id", "leaseTasks",
                      "--include-operation-id", "getEvents",
                      "--phases", "examples,fuzzing"],
            capture_output=True, text=True, timeout=900, env=env)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    finally:
        assert server.stop() == 0
    assert tokens["schemathesis"] not in server.output()


def test_idle_connections_are_closed():
    import socket

    server = Server("--idle-timeout-ms", "300")
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert b"200 OK" in s.recv(4096)
            # Keep-alive, then silence: the server closes the connection once it has been idle.
            started = time.time()
            assert s.recv(4096) == b""
            assert time.time() - started < 4
    finally:
        server.stop()


def test_json_logs_and_environment_configuration():
    import json
    import os

    os.environ["SWITCHBOARD_LOG_FORMAT"] = "json"
    os.environ["SWITCHBOARD_WORKERS"] = "0"
    try:
        server = Server()
    finally:
        del os.environ["SWITCHBOARD_LOG_FORMAT"]
        del os.environ["SWITCHBOARD_WORKERS"]
    task = requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "echo"}}).json()
    time.sleep(0.3)
    assert requests.get(f"{server.base}/v1/tasks/{task['id']}").json()["status"] == "pending", "no workers were started"
    assert server.stop() == 0
    lines = [json.loads(line) for line in server.output().splitlines() if line.strip()]
    starting = [line for line in lines if line["message"] == "starting"]
    assert starting and starting[0]["level"] == "info" and starting[0]["workers"] == "0x8"


def test_the_memory_backend_says_at_start_that_a_restart_loses_its_tasks():
    server = Server("--backend", "memory")
    try:
        ready = requests.get(server.base + "/readyz").json()
        assert ready["durability"]["survives_restart"] is False
    finally:
        assert server.stop() == 0
    assert "a stop, crash or restart loses every queued and running task" in server.output()


def test_bad_configuration_is_refused():
    from conftest import BINARY

    result = subprocess.run([BINARY, "serve", "--backend", "cassandra://x"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "unknown backend" in result.stderr
    for flag, value, says in [("--max-releases", "-1", "max-releases"), ("--max-clock-skew-ms", "0", "max-clock-skew-ms"),
                              ("--event-buffer", "1000001", "event-buffer"), ("--event-buffer", "-1", "event-buffer")]:
        result = subprocess.run([BINARY, "serve", flag, value], capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and says in result.stderr, (flag, result.stderr)
    for value in ["50", "600001", "x"]:
        result = subprocess.run([BINARY, "worker", "--server", "http://127.0.0.1:1", "--request-timeout-ms", value],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and "request-timeout-ms" in result.stderr, (value, result.stderr)


def test_readme_swift_example_is_the_one_the_tests_compile():
    with open(f"{ROOT}/README.md") as f:
        readme = f.read()
    example = re.search(r"## Using the engine from Swift\n.*?```swift\n(.*?)```", readme, re.S).group(1)
    with open(f"{ROOT}/Tests/SwitchboardCoreTests/ReadmeExampleTests.swift") as f:
        test = f.read()
    compiled = test[test.index("// README example: begin\n") + len("// README example: begin\n"):test.index("        // README example: end")]
    dedented = "\n".join(line[8:] if line.startswith("        ") else line for line in compiled.split("\n"))
    assert dedented.strip() == example.strip(), "README's Swift example and ReadmeExampleTests.swift differ"


def test_run_from_any_directory_it_serves_the_page_and_contract_built_in(tmp_path):
    """An installed binary, a systemd unit, a container: the working directory holds no Public/."""
    server = Server(cwd=str(tmp_path))
    try:
        page = requests.get(server.base + "/", timeout=5)
        assert page.status_code == 200 and "<title>Switchboard</title>" in page.text
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        script = requests.get(server.base + "/views.js", timeout=5)
        assert script.headers["Content-Type"] == "text/javascript; charset=utf-8" and "×" in script.text
        with open(os.path.join(ROOT, "Public", "index.html"), encoding="utf-8") as f:
            assert page.text == f.read()
        contract = requests.get(server.base + "/openapi.yaml", timeout=5)
        with open(os.path.join(ROOT, "openapi.yaml"), encoding="utf-8") as f:
            assert contract.status_code == 200 and contract.text == f.read()
    finally:
        assert server.stop() == 0


def test_version_and_health_commands(server):
    version = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("switchboard ") and "build" in version.stdout
    up = subprocess.run([BINARY, "health", "--server", server.base], capture_output=True, text=True, timeout=30)
    assert up.returncode == 0, up.stderr
    ready = subprocess.run([BINARY, "health", "--ready", "--server", server.base], capture_output=True, text=True, timeout=30)
    assert ready.returncode == 0, ready.stderr
    down = subprocess.run([BINARY, "health", "--server", f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=30)
    assert down.returncode == 1 and "not answering" in down.stderr
    missing = subprocess.run([BINARY, "serve", "--public-dir", str(os.path.join(ROOT, "no-such-folder"))], capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "public-dir" in missing.stderr


def test_task_list_filters_from_the_cli(server):
    for tool, env in [("echo", "prod"), ("sleep", "prod"), ("echo", "dev")]:
        payload = {"tool_name": tool, "input": {"ms": 1} if tool == "sleep" else {}}
        assert requests.post(server.base + "/v1/tasks", json={"queue": "cli", "metadata": {"env": env}, "payload": payload}, timeout=5).status_code == 201
    listed = subprocess.run([BINARY, "task", "list", "--server", server.base, "--queue", "cli", "--tool-name", "echo", "--metadata", "env:prod"],
                            capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    import json
    tasks = [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]
    found = [t for t in tasks if "payload" in t] or [t for page in tasks for t in page.get("items", [])]
    assert [(t["payload"]["tool_name"], t["metadata"]["env"]) for t in found] == [("echo", "prod")], listed.stdout


def test_an_unreadable_token_file_is_refused(tmp_path):
    missing = subprocess.run([BINARY, "task", "list", "--token-file", str(tmp_path / "no-such-token")], capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "token-file" in missing.stderr, missing.stderr
