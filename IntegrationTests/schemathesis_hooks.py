"""Schemathesis hooks: keep lock acquisitions and lease long-polls short, so that fuzzing a long-poll endpoint tests
its answers instead of waiting minutes for locks that earlier examples took for a day."""
import urllib.parse

import schemathesis


def _shorten(body, key, low, high, cap):
    value = body.get(key)
    # Only values the schema allows are shortened: out-of-range ones must stay out of range,
    # since negative examples check that they are refused.
    # JSON Schema counts 10287.0 as an integer, and so does the server.
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value) and low <= value <= high:
        body[key] = min(int(value), cap)


@schemathesis.hook("map_body").apply_to(method="POST", path="/v1/locks/{key}/acquire")
def short_lock_waits(ctx, body):
    if isinstance(body, dict):
        _shorten(body, "wait_ms", 0, 300_000, 200)
        _shorten(body, "ttl_ms", 1, 86_400_000, 500)
    return body


@schemathesis.hook("map_body").apply_to(method="POST", path="/v1/leases")
def short_lease_waits(ctx, body):
    if isinstance(body, dict):
        _shorten(body, "wait_ms", 0, 60_000, 200)
    return body


@schemathesis.hook("filter_path_parameters").apply_to(method="POST", path="/v1/locks/{key}/acquire")
def printable_lock_keys(ctx, path_parameters):
    # Schemathesis 4.32 fills path parameters with control characters once it has seen the
    # server take them in a URL ("Accepts backslash and control characters in URL paths"),
    # schema or not; a key the schema itself forbids is refused (422) by design.
    key = (path_parameters or {}).get("key")
    if not isinstance(key, str):
        return True
    key = urllib.parse.unquote(key)  # the value may arrive percent-encoded already
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in key)


@schemathesis.hook("map_query").apply_to(method="GET", path="/v1/events")
def short_event_waits(ctx, query):
    # The JSON form long-polls up to wait_ms for an event; nothing else happens meanwhile.
    if isinstance(query, dict):
        _shorten(query, "wait_ms", 0, 30_000, 50)
    return query
