"""The image the top-level Dockerfile builds, run with podman (scripts/container.sh builds it and
runs these with SWITCHBOARD_CONTAINER_IMAGE set; skipped otherwise)."""
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import free_port, make_tokens, wait_for

IMAGE = os.environ.get("SWITCHBOARD_CONTAINER_IMAGE")
pytestmark = pytest.mark.skipif(not IMAGE, reason="run through scripts/container.sh (needs podman and the built image)")

PODMAN = ["podman", "--storage-driver", "vfs"]


@pytest.fixture(scope="module")
def containers_conf(tmp_path_factory):
    # podman's default ulimits and pids limit need cgroup and rlimit powers this machine lacks.
    path = tmp_path_factory.mktemp("podman") / "containers.conf"
    path.write_text("[containers]\ndefault_ulimits = []\npids_limit = 0\n")
    return str(path)


def podman(containers_conf, *args, check=True, timeout=120):
    env = dict(os.environ, CONTAINERS_CONF=containers_conf)
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=check, timeout=timeout, env=env)


def run_args(*extra):
    return ["run", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--network", "host", *extra]


def test_the_image_is_what_the_dockerfile_says(containers_conf):
    image = json.loads(podman(containers_conf, "image", "inspect", IMAGE).stdout)[0]
    config = image["Config"]
    assert config["User"] == "switchboard"
    assert config["Entrypoint"] == ["switchboard"] and config["Cmd"] == ["serve", "--host", "0.0.0.0"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert image["Healthcheck"]["Test"] == ["CMD", "switchboard", "health"]
    version = podman(containers_conf, *run_args("--rm", IMAGE, "--version")).stdout
    assert version.startswith("switchboard ") and "release build" in version


def test_it_refuses_to_start_without_auth(containers_conf):
    refused = podman(containers_conf, *run_args("--rm", "-e", f"SWITCHBOARD_PORT={free_port()}", IMAGE), check=False, timeout=60)
    assert refused.returncode == 78, refused
    assert "auth" in refused.stderr.lower(), refused.stderr


def test_it_serves_with_a_mounted_token_file_runs_as_non_root_is_healthy_and_drains_on_stop(containers_conf, tmp_path):
    path, tokens = make_tokens(tmp_path, ("producer", "--scope", "producer"), ("viewer", "--scope", "viewer"))
    os.chmod(path, 0o644)
    port = free_port()
    name = f"sb-test-{port}"
    podman(containers_conf, *run_args(
        "-d", "--name", name, "-e", f"SWITCHBOARD_PORT={port}", "-e", "SWITCHBOARD_AUTH_FILE=/run/secrets/switchboard-tokens",
        "-v", f"{path}:/run/secrets/switchboard-tokens:ro", IMAGE))
    base = f"http://127.0.0.1:{port}"
    try:
        def healthy():
            try:
                return requests.get(base + "/healthz", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(healthy, 30, "the container's server")
        assert requests.post(base + "/v1/tasks", json={"payload": {"tool_name": "echo", "input": {"x": 1}}}, timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {tokens['producer']}"}
        created = requests.post(base + "/v1/tasks", json={"payload": {"tool_name": "echo", "input": {"x": 1}}}, headers=auth, timeout=5)
        assert created.status_code == 201, created.text
        task_url = f"{base}/v1/tasks/{created.json()['id']}"
        viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
        done = wait_for(lambda: (t := requests.get(task_url, headers=viewer, timeout=5).json())["status"] == "completed" and t, 15,
                        "the task to complete in the container")
        assert done["result"] == {"x": 1}
        uid = podman(containers_conf, "exec", name, "switchboard", "--version")  # the binary is on the PATH
        assert uid.returncode == 0
        top = podman(containers_conf, "top", name, "user", "comm").stdout
        assert "switchboard" in top and "root" not in top, top
        assert podman(containers_conf, "healthcheck", "run", name, check=False).returncode == 0, "HEALTHCHECK's command passes"
        # SIGTERM (podman stop) drains and exits 0.
        podman(containers_conf, "stop", "-t", "30", name)
        state = json.loads(podman(containers_conf, "inspect", name).stdout)[0]["State"]
        assert state["ExitCode"] == 0, state
        logs = podman(containers_conf, "logs", name).stdout + podman(containers_conf, "logs", name).stderr
        assert "stopped" in logs
        assert tokens["producer"] not in logs, "secrets never reach the logs"
    finally:
        podman(containers_conf, "rm", "-f", name, check=False)
