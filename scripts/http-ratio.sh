#!/usr/bin/env bash
# Requests per second of single-task POST /v1/tasks against a bare SwiftNIO echo server that
# receives the same request, measured back to back on this machine (release build, wrk).
# Usage: scripts/http-ratio.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
swift build -c release --product switchboard >/dev/null
swift build -c release --product switchboard-bench >/dev/null
bin=.build/release/switchboard
.build/release/switchboard-bench baseline-echo --port 18191 >/dev/null 2>&1 &
echo_pid=$!
$bin serve --backend memory --port 18192 --workers 0 --log-level error >/dev/null 2>&1 &
serve_pid=$!
trap 'kill $echo_pid $serve_pid 2>/dev/null || true' EXIT
sleep 1
rate() { wrk -t1 -c"$connections" -d"${seconds}s" -s scripts/post-task.lua "$1" | awk '/Requests\/sec/ {print $2}'; }
baseline=$(rate http://127.0.0.1:18191/)
switchboard=$(rate http://127.0.0.1:18192/v1/tasks)
python3 -c "print('{\"baseline_echo_rps\": %s, \"post_task_rps\": %s, \"ratio\": %.2f}' % ($baseline, $switchboard, $switchboard / $baseline))"
