"""Security against the built binary: browser attacks, slow bodies, tokens and scopes, the secure
default, HTTPS, mTLS, certificate reload and expiry, the Python worker with a token and a CA."""
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest
import requests

from conftest import BINARY, PKI, ROOT, Server, make_tokens, stop_process, wait_for

TASK = {"payload": {"tool_name": "echo", "input": {"x": 1}}}


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_the_three_browser_attacks_are_refused_and_curl_and_the_page_keep_working(server):
    base = server.base
    # A plain HTML form can send this, with no CORS preflight.
    form = requests.post(base + "/v1/tasks", data='{"payload":{"tool_name":"echo"}}', headers={"Content-Type": "text/plain"})
    assert form.status_code == 415 and form.headers["Content-Type"] == "application/problem+json"
    # A page's fetch from another origin.
    requests.post(base + "/v1/tasks", json={"payload": {"tool_name": "fail", "input": {"retryable": False}}})
    wait_for(lambda: requests.get(base + "/v1/dlq").json()["items"], 10, "a dead task")
    purge = requests.delete(base + "/v1/dlq", headers={"Origin": "http://evil.example"})
    assert purge.status_code == 403
    assert len(requests.get(base + "/v1/dlq").json()["items"]) == 1, "nothing was purged"
    # DNS rebinding: the page's own host name, resolved to the server.
    rebound = requests.get(base + "/v1/tasks", headers={"Host": "evil.example.com"})
    assert rebound.status_code == 421 and "does not answer for the host evil.example.com" in rebound.json()["detail"]
    # curl and the dashboard.
    assert requests.post(base + "/v1/tasks", json=TASK).status_code == 201
    page = requests.get(base + "/")
    assert page.status_code == 200 and "<title>Switchboard" in page.text
    same_origin = requests.post(base + "/v1/tasks", json=TASK, headers={"Origin": base})
    assert same_origin.status_code == 201


def test_a_body_dribbled_a_byte_at_a_time_is_cut_off_and_a_slow_head_too():
    server = Server("--workers", "0", "--body-timeout-ms", "800", "--idle-timeout-ms", "1500")
    try:
        body = b'{"payload": {"tool_name": "echo", "input": {"padding": "' + b"x" * 60 + b'"}}}'
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            started = time.time()
            closed = False
            for byte in body:
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
                time.sleep(0.1)
                if time.time() - started > 6:
                    break
            s.settimeout(5)
            try:
                rest = s.recv(4096)
            except OSError:
                rest = b""
            assert closed or rest == b"" or b"201" not in rest, "the server must not take a dribbled body"
            assert time.time() - started < 5, "cut off near the deadline, not after the whole body"
        assert requests.get(server.base + "/v1/tasks").json()["items"] == [], "nothing was enqueued"
        # A head dribbled slowly: no request part reaches the server, so the idle timeout ends it.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            started = time.time()
            s.settimeout(0.05)
            gone = False
            for byte in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"y" * 200:
                try:
                    s.sendall(bytes([byte]))
                    if s.recv(16) == b"":
                        gone = True
                        break
                except socket.timeout:
                    pass
                except OSError:
                    gone = True
                    break
                time.sleep(0.05)
                if time.time() - started > 8:
                    break
            assert gone, "the slow head was not cut off"
            assert time.time() - started < 5
        # The server still serves.
        assert requests.get(server.base + "/healthz").status_code == 200
    finally:
        assert server.stop() == 0


def test_tokens_scopes_queues_reload_and_audit(tmp_path):
    path, tokens = make_tokens(
        tmp_path, ("billing-producer", "--scope", "producer", "--queues", "billing"), ("ops", "--scope", "operator"),
        ("worker-1", "--scope", "worker"), ("viewer", "--scope", "viewer"))
    server = Server("--workers", "0", "--auth-file", path)
    base = server.base
    try:
        missing = requests.get(base + "/v1/tasks")
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.get(base + "/v1/tasks", headers=auth("sbt_not-a-token")).status_code == 401
        assert requests.get(base + "/healthz").status_code == 200
        assert requests.get(base + "/metrics").status_code == 401
        assert requests.get(base + "/metrics", headers=auth(tokens["viewer"])).status_code == 200
        producer = auth(tokens["billing-producer"])
        assert requests.post(base + "/v1/tasks", json=TASK, headers=producer).status_code == 403, "not its queue"
        created = requests.post(base + "/v1/tasks", json={"queue": "billing", **TASK}, headers=producer)
        assert created.status_code == 201
        assert requests.get(base + "/v1/tasks?queue=default", headers=producer).status_code == 403
        assert requests.delete(base + "/v1/dlq", headers=producer).status_code == 403, "producers do not purge"
        assert requests.post(base + "/v1/leases", json={"worker_id": "w"}, headers=producer).status_code == 403
        assert requests.delete(base + "/v1/dlq", headers=auth(tokens["ops"])).status_code == 200
        leased = requests.post(base + "/v1/leases", json={"worker_id": "w", "queues": ["billing"]}, headers=auth(tokens["worker-1"]))
        assert leased.status_code == 200 and len(leased.json()["items"]) == 1

        # Rotation: a new token is added, an old one removed; SIGHUP reads the file again.
        new_entry = subprocess.run([BINARY, "token", "create", "--name", "late", "--scope", "viewer"],
                                   capture_output=True, text=True, check=True).stdout.splitlines()
        with open(path) as f:
            kept = [line for line in f.read().splitlines() if "name: viewer," not in line]
        with open(path, "w") as f:
            f.write("\n".join(kept + [new_entry[1]]) + "\n")
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: requests.get(base + "/v1/queues", headers=auth(new_entry[0])).status_code == 200, 10, "the new token")
        assert requests.get(base + "/v1/queues", headers=auth(tokens["viewer"])).status_code == 401, "the removed token"
        # A broken file on SIGHUP keeps what was loaded.
        with open(path, "w") as f:
            f.write("tokens: [{name: broken}]\n")
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "outcome=failed" in server.output(), 10, "the failed reload's audit line")
        assert requests.get(base + "/v1/queues", headers=auth(new_entry[0])).status_code == 200
    finally:
        assert server.stop() == 0
    log = server.output()
    assert "action=dlq.purge" in log and "principal=ops" in log and "principal=billing-producer" in log
    assert "action=credentials.reload" in log and "target=tokens" in log
    for token in list(tokens.values()) + [new_entry[0]]:
        assert token not in log, "a token reached the log"


def test_a_non_loopback_bind_without_auth_refuses_to_start(tmp_path):
    result = subprocess.run([BINARY, "serve", "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--auth-file" in result.stderr and "--insecure-no-auth" in result.stderr
    result = subprocess.run([BINARY, "serve", "--allowed-hosts", "*", "--port", "0"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "needs auth" in result.stderr
    # Told explicitly, it starts (and still refuses foreign Host names).
    server = Server("--host", "0.0.0.0", "--insecure-no-auth", "--workers", "0")
    try:
        assert requests.get(server.base + "/v1/queues").status_code == 200
        assert requests.get(server.base + "/v1/queues", headers={"Host": "evil.example.com"}).status_code == 421
    finally:
        assert server.stop() == 0
    # With a token file it starts on a non-loopback address without being told.
    path, tokens = make_tokens(tmp_path, ("admin", "--scope", "admin"))
    server = Server("--host", "0.0.0.0", "--auth-file", path, "--allowed-hosts", "*", "--workers", "0")
    try:
        assert requests.get(server.base + "/v1/queues", headers={**auth(tokens["admin"]), "Host": "sb.example.com"}).status_code == 200
    finally:
        assert server.stop() == 0


def https_server(pki, *args, cert_name="server", env=None, client=None):
    cert, key = pki.server(cert_name)
    return Server("--tls-cert", cert, "--tls-key", key, *args, scheme="https", verify=pki.ca, cert=client, env=env)


def test_the_walkthrough_over_https(pki):
    from conftest import require_tool
    from test_live import walkthrough_script

    require_tool("jq")

    server = https_server(pki)
    try:
        script = walkthrough_script().replace("http://localhost:8080", f"https://localhost:{server.port}")
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, CURL_CA_BUNDLE=pki.ca))
        assert result.returncode == 0, result.stdout + result.stderr
        assert '"status": "completed"' in result.stdout
        # Plain HTTP to the TLS port gets nowhere.
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
        # TLS 1.2 or later only: a client that offers TLS 1.1 at most gets a protocol_version alert.
        def s_client(*options):
            return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-CAfile", pki.ca, *options],
                                  input="", capture_output=True, text=True, timeout=20)
        old = s_client("-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
        assert "alert protocol version" in old.stdout + old.stderr
        assert "Protocol  : TLSv1.2" in s_client("-tls1_2").stdout
    finally:
        assert server.stop() == 0


def test_a_worker_over_mtls_and_a_client_without_a_certificate_refused(pki, tmp_path):
    path, tokens = make_tokens(tmp_path, ("producer", "--scope", "producer"), ("fleet-token", "--scope", "worker"))
    client = pki.issue("worker-1", "worker-1", "DNS:worker-1.fleet")
    server = https_server(pki, "--workers", "0", "--auth-file", path, "--tls-client-ca", pki.ca, client=client)
    worker_log = open(os.path.join(str(tmp_path), "worker.log"), "w")
    worker = subprocess.Popen(
        [BINARY, "worker", "--server", server.base, "--id", "mtls-worker", "--ca-file", pki.ca,
         "--client-cert", client[0], "--client-key", client[1], "--wait-ms", "1000"],
        cwd=ROOT, stdout=worker_log, stderr=subprocess.STDOUT, env=dict(os.environ, SWITCHBOARD_TOKEN=tokens["fleet-token"]))
    try:
        created = requests.post(server.base + "/v1/tasks", json=TASK, headers=auth(tokens["producer"]), verify=pki.ca, cert=client)
        assert created.status_code == 201
        done = wait_for(lambda: (t := requests.get(f"{server.base}/v1/tasks/{created.json()['id']}", headers=auth(tokens["producer"]),
                                                   verify=pki.ca, cert=client).json())["status"] == "completed" and t, 20,
                        "the worker over mTLS to complete the task")
        assert done["worker_id"] == "mtls-worker"
        # No client certificate: the handshake fails, before any HTTP.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.base + "/healthz", verify=pki.ca, timeout=5)
        # A certificate from another CA: refused too.
        (tmp_path / "other-ca").mkdir()
        foreign = PKI(tmp_path / "other-ca").issue("foreign", "intruder", "DNS:intruder")
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.base + "/healthz", verify=pki.ca, cert=foreign, timeout=5)
        # The admin subcommands take the same options.
        listed = subprocess.run([BINARY, "task", "get", created.json()["id"], "--server", server.base, "--ca-file", pki.ca,
                                 "--client-cert", client[0], "--client-key", client[1], "--token", tokens["producer"]],
                                capture_output=True, text=True, timeout=30)
        assert listed.returncode == 0 and '"status":"completed"' in listed.stdout, listed.stderr
    finally:
        assert stop_process(worker, worker_log) == 0
        assert server.stop() == 0


def test_a_client_certificate_can_stand_for_a_token(pki, tmp_path):
    rules = os.path.join(str(tmp_path), "rules.yaml")
    with open(rules, "w") as f:
        f.write('tokens:\n  - {name: fleet, client_certificate: "*.fleet", scopes: [worker, viewer]}\n')
    fleet = pki.issue("w1", "w1", "DNS:w1.fleet")
    other = pki.issue("laptop", "laptop", "DNS:laptop.office")
    server = https_server(pki, "--workers", "0", "--auth-file", rules, "--tls-client-ca", pki.ca, "--mtls-scope", "viewer",
                          client=fleet)
    try:
        lease = requests.post(server.base + "/v1/leases", json={"worker_id": "w1"}, verify=pki.ca, cert=fleet)
        assert lease.status_code == 200, lease.text
        # A certificate no rule names gets --mtls-scope: it may look, not lease.
        assert requests.get(server.base + "/v1/queues", verify=pki.ca, cert=other).status_code == 200
        assert requests.post(server.base + "/v1/leases", json={"worker_id": "x"}, verify=pki.ca, cert=other).status_code == 403
    finally:
        assert server.stop() == 0


def peer_certificate(port, ca, connection=None):
    context = ssl.create_default_context(cafile=ca)
    connection = connection or http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    assert response.status == 200
    response.read()
    return connection, connection.sock.getpeercert(binary_form=True)


def test_certificates_reload_on_sighup_without_dropping_an_open_connection(pki):
    server = https_server(pki, "--workers", "0")
    try:
        held, first = peer_certificate(server.port, pki.ca)
        # New files in place, then SIGHUP.
        cert, key = pki.server("renewed")
        os.replace(cert, pki.path("server.crt"))
        os.replace(key, pki.path("server.key"))
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "target=tls" in server.output(), 10, "the reload's audit line")
        _, fresh = peer_certificate(server.port, pki.ca)
        assert fresh != first, "a new connection gets the new certificate"
        # The connection opened before still works, on the certificate it started with.
        _, still = peer_certificate(server.port, pki.ca, connection=held)
        assert still == first
        held.close()
    finally:
        assert server.stop() == 0


def test_expired_certificates_are_refused(pki, tmp_path):
    # An expired server certificate refuses to start.
    cert, key = pki.server("stale", expired=True)
    result = subprocess.run([BINARY, "serve", "--port", "0", "--tls-cert", cert, "--tls-key", key],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "expired" in result.stderr
    # An expired client certificate is refused at the handshake.
    server = https_server(pki, "--workers", "0", "--tls-client-ca", pki.ca, client=pki.issue("good", "good", "DNS:good"))
    try:
        expired = pki.issue("old-client", "old", "DNS:old", expired=True)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.base + "/healthz", verify=pki.ca, cert=expired, timeout=5)
        # An expired certificate put in place and signalled is not taken: the old one stays.
        os.replace(cert, pki.path("server.crt"))
        os.replace(key, pki.path("server.key"))
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "outcome=failed" in server.output(), 10, "the failed reload")
        assert "expired" in server.output()
        assert requests.get(server.base + "/healthz", verify=pki.ca, cert=server.cert, timeout=5).status_code == 200
    finally:
        assert server.stop() == 0


def test_the_python_worker_takes_a_token_and_a_ca(pki, tmp_path):
    path, tokens = make_tokens(tmp_path, ("producer", "--scope", "producer"), ("py", "--scope", "worker"))
    server = https_server(pki, "--workers", "0", "--auth-file", path)
    log = open(os.path.join(str(tmp_path), "py.log"), "w")
    worker = subprocess.Popen(
        [sys.executable, f"{ROOT}/Examples/PythonWorker/python_worker.py", "--server", f"https://localhost:{server.port}", "--ca-file", pki.ca],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, SWITCHBOARD_TOKEN=tokens["py"]))
    try:
        task = requests.post(server.base + "/v1/tasks", json={"payload": {"tool_name": "upper", "input": {"text": "hi"}}},
                             headers=auth(tokens["producer"]), verify=pki.ca).json()
        done = wait_for(lambda: (t := requests.get(f"{server.base}/v1/tasks/{task['id']}", headers=auth(tokens["producer"]),
                                                   verify=pki.ca).json())["status"] == "completed" and t, 20, "the Python worker")
        assert done["result"] == {"text": "HI"}
    finally:
        stop_process(worker, log, signal.SIGINT)
        assert server.stop() == 0


def test_token_create_prints_a_token_and_its_entry():
    out = subprocess.run([BINARY, "token", "create", "--name", "ci", "--scope", "worker,viewer", "--queues", "a,b",
                          "--expires", "2030-01-01T00:00:00Z"], capture_output=True, text=True, check=True).stdout.splitlines()
    token, entry = out
    assert token.startswith("sbt_") and len(token) == 47
    assert entry.startswith("  - {name: ci, sha256: ") and "scopes: [viewer, worker]" in entry and "queues: [a, b]" in entry
    hashed = subprocess.run([BINARY, "token", "hash"], input=token + "\n", capture_output=True, text=True, check=True).stdout.strip()
    assert f"sha256: {hashed}," in entry
    bad = subprocess.run([BINARY, "token", "create", "--name", "x", "--scope", "root"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown scope" in bad.stderr


def test_readme_production_section_runs_as_written(tmp_path):
    import re

    from conftest import free_port, require_tool

    for tool in ["jq", "openssl", "curl"]:
        require_tool(tool)
    with open(f"{ROOT}/README.md") as f:
        readme = f.read()
    section = readme[readme.index("<!-- production:start -->"):readme.index("<!-- production:end -->")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) >= 9, "the production section lost its examples"
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2> /dev/null || true' EXIT\n" + "\n".join(blocks)
    script = script.replace("8443", str(free_port()))
    env = dict(os.environ, PATH=os.path.dirname(BINARY) + os.pathsep + os.environ["PATH"])
    result = subprocess.run(["bash", "-c", script], cwd=str(tmp_path), capture_output=True, text=True, timeout=300, env=env)
    log = open(tmp_path / "switchboard.log").read() if (tmp_path / "switchboard.log").exists() else ""
    assert result.returncode == 0, result.stdout + result.stderr + log[-3000:]
    out = result.stdout
    assert '{"status":401,' in out
    assert '{"status":403,"detail":"billing-api may not do this' in out
    assert '{"status":403,"detail":"billing-api is limited to the queues billing, not payroll"}' in out
    assert "refused without a client certificate" in out
    assert '{"deleted":0}' in out
    assert re.search(r"^[1-9]\d*$", out, re.M), out
    assert '{"action":"dlq.purge","principal":"ops","target":"/v1/dlq","outcome":"ok"}' in out
    assert '{"action":"dlq.purge","principal":"billing-api","target":"/v1/dlq","outcome":"refused"}' in out
    assert '"action":"credentials.reload"' in out
    tokens = [open(p).readline().strip() for p in tmp_path.glob("*.token")]
    assert len(tokens) == 5
    for token in tokens:
        assert token not in log and token not in open(tmp_path / "worker.log").read()


def test_connection_cap_rate_limit_depth_and_name_bounds(tmp_path):
    path, tokens = make_tokens(tmp_path, ("busy", "--scope", "producer"))
    server = Server("--workers", "0", "--auth-file", path, "--max-connections", "2", "--rate-limit", "5", "--rate-burst", "5",
                    "--max-queue-depth", "3", "--max-queue-names", "2")
    try:
        # Two connections held open; a third is not served until one of them closes.
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert b"200 OK" in s.recv(4096)
        third = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        third.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        third.settimeout(1)
        with pytest.raises(socket.timeout):
            third.recv(4096)
        held[0].close()
        third.settimeout(5)
        assert b"200 OK" in third.recv(4096), "served once a connection freed"
        third.close()
        held[1].close()

        busy = auth(tokens["busy"])

        def post(queue):
            # Each answer is read and its connection closed: with a cap of two, a kept response
            # (which holds its connection) would hold up the next call.
            with requests.post(server.base + "/v1/tasks", json={"queue": queue, **TASK}, headers=busy, timeout=10) as answer:
                return answer.status_code, answer.json(), answer.headers

        answers = [post("q1") for _ in range(4)]
        assert [status for status, _, _ in answers] == [201, 201, 201, 429]
        assert "queue q1 holds 3 waiting tasks" in answers[3][1]["detail"] and answers[3][2]["Retry-After"] == "1"
        time.sleep(1.2)
        assert post("q2")[0] == 201
        status, problem, _ = post("q3")
        assert status == 422 and "limit of 2" in problem["detail"]
        # Five a second with a burst of five: a quick run of calls meets 429 with Retry-After.
        limited = [answer for answer in (post("q2") for _ in range(12)) if answer[0] == 429 and "rate" in answer[1]["detail"]]
        assert limited and int(limited[0][2]["Retry-After"]) >= 1
        assert "busy is over its rate of 5 requests per second" in limited[0][1]["detail"]
    finally:
        assert server.stop() == 0


def test_unusable_security_configuration_refuses_to_start(tmp_path):
    broken = tmp_path / "tokens.yaml"
    broken.write_text("tokens: [{name: ci, sha256: abc, scopes: [worker]}]\n")
    cases = [
        (["--auth-file", str(broken)], "64 hex digits"),
        (["--auth-file", str(tmp_path / "missing.yaml")], "cannot be read"),
        (["--tls-cert", str(tmp_path / "c.pem")], "--tls-cert and --tls-key go together"),
        (["--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem")], "cannot be read"),
        (["--mtls-scope", "worker"], "--mtls-scope needs --tls-client-ca"),
        (["--jwt-key", str(tmp_path / "k.pem"), "--jwt-secret-file", str(tmp_path / "s")], "one of --jwt-key and --jwt-secret-file"),
    ]
    for args, message in cases:
        result = subprocess.run([BINARY, "serve", "--port", "0", *args], capture_output=True, text=True, timeout=30)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr[-500:])
