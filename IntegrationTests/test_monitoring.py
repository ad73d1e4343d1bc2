"""deploy/prometheus and deploy/grafana against real tools: promtool checks the config and the
rules and runs every alert's unit test; a live Debian prometheus scrapes a live `switchboard
serve` (with a viewer token) and counts exactly what the test did; every Grafana panel's query
runs against it and returns series."""
import json
import os
import shutil
import subprocess
import time

import requests
import yaml

from conftest import ROOT, Server, free_port, make_tokens, require_tool, wait_for

PROMETHEUS = os.path.join(ROOT, "deploy", "prometheus")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "switchboard.json")


def promtool(*args, cwd=PROMETHEUS):
    require_tool("promtool")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_promtool_checks_the_config_and_rules_and_runs_the_alerts_unit_tests(tmp_path):
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # The config names its token file relative to itself: checked as shipped, beside a token.
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, copy)
    (copy / "prometheus-token").write_text("not-a-real-token\n")
    config = promtool("check", "config", str(copy / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_has_a_unit_test_that_fires_it():
    with open(os.path.join(PROMETHEUS, "alerts.yml")) as f:
        alerts = {rule["alert"] for group in yaml.safe_load(f)["groups"] for rule in group["rules"]}
    with open(os.path.join(PROMETHEUS, "alerts_test.yml")) as f:
        tests = yaml.safe_load(f)["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert alerts == fired, f"alerts without a firing test: {alerts - fired}"


def dashboard_queries():
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]


def test_a_live_prometheus_counts_what_was_done_and_every_dashboard_query_returns_series(tmp_path):
    require_tool("prometheus")
    path, tokens = make_tokens(tmp_path, ("prometheus", "--scope", "viewer"), ("ops", "--scope", "admin"))
    server = Server("--auth-file", path, "--workers", "1", "--retry-delay-ms", "100", "--max-retry-delay-ms", "100")
    prometheus = None
    try:
        # The shipped config and rules, pointed at this server and scraped every second.
        folder = tmp_path / "prometheus"
        shutil.copytree(PROMETHEUS, folder)
        (folder / "prometheus-token").write_text(tokens["prometheus"] + "\n")
        config = yaml.safe_load((folder / "prometheus.yml").read_text())
        config["global"]["scrape_interval"] = "1s"
        config["global"]["evaluation_interval"] = "1s"
        config["scrape_configs"][0]["static_configs"] = [{"targets": [server.base.removeprefix("http://")]}]
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        log = open(tmp_path / "prometheus.log", "w")
        prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        api = f"http://127.0.0.1:{port}/api/v1"

        def query(expr):
            answer = requests.get(f"{api}/query", params={"query": expr}, timeout=5).json()
            assert answer["status"] == "success", (expr, answer)
            return answer["data"]["result"]

        def ready():
            try:
                return requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(ready, 30, "prometheus to start")
        wait_for(lambda: [r for r in query('up{job="switchboard"}') if r["value"][1] == "1"], 30, "the first authenticated scrape")

        # What the test does: 25 echoes, one task that fails once then dies, one lease left to expire.
        auth = {"Authorization": f"Bearer {tokens['ops']}"}
        ids = []
        for i in range(25):
            created = requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "echo", "input": {"i": i}}}, headers=auth, timeout=5)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        dying = requests.post(server.base + "/v1/tasks", json={"max_retries": 1, "payload": {"tool_name": "fail", "input": {}}},
                              headers=auth, timeout=5).json()
        stray = requests.post(server.base + "/v1/tasks", json={"queue": "stray", "payload": {"tool_name": "echo", "input": {}}},
                              headers=auth, timeout=5).json()
        leased = requests.post(server.base + "/v1/leases", json={"worker_id": "walked-away", "queues": ["stray"], "lease_ms": 200},
                               headers=auth, timeout=5).json()
        assert [item["task"]["id"] for item in leased["items"]] == [stray["id"]]

        def status(task_id):
            return requests.get(f"{server.base}/v1/tasks/{task_id}", headers=auth, timeout=5).json()["status"]

        wait_for(lambda: all(status(i) == "completed" for i in ids), 30, "the echoes")
        wait_for(lambda: status(dying["id"]) == "dead", 30, "the failing task to die")
        wait_for(lambda: status(stray["id"]) in ("retrying", "pending", "completed"), 30, "the walked-away lease to be reaped")

        # Prometheus's count is exactly the test's.
        def total(metric, **labels):
            selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
            result = query(f"sum({metric}{{{selector}}})")
            return float(result[0]["value"][1]) if result else None

        wait_for(lambda: total("switchboard_tasks_completed_total", queue="default") == 25, 30, "25 completions in Prometheus")
        assert total("switchboard_tasks_enqueued_total", queue="default") == 26
        wait_for(lambda: total("switchboard_tasks_dead_total") == 1, 30, "one death in Prometheus")
        wait_for(lambda: total("switchboard_lease_expirations_total", queue="stray") == 1, 30, "one lease expiration in Prometheus")
        # Two retries: the failing task's first attempt, and the expired lease's.
        wait_for(lambda: total("switchboard_tasks_retried_total") == 2, 30, "two retries in Prometheus")
        assert total("switchboard_tasks_failed_total") == 3, "two failed attempts and one expired lease"
        # The rules loaded, none firing on a healthy server.
        rules = requests.get(f"{api}/rules", timeout=5).json()["data"]["groups"][0]["rules"]
        assert len(rules) == 8 and all(r["health"] == "ok" for r in rules), rules
        assert not [a for a in requests.get(f"{api}/alerts", timeout=5).json()["data"]["alerts"] if a["state"] == "firing"]

        # Every panel of the Grafana dashboard: a query that parses and returns series.
        time.sleep(2)
        empty = [(title, expr) for title, expr in dashboard_queries() if not query(expr)]
        assert not empty, f"panels whose query returns nothing: {empty}"
    finally:
        if prometheus:
            prometheus.terminate()
            prometheus.wait(timeout=30)
        assert server.stop() == 0
