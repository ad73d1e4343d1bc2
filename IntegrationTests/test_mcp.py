"""MCP end to end with an independent implementation on both sides: the Python `mcp` package's
server (IntegrationTests/mcp/tools_server.py) hosted by `switchboard worker --mcp`, and its
Streamable HTTP client talking to the server's `/mcp`."""
import asyncio
import os
import signal
import sys
import time

import pytest
import requests

from conftest import ROOT, Server, get_task, make_tokens, wait_for
from test_remote import WorkerProcess

pytest.importorskip("mcp.client.streamable_http")
TOOLS_SERVER = f"py={sys.executable} {os.path.join(ROOT, 'IntegrationTests', 'mcp', 'tools_server.py')}"


def hosts_tools(server, worker_id):
    workers = requests.get(server.base + "/v1/workers", timeout=5).json()["items"]
    return any(w["id"] == worker_id and "py.add" in w["tools"] for w in workers)


def session(server, body, token=None):
    """Runs `body(session)` in an MCP client session against the server's /mcp."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    import httpx2 as httpx

    async def main():
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60)) as http:
            async with streamable_http_client(server.base + "/mcp", http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as s:
                    await s.initialize()
                    return await body(s)

    return asyncio.run(main())


@pytest.fixture
def mcp_setup():
    server = Server("--workers", "0", "--retry-delay-ms", "100", "--max-retry-delay-ms", "200")
    # Leases well above the long-poll (2 s): a worker counts a lease from when it asked for it.
    worker = WorkerProcess(server, "mcp-a", "--mcp", TOOLS_SERVER, "--lease-ms", "6000")
    try:
        wait_for(lambda: hosts_tools(server, "mcp-a"), 30, "the worker's MCP tools")
        yield server, worker
    finally:
        worker.stop()
        assert server.stop() == 0


def test_a_tool_call_through_mcp_reaches_the_worker_s_mcp_server(mcp_setup):
    server, _ = mcp_setup

    async def body(s):
        names = [t.name for t in (await s.list_tools()).tools]
        added = await s.call_tool("py.add", {"a": 2, "b": 40})
        queued = await s.call_tool("enqueue_task", {"queue": "plain", "payload": {"tool_name": "echo"}})
        fetched = await s.call_tool("get_task", {"id": queued.structured_content["id"]})
        return names, added, queued, fetched

    names, added, queued, fetched = session(server, body)
    assert {"enqueue_task", "get_task", "wait_for_task", "list_tasks", "cancel_task", "list_dead_letters",
            "requeue_dead_letter", "acquire_lock", "release_lock", "py.add", "py.slow", "py.fail", "py.grow", "py.crash"} <= set(names)
    assert not added.is_error and added.content[0].text == "42" and added.structured_content == {"result": 42}
    assert not queued.is_error and queued.structured_content["status"] == "pending"
    assert fetched.structured_content["id"] == queued.structured_content["id"]
    # The call was a task of the session's run, run by the worker.
    runs = requests.get(server.base + "/v1/tasks?tool_name=py.add", timeout=5).json()["items"]
    assert len(runs) == 1 and runs[0]["status"] == "completed" and runs[0]["worker_id"] == "mcp-a"
    assert runs[0]["run_id"].startswith("mcp-")


def test_a_failing_tool_ends_in_the_dlq_and_the_call_names_the_task(mcp_setup):
    server, _ = mcp_setup
    result = session(server, lambda s: s.call_tool("py.fail", {"message": "quota exceeded"}))
    assert result.is_error
    text = result.content[0].text
    assert "quota exceeded" in text and "dead-letter queue" in text
    task_id = text.split()[1]
    dead = get_task(server, task_id)
    assert dead["status"] == "dead" and dead["attempts"] == 4


def test_schema_invalid_input_is_refused_without_calling_the_server(mcp_setup):
    server, _ = mcp_setup
    result = session(server, lambda s: s.call_tool("py.add", {"a": "two", "b": 1}))
    assert result.is_error and "inputSchema" in result.content[0].text
    (task,) = requests.get(server.base + "/v1/tasks?tool_name=py.add", timeout=5).json()["items"]
    assert task["status"] == "dead" and task["attempts"] == 1, "a permanent failure: no retry"


def test_cancelling_the_call_cancels_the_task_and_the_tool(mcp_setup, tmp_path):
    server, _ = mcp_setup
    marker = tmp_path / "cancelled"

    async def body(s):
        call = asyncio.create_task(s.call_tool("py.slow", {"seconds": 30, "marker": str(marker)}))
        await asyncio.sleep(1.5)
        call.cancel()
        try:
            await call
        except asyncio.CancelledError:
            pass
        await asyncio.sleep(1)  # the client's notifications/cancelled goes out before the session closes

    session(server, body)
    (task,) = wait_for(lambda: requests.get(server.base + "/v1/tasks?tool_name=py.slow", timeout=5).json()["items"], 5, "the task")
    wait_for(lambda: get_task(server, task["id"])["status"] == "cancelled", 20, "the task cancelled")
    wait_for(lambda: marker.exists() and marker.read_text() == "cancelled", 10, "the tool told to stop")


def test_a_worker_killed_mid_call_the_call_still_returns_from_another(mcp_setup):
    server, doomed = mcp_setup
    spare = WorkerProcess(server, "mcp-b", "--mcp", TOOLS_SERVER, "--lease-ms", "6000")
    try:
        wait_for(lambda: hosts_tools(server, "mcp-b"), 30, "the second worker's tools")

        async def body(s):
            call = asyncio.create_task(s.call_tool("py.slow", {"seconds": 2}))
            for _ in range(100):
                running = requests.get(server.base + "/v1/tasks?tool_name=py.slow&status=running", timeout=5).json()["items"]
                if running:
                    break
                await asyncio.sleep(0.1)
            victim = running[0]["worker_id"]
            (doomed if victim == "mcp-a" else spare).process.send_signal(signal.SIGKILL)
            return victim, await call

        victim, result = session(server, body)
        assert not result.is_error and result.content[0].text == "slept 2.0", result.content[0].text
        (task,) = requests.get(server.base + "/v1/tasks?tool_name=py.slow", timeout=5).json()["items"]
        assert task["attempts"] == 2 and task["worker_id"] != victim
    finally:
        spare.stop()


def test_mcp_needs_a_token_when_auth_is_on_and_tools_check_scopes(tmp_path):
    path, tokens = make_tokens(tmp_path, ("viewer", "--scope", "viewer"), ("producer", "--scope", "producer"))
    server = Server("--workers", "0", "--auth-file", path)
    try:
        refused = requests.post(server.base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
                                headers={"Accept": "application/json, text/event-stream"}, timeout=5)
        assert refused.status_code == 401
        viewer = session(server, lambda s: s.call_tool("enqueue_task", {"payload": {"tool_name": "echo"}}), token=tokens["viewer"])
        assert viewer.is_error and "producer" in viewer.content[0].text
        producer = session(server, lambda s: s.call_tool("enqueue_task", {"payload": {"tool_name": "echo"}}), token=tokens["producer"])
        assert not producer.is_error
        bad = session(server, lambda s: s.call_tool("enqueue_task", {"payload": {"tool_name": "echo"}, "priority": 999}), token=tokens["producer"])
        assert bad.is_error and "priority" in bad.content[0].text
    finally:
        assert server.stop() == 0
    assert tokens["producer"] not in server.output()


def test_a_configuration_file_names_the_servers_to_host(tmp_path):
    import json

    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"tools": {
        "command": sys.executable, "args": [os.path.join(ROOT, "IntegrationTests", "mcp", "tools_server.py")], "env": {"UNUSED": "1"}}}}))
    server = Server("--workers", "0")
    worker = WorkerProcess(server, "from-file", "--mcp-config", str(config))
    try:
        wait_for(lambda: any("tools.add" in w["tools"] for w in requests.get(server.base + "/v1/workers", timeout=5).json()["items"]),
                 30, "the file's server's tools")
        created = requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "tools.add", "input": {"a": 1, "b": 2}}}, timeout=5).json()
        wait_for(lambda: get_task(server, created["id"])["status"] == "completed", 10, "the call")
        assert get_task(server, created["id"])["result"]["structuredContent"] == {"result": 3}
    finally:
        assert worker.stop() == 0
        assert server.stop() == 0


def test_bench_mcp_prints_its_line():
    import json
    import subprocess

    bench = os.path.join(ROOT, ".build", "debug", "switchboard-bench")
    result = subprocess.run([bench, "mcp", "--quick", "--mcp-server", f"{sys.executable} {os.path.join(ROOT, 'IntegrationTests', 'mcp', 'tools_server.py')}"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [json.loads(l) for l in result.stdout.splitlines() if l.strip()]
    assert line["scenario"] == "mcp" and line["tasks_per_sec"] > 0 and line["baseline"]["per_sec"] > 0
    assert line["p50_ms"] > 0 and float(line["direct_p50_ms"]) > 0


def test_a_serialized_tool_runs_one_call_at_a_time_and_sessions_hear_of_new_tools():
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    server = Server("--workers", "0")
    worker = WorkerProcess(server, "serial", "--mcp", TOOLS_SERVER, "--mcp-serialize", "py.slow", "--concurrency", "4")
    late = None
    try:
        wait_for(lambda: hosts_tools(server, "serial"), 30, "the worker's MCP tools")
        heard = []

        async def on_message(message):
            if "list_changed" in repr(message):
                heard.append(message)

        async def main():
            nonlocal late
            async with streamable_http_client(server.base + "/mcp") as streams:
                async with ClientSession(streams[0], streams[1], message_handler=on_message) as s:
                    await s.initialize()
                    first, second = await asyncio.gather(s.call_tool("py.slow", {"seconds": 1}), s.call_tool("py.slow", {"seconds": 1}))
                    # Another worker brings tools under another name: the session is told (the
                    # server compares the workers' tools every 2 s; what it said before is past).
                    await asyncio.sleep(2.5)
                    before = len(heard)
                    late = WorkerProcess(server, "late", "--mcp", TOOLS_SERVER.replace("py=", "extra=", 1))
                    for _ in range(200):
                        if len(heard) > before:
                            break
                        await asyncio.sleep(0.1)
                    names = [t.name for t in (await s.list_tools()).tools]
                    return first, second, names, len(heard) > before

        first, second, names, told = asyncio.run(main())
        assert not first.is_error and not second.is_error
        runs = sorted(requests.get(server.base + "/v1/tasks?tool_name=py.slow", timeout=5).json()["items"], key=lambda t: t["started_at"])
        assert [t["lock_key"] for t in runs] == ["mcp:py.slow", "mcp:py.slow"]
        assert runs[1]["started_at"] >= runs[0]["finished_at"], "one at a time"
        assert told, "notifications/tools/list_changed"
        assert "extra.add" in names
    finally:
        if late:
            late.stop()
        worker.stop()
        assert server.stop() == 0


def test_an_open_session_does_not_hold_up_shutdown():
    server = Server("--workers", "0")
    stopped = {}

    async def body(s):
        await s.list_tools()
        started = time.time()
        stopped["status"] = await asyncio.to_thread(server.stop)
        stopped["seconds"] = time.time() - started

    try:
        session(server, body)
    except BaseException:
        pass  # the session's end is the server's going away
    assert stopped["status"] == 0 and stopped["seconds"] < 10


def test_a_task_timeout_cancels_the_tool_call(mcp_setup, tmp_path):
    server, _ = mcp_setup
    marker = tmp_path / "timed-out"
    created = requests.post(server.base + "/v1/tasks", json={
        "max_retries": 0, "timeout_ms": 700,
        "payload": {"tool_name": "py.slow", "input": {"seconds": 30, "marker": str(marker)}}}, timeout=5).json()
    wait_for(lambda: get_task(server, created["id"])["status"] == "dead", 15, "the timed-out task")
    assert "timed out" in get_task(server, created["id"])["error"]
    wait_for(lambda: marker.exists() and marker.read_text() == "cancelled", 10, "MCP's cancellation reaching the tool")


def test_bad_mcp_worker_options_are_refused():
    from conftest import BINARY
    import subprocess

    for args, says in [(["--mcp-start-timeout-ms", "-1"], "mcp-start-timeout-ms"), (["--mcp", "no-command"], "mcp")]:
        result = subprocess.run([BINARY, "worker", "--server", "http://127.0.0.1:9", *args], capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and says in result.stderr, (args, result.stderr)
