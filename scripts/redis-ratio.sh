#!/usr/bin/env bash
# End-to-end no-op tasks per second through Redis (enqueue → lease → complete) next to
# redis-benchmark's PING and SET on the same throwaway redis-server, back to back (release build).
# Usage: scripts/redis-ratio.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product switchboard-bench >/dev/null 2>&1
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --logfile "$dir/redis.log" &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-benchmark -p "$port" -t ping,set -n 200000 -c 64 --csv 2>/dev/null | tr -d '"' |
  awk -F, '$1 == "PING_MBULK" || $1 == "SET" {printf "{\"measure\": \"redis-benchmark %s (64 clients)\", \"per_sec\": %d}\n", $1, $2}'
.build/release/switchboard-bench redis --redis "redis://127.0.0.1:$port/0"
