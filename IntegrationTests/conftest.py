"""Fixtures for the live checks: a real `switchboard serve` on a free loopback port."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, ".build", "debug", "switchboard")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`switchboard serve` on a free loopback port. `scheme="https"` needs `verify` (a CA file) and,
    under mTLS, `cert` (client certificate and key) for the start-up check; `env` adds variables."""

    def __init__(self, *args, env=None, scheme="http", verify=True, cert=None, host="127.0.0.1", prefix=None, cwd=ROOT):
        self.port = free_port()
        self.base = f"{scheme}://{host}:{self.port}"
        self.verify = verify
        self.cert = cert
        self.log_path = os.path.join(ROOT, ".build", f"live-server-{self.port}.log")
        self.log = open(self.log_path, "w")
        env = dict(env or {})
        # The default backend keeps a file under the data directory, one server per file: each
        # server gets its own unless the test chose.
        self.data_dir = None
        if "SWITCHBOARD_DATA_DIR" not in env and "--data-dir" not in args:
            os.makedirs(os.path.join(ROOT, ".build", "live-data"), exist_ok=True)
            self.data_dir = tempfile.mkdtemp(prefix=f"server-{self.port}-", dir=os.path.join(ROOT, ".build", "live-data"))
            env["SWITCHBOARD_DATA_DIR"] = self.data_dir
        self.process = subprocess.Popen(
            [*(prefix or []), BINARY, "serve", "--port", str(self.port), *args], cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
            env=dict(os.environ, **env))
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(self.base + "/healthz", timeout=1, verify=verify, cert=cert).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not start; see {self.log_path}:\n{self.output()[-3000:]}")

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        code = stop_process(self.process, self.log, sig, timeout)
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return code


def stop_process(process, log, sig=signal.SIGTERM, timeout=30):
    """Signals a process, kills it if it outlives `timeout`, closes its log; its exit status."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()
    return process.returncode


def wait_for(predicate, timeout, what):
    """The first truthy value of `predicate`, polled every 50 ms, or a failure naming `what`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def get_task(server, task_id):
    return requests.get(f"{server.base}/v1/tasks/{task_id}", timeout=5).json()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


def require_tool(name):
    """In CI a missing tool is a failure; on a developer's machine it skips the check."""
    if shutil.which(name) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")


class RedisServer:
    """A redis-server of the test's own on a free loopback port, with its data in a temporary
    folder, so it can be killed and restarted with the same data (AOF, fsync on every write)."""

    def __init__(self, tmp_path, appendonly=True):
        require_tool("redis-server")
        self.port = free_port()
        self.dir = str(tmp_path)
        self.appendonly = appendonly
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", ""]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self):
        """kill -9: no shutdown save; only what the AOF already holds survives."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self, down_for=0.5):
        self.kill()
        time.sleep(down_for)
        self.start()


@pytest.fixture
def redis_server(tmp_path):
    r = RedisServer(tmp_path)
    yield r
    r.kill()


class NATSServer:
    """A nats-server (JetStream, file storage, `sync_interval: always`) of the test's own on free
    loopback ports, its store in a temporary folder so it can be killed and restarted with it;
    one node of a cluster when given `routes`."""

    def __init__(self, folder, name="n1", cluster_port=None, routes=()):
        require_tool("nats-server")
        self.port = free_port()
        self.name = name
        self.url = f"nats://127.0.0.1:{self.port}"
        os.makedirs(folder, exist_ok=True)
        self.config = os.path.join(folder, f"{name}.conf")
        lines = [f"server_name: {name}", f"listen: 127.0.0.1:{self.port}",
                 f"jetstream {{ store_dir: {json.dumps(os.path.join(folder, name))}, sync_interval: always }}"]
        if cluster_port:
            route_list = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes)
            lines.append(f"cluster {{ name: sb, listen: 127.0.0.1:{cluster_port}, routes: [{route_list}] }}")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log_path = os.path.join(folder, f"{name}.log")
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(["nats-server", "-c", self.config], stdout=open(self.log_path, "a"), stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(5) == b"INFO ":
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"nats-server did not start; see {self.log_path}")

    def kill(self):
        """kill -9: only what JetStream already synced survives (every write, with sync always)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self, down_for=0.5):
        self.kill()
        time.sleep(down_for)
        self.start()


class NATSCluster:
    """Three nats-servers routed into one JetStream cluster on loopback ports."""

    def __init__(self, folder):
        cluster_ports = [free_port() for _ in range(3)]
        self.nodes = [NATSServer(folder, f"n{i + 1}", cluster_ports[i], [p for j, p in enumerate(cluster_ports) if j != i])
                      for i in range(3)]
        self.url = "nats://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def kill(self):
        for n in self.nodes:
            n.kill()


@pytest.fixture
def nats_server(tmp_path):
    n = NATSServer(str(tmp_path / "nats"))
    yield n
    n.kill()


@pytest.fixture
def nats_cluster(tmp_path):
    c = NATSCluster(str(tmp_path / "cluster"))
    yield c
    c.kill()


class PKI:
    """Certificates made with openssl in a test's folder: a CA, server certificates for
    localhost/127.0.0.1, client certificates it signed, and expired ones (`openssl ca` with fixed
    dates, since `x509 -days` cannot go back in time)."""

    def __init__(self, folder):
        require_tool("openssl")
        self.dir = str(folder)
        self.ca = self.path("ca.crt")
        self._run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                  "-subj", "/CN=switchboard-test-ca")
        with open(self.path("ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = test\n[test]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
                    "default_md = sha256\npolicy = any\ncopy_extensions = copy\n[any]\ncommonName = supplied\n")
        open(self.path("index.txt"), "w").close()
        with open(self.path("serial"), "w") as f:
            f.write("1000\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _run(self, *args):
        result = subprocess.run(["openssl", *args], cwd=self.dir, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr

    def issue(self, name, cn, san, expired=False):
        """Signs a new key's certificate; returns (certificate path, key path)."""
        with open(self.path(f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\n")
        self._run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
                  "-addext", f"subjectAltName={san}")
        if expired:
            self._run("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", f"{name}.csr",
                      "-out", f"{name}.crt", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-notext")
        else:
            self._run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                      "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
        return self.path(f"{name}.crt"), self.path(f"{name}.key")

    def server(self, name="server", expired=False):
        return self.issue(name, "localhost", "DNS:localhost,IP:127.0.0.1", expired=expired)


@pytest.fixture
def pki(tmp_path):
    return PKI(tmp_path)


def make_tokens(folder, *specs):
    """Writes a token file from `switchboard token create` lines; returns (path, {name: token})."""
    lines, tokens = ["tokens:"], {}
    for name, *options in specs:
        out = subprocess.run([BINARY, "token", "create", "--name", name, *options], capture_output=True, text=True, check=True).stdout
        token, entry = out.splitlines()[:2]
        tokens[name] = token
        lines.append(entry)
    path = os.path.join(str(folder), "tokens.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, tokens
