"""The checker of the fault harness: what must hold however the nemesis struck.

It reads a history — what the producers were acknowledged, every handler's start and end and
every outcome's delivery from the workers' debug logs, the nemesis's kills and stops, the tasks'
final records — and returns the violations it finds (an empty list when all holds):

- lost: every acknowledged task ends completed, dead or cancelled;
- idempotency: one idempotency key is acknowledged with one task id;
- completed twice: at most one lease of a task has its completion accepted;
- attempts: a task's attempts never exceed 1 + max_retries, and it is not leased more often
  than its attempts and releases allow;
- lock overlap: two handlers of one lock key overlap only if the older lease (the lower token)
  was fenced (its worker stopped it, lost the lease, was killed, or had its outcome refused) —
  and only if the older's worker was frozen (SIGSTOP) meanwhile: a running worker fences itself
  before its lease can be reaped, so a worker that was not frozen never overlaps;
- tokens: no fencing token is handed out twice for one key;
- retry spread: the retries of a burst of failures do not bunch (no 100 ms bucket holds more
  than `max_bucket_share` of them); the harness sends the burst once the faults are over and
  the earlier tasks have drained, since retries that fell due while no worker or slot could take
  them rightly start together when one can;
- results: a completed echo task's result is its input.
"""
import json
from dataclasses import dataclass, field
from datetime import datetime

TERMINAL = {"completed", "dead", "cancelled"}
# Outcomes after which the lease was not the handler's any more, by its own account.
GAVE_UP = {"fenced", "lease_lost"}


@dataclass
class Execution:
    """One handler run: a lease's start and end as its worker logged them."""
    worker: str
    task_id: str
    lease_id: str
    start: int  # ms since the epoch
    lock_key: str = ""
    token: int | None = None
    attempt: int = 0
    end: int | None = None
    outcome: str | None = None
    accepted: bool | None = None


@dataclass
class History:
    # idempotency key -> every task id it was acknowledged with
    acknowledged: dict = field(default_factory=dict)
    # task id -> what was submitted (kind, input, max_retries)
    submitted: dict = field(default_factory=dict)
    # task id -> final record (None: not found)
    final: dict = field(default_factory=dict)
    executions: list = field(default_factory=list)
    # worker name -> [ms] of its kill -9s
    kills: dict = field(default_factory=dict)
    # worker name -> [(stopped ms, continued ms)]
    freezes: dict = field(default_factory=dict)
    # task ids of the failure burst
    burst: list = field(default_factory=list)


def parse_ts(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def read_worker_log(worker, lines):
    """Executions from one worker's JSON log lines (a file appended across its restarts)."""
    executions = {}
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by kill -9
        message, lease = entry.get("message"), entry.get("lease_id")
        if message == "handler started":
            token = entry.get("fencing_token") or None
            executions[lease] = Execution(
                worker=worker, task_id=entry["task_id"], lease_id=lease, start=parse_ts(entry["ts"]),
                lock_key=entry.get("lock_key", ""), token=int(token) if token else None, attempt=int(entry.get("attempt", 0)))
        elif message == "handler ended" and lease in executions:
            executions[lease].end = parse_ts(entry["ts"])
            executions[lease].outcome = entry.get("outcome")
        elif message == "outcome reported" and lease in executions:
            executions[lease].accepted = entry.get("accepted") == "true"
    return list(executions.values())


def _killed_after(history, worker, t):
    later = [k for k in history.kills.get(worker, []) if k >= t]
    return min(later) if later else None


def _frozen_between(history, worker, start, end):
    return any(stopped <= end and continued >= start for stopped, continued in history.freezes.get(worker, []))


def check(history, max_bucket_share=0.05, lease_ms=1500):
    violations = []

    for key, ids in history.acknowledged.items():
        if len(set(ids)) > 1:
            violations.append(f"idempotency: key {key} was acknowledged with {sorted(set(ids))}")

    acknowledged_ids = {ids[0] for ids in history.acknowledged.values() if ids}
    for task_id in sorted(acknowledged_ids):
        record = history.final.get(task_id)
        if record is None:
            violations.append(f"lost: acknowledged task {task_id} is gone")
        elif record["status"] not in TERMINAL:
            violations.append(f"lost: acknowledged task {task_id} ended {record['status']}, not completed, dead or cancelled")

    by_task = {}
    for execution in history.executions:
        by_task.setdefault(execution.task_id, []).append(execution)

    for task_id, executions in by_task.items():
        accepted = {e.lease_id for e in executions if e.outcome == "succeeded" and e.accepted}
        if len(accepted) > 1:
            violations.append(f"completed twice: task {task_id} had completions of {len(accepted)} leases accepted")

    for task_id, record in history.final.items():
        if record is None:
            continue
        if record["attempts"] > 1 + record["max_retries"]:
            violations.append(f"attempts: task {task_id} had {record['attempts']} attempts with max_retries {record['max_retries']}")
        leases = len({e.lease_id for e in by_task.get(task_id, [])})
        if leases > record["attempts"] + record.get("releases", 0):
            violations.append(
                f"attempts: task {task_id} was run under {leases} leases, more than its {record['attempts']} attempts "
                f"and {record.get('releases', 0)} releases")
        submitted = history.submitted.get(task_id)
        if submitted and submitted["kind"] == "echo" and record["status"] == "completed" and record.get("result") != submitted["input"]:
            violations.append(f"results: echo task {task_id} completed with {record.get('result')!r}, not {submitted['input']!r}")

    by_key = {}
    for execution in history.executions:
        if execution.lock_key:
            by_key.setdefault(execution.lock_key, []).append(execution)
    for key, executions in by_key.items():
        tokens = {}
        for e in executions:
            if e.token is None:
                violations.append(f"tokens: lease {e.lease_id} of lock key {key} carried no fencing token")
            elif tokens.setdefault(e.token, e.lease_id) != e.lease_id:
                violations.append(f"tokens: token {e.token} of lock key {key} was handed out twice")
        executions = sorted(executions, key=lambda e: e.start)
        for i, earlier in enumerate(executions):
            end, _ = _ended(history, earlier)
            for later in executions[i + 1:]:
                if end is not None and later.start >= end:
                    break
                violations.extend(_overlap(history, key, earlier, later, end, lease_ms))
    violations.extend(_retry_spread(history, by_task, max_bucket_share))
    return violations


def _ended(history, execution):
    """When a handler stopped: its logged end, or its worker's kill -9 if that came first."""
    killed = _killed_after(history, execution.worker, execution.start)
    ends = [t for t in (execution.end, killed) if t is not None]
    return (min(ends) if ends else None), killed is not None and (execution.end is None or killed <= execution.end)


def _overlap(history, key, first, second, first_end, lease_ms):
    """What is wrong with two handlers of one key running at once, if anything. The older
    lease (the lower token) is the one that must have lost its claim: a worker frozen after it
    received a lease may start its handler only when it wakes, after a newer lease began."""
    what = (f"lock overlap: on {key}, lease {second.lease_id} (token {second.token}, {second.worker}) and lease "
            f"{first.lease_id} (token {first.token}, {first.worker}) ran at once")
    if first_end is None:
        return [f"{what}, and the first never ended"]
    if first.token is None or second.token is None or first.token == second.token:
        return [f"{what}, without distinct tokens"]
    older = first if first.token < second.token else second
    newer = second if older is first else first
    older_end, killed = _ended(history, older)
    fenced = older.outcome in GAVE_UP or killed or older.accepted is False
    if not fenced:
        return [f"{what}, and the older one's outcome ({older.outcome}) was accepted: two holders at once"]
    # The older lease was granted at most a lease before its handler started.
    window = (min(older.start, newer.start) - lease_ms, max(older.start, newer.start))
    if not _frozen_between(history, older.worker, *window):
        return [f"{what}, though the older one's worker was never frozen: it did not fence itself in time"]
    return []


def _burst_retries(history, by_task):
    return sorted(e.start for task_id in history.burst for e in by_task.get(task_id, []) if e.attempt >= 2)


def _fullest_bucket(starts):
    """How many of `starts` (ms) the fullest 100 ms bucket holds."""
    buckets = {}
    for t in starts:
        buckets[t // 100] = buckets.get(t // 100, 0) + 1
    return max(buckets.values())


def _retry_spread(history, by_task, max_bucket_share):
    retries = _burst_retries(history, by_task)
    if len(retries) < 50:
        return [f"retry spread: only {len(retries)} retries of the burst were seen"] if history.burst else []
    fullest = _fullest_bucket(retries)
    if fullest > max_bucket_share * len(retries):
        return [f"retry spread: {fullest} of {len(retries)} retries of the burst fell in one 100 ms bucket"]
    return []


def retry_spread_figure(history):
    """The fullest 100 ms bucket's share of the burst's retries (for the summary)."""
    by_task = {}
    for e in history.executions:
        by_task.setdefault(e.task_id, []).append(e)
    retries = _burst_retries(history, by_task)
    return _fullest_bucket(retries) / len(retries) if retries else None
