"""deploy/: the compose stack checked by parsing against the files, images and the binary's own
flags; the secrets script run for real (its tokens open a live server); the NATS config parsed by
nats-server; the systemd unit verified by systemd-analyze."""
import os
import re
import shutil
import subprocess

import requests
import yaml

from conftest import BINARY, ROOT, Server, require_tool

DEPLOY = os.path.join(ROOT, "deploy")


def compose():
    with open(os.path.join(DEPLOY, "compose.yaml")) as f:
        return yaml.safe_load(f)


def switchboard_help(subcommand):
    result = subprocess.run([BINARY, subcommand, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_compose_images_ports_volumes_secrets_and_dependencies_are_consistent():
    stack = compose()
    services = stack["services"]
    assert {"redis", "nats", "switchboard-1", "switchboard-2", "worker-1", "worker-2", "prometheus"} <= set(services)
    # One service builds the image from the top-level Dockerfile; the others of ours use it.
    ours = {name: s for name, s in services.items() if s.get("image", "").startswith("switchboard:")}
    assert set(ours) == {"switchboard-1", "switchboard-2", "worker-1", "worker-2"}
    builders = [s for s in ours.values() if "build" in s]
    assert len(builders) == 1 and len({s["image"] for s in ours.values()}) == 1
    build = builders[0]["build"]
    assert os.path.isfile(os.path.join(DEPLOY, build["context"], build["dockerfile"]))
    for name, service in services.items():
        assert "image" in service, f"{name} has no image"
    # Published ports are unique.
    published = [p.split(":")[0] for s in services.values() for p in s.get("ports", [])]
    assert len(published) == len(set(published)), published
    # Named volumes used are declared and declared ones used; bind mounts name files that exist.
    declared = set(stack["volumes"])
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert os.path.exists(os.path.join(DEPLOY, source)), f"{name} mounts {source}, which is not in deploy/"
            else:
                used.add(source)
    assert used == declared
    # Secrets used are declared (and made by make-secrets.sh: see the next test).
    used_secrets = {s if isinstance(s, str) else s["source"] for service in services.values() for s in service.get("secrets", [])}
    assert used_secrets == set(stack["secrets"])
    # Waiting for health needs a healthcheck.
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s health, which has no check"
    # Redis as the README asks: append-only, fsync always, no eviction.
    command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in command and "--appendfsync always" in command and "--maxmemory-policy noeviction" in command


def test_compose_uses_only_flags_and_variables_the_binary_has():
    for name, service in compose()["services"].items():
        if not service.get("image", "").startswith("switchboard:"):
            continue
        subcommand, *args = service["command"]
        text = switchboard_help(subcommand)
        for flag in [a for a in args if a.startswith("--")]:
            assert re.search(rf"{re.escape(flag)}\b", text), f"{name}: `switchboard {subcommand}` has no {flag}"
        for variable in service.get("environment", {}):
            assert variable.startswith("SWITCHBOARD_")
            flag = "--" + variable.removeprefix("SWITCHBOARD_").lower().replace("_", "-")
            assert re.search(rf"{re.escape(flag)}\b", text), f"{name}: {variable} names no option of `switchboard {subcommand}` ({flag})"
        if subcommand == "worker":
            server = args[args.index("--server") + 1]
            host = server.removeprefix("http://").split(":")[0]
            assert host in compose()["services"], f"{name} calls {host}, which is not a service"


def test_prometheus_scrapes_the_compose_servers_with_its_secret():
    stack = compose()
    with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
        config = yaml.safe_load(f)
    targets = {t for c in config["scrape_configs"] for s in c["static_configs"] for t in s["targets"]}
    servers = {f"{name}:8080" for name in stack["services"] if name.startswith("switchboard-")}
    assert targets == servers
    credentials = config["scrape_configs"][0]["authorization"]["credentials_file"]
    mounted = [s["target"] for s in stack["services"]["prometheus"]["secrets"] if isinstance(s, dict)]
    assert os.path.join("/etc/prometheus", credentials) in mounted, "the token file sits where the config looks for it"


def test_make_secrets_makes_every_secret_and_its_tokens_open_a_server(tmp_path):
    folder = tmp_path / "secrets"
    made = subprocess.run([os.path.join(DEPLOY, "make-secrets.sh"), str(folder)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, SWITCHBOARD_BIN=BINARY))
    assert made.returncode == 0, made.stderr
    for secret in compose()["secrets"].values():
        assert (folder / os.path.basename(secret["file"])).is_file(), secret
    server = Server("--auth-file", str(folder / "tokens.yaml"), "--workers", "0")
    try:
        def token(name):
            return (folder / name).read_text().strip()

        created = requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "echo", "input": {}}},
                                headers={"Authorization": f"Bearer {token('admin-token')}"}, timeout=5)
        assert created.status_code == 201, created.text
        # The CLI reads a token from a file, as the stack's workers do (SWITCHBOARD_TOKEN_FILE).
        shown = subprocess.run([BINARY, "task", "get", created.json()["id"], "--server", server.base,
                                "--token-file", str(folder / "admin-token")], capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0 and created.json()["id"] in shown.stdout, shown.stderr
        leased = requests.post(server.base + "/v1/leases", json={"worker_id": "w", "wait_ms": 0},
                               headers={"Authorization": f"Bearer {token('worker-token')}"}, timeout=5)
        assert leased.status_code == 200 and len(leased.json()["items"]) == 1, leased.text
        metrics = requests.get(server.base + "/metrics", headers={"Authorization": f"Bearer {token('prometheus-token')}"}, timeout=5)
        assert metrics.status_code == 200
        refused = requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "echo", "input": {}}},
                                headers={"Authorization": f"Bearer {token('prometheus-token')}"}, timeout=5)
        assert refused.status_code == 403, "the viewer token cannot enqueue"
    finally:
        assert server.stop() == 0


def test_the_nats_config_parses_and_syncs_every_write():
    require_tool("nats-server")
    path = os.path.join(DEPLOY, "nats", "nats.conf")
    with open(path) as f:
        text = f.read()
    assert "sync_interval: always" in text
    checked = subprocess.run(["nats-server", "-t", "-c", path], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_systemd_unit_verifies(tmp_path):
    if shutil.which("systemd-analyze") is None:
        import pytest
        pytest.skip("systemd-analyze is not installed")
    # Verified as shipped but for where the binary is (systemd checks that ExecStart exists).
    with open(os.path.join(DEPLOY, "switchboard.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/local/bin/switchboard serve" in unit
    (tmp_path / "switchboard.service").write_text(unit.replace("/usr/local/bin/switchboard", BINARY))
    verified = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "switchboard.service")],
                              capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
