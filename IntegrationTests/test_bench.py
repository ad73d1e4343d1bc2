"""`switchboard-bench --quick` keeps the harness working (no thresholds: figures come from
release builds on quiet machines, see BENCHMARKS.md)."""
import json
import os
import subprocess

from conftest import BINARY

BENCH = BINARY + "-bench"

FIELDS = {"scenario", "backend", "tasks", "seconds", "tasks_per_sec", "p50_ms", "p99_ms", "rss_bytes", "baseline", "ratio"}


def test_every_scenario_prints_its_json_line():
    args = [BENCH, "all", "--quick"]
    redis = os.environ.get("SWITCHBOARD_TEST_REDIS_URL")
    if redis:
        args += ["--redis", redis.rsplit("/", 1)[0] + "/6"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    seen = [(line["scenario"], line["backend"]) for line in lines]
    expected = [("engine", "memory"), ("engine-events-watched", "memory"), ("engine-events-unwatched", "memory"), ("latency", "memory")] + ([("latency", "redis")] if redis else []) + [
        ("depth", "memory"), ("http-enqueue", "memory"), ("http-batch", "memory"), ("http-secure", "memory"), ("remote", "memory"), ("codec", "none"),
        ("locks", "memory")]
    if redis:
        expected += [("locks", "redis"), ("redis", "redis")]
    assert seen == expected
    for line in lines:
        assert FIELDS <= set(line), line
        assert line["tasks"] > 0 and line["tasks_per_sec"] > 0 and line["baseline"]["per_sec"] > 0
    for latency in (line for line in lines if line["scenario"] == "latency"):
        assert 0 < latency["p50_ms"] <= latency["p99_ms"]
    assert next(line for line in lines if line["scenario"] == "depth")["bytes_per_queued_task"] > 0
    codec = next(line for line in lines if line["scenario"] == "codec")
    assert codec["bytes_per_task"] > 500 and codec["write_ns_per_task"] > 0 and codec["read_ns_per_task"] > 0
    for http in (line for line in lines if line["scenario"] in ("http-enqueue", "http-batch")):
        assert http["hummingbird_fixed_answer_per_sec"] > 0
    secure = next(line for line in lines if line["scenario"] == "http-secure")
    assert secure["auth_per_sec"] > 0 and secure["tls_per_sec"] > 0 and secure["auth_tls_per_sec"] > 0
    assert 0 < secure["auth_tls_ratio"] and abs(secure["auth_tls_ratio"] - secure["ratio"]) <= 0.002


def test_an_unknown_scenario_is_refused():
    result = subprocess.run([BENCH, "nonsense"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "nonsense" in result.stderr


def test_the_shipped_binary_carries_no_benchmarks():
    result = subprocess.run([BINARY, "bench", "engine"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    help_text = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "bench" not in help_text and "baseline-echo" not in help_text


def test_the_sqlite_scenarios_print_their_lines_beside_memory():
    lines = []
    for scenario in ("engine", "latency"):
        result = subprocess.run([BENCH, scenario, "--backend", "sqlite", "--quick"], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        lines += [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    seen = [(line["scenario"], line["backend"], line.get("callers")) for line in lines]
    assert seen == [("engine", "sqlite", None), ("latency", "memory", None), ("latency", "sqlite", None),
                    ("enqueue-ack", "sqlite", 1), ("enqueue-ack", "sqlite", 32)]
    for line in lines:
        assert FIELDS <= set(line), line
        assert line["tasks"] > 0 and line["tasks_per_sec"] > 0 and line["baseline"]["per_sec"] > 0
    assert lines[0]["synchronous"] == "FULL" and lines[0]["file_bytes"] > 0
    for ack in lines[3:]:
        assert 0 < ack["p50_ms"] <= ack["p99_ms"] and ack["memory_p99_ms"] > 0
    refused = subprocess.run([BENCH, "engine", "--backend", "cassandra"], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "memory or sqlite" in refused.stderr
    for flag, value, says in [("--payload-bytes", "-1", "payload-bytes"), ("--sqlite-synchronous", "off", "sqlite-synchronous")]:
        refused = subprocess.run([BENCH, "engine", "--backend", "sqlite", flag, value], capture_output=True, text=True, timeout=30)
        assert refused.returncode != 0 and says in refused.stderr, (flag, refused.stderr)
