-- wrk script: single-task POST /v1/tasks (and the same request against the echo baseline).
wrk.method = "POST"
wrk.body = '{"payload": {"tool_name": "echo", "input": {"path": "/etc/hosts"}, "reason": "gathering info"}}'
wrk.headers["Content-Type"] = "application/json"
