"""Fuzz the app from its own OpenAPI schema with schemathesis (in process, real pipeline on the
test PostgreSQL and Redis): thousands of generated requests, schema-conforming and not, mostly
with a valid token, some with none or a bad one.

What must hold for every one of them: no 5xx other than a documented 503, and every 4xx body is
``{"error": {"code", "message", "request_id"}}`` with the request id of the response header.

``FUZZ_SCALE`` (default 1.0) multiplies the number of examples, e.g. ``FUZZ_SCALE=5`` for a
longer local run. Generation is derandomized, so a failure here repeats.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
# examples per (operation, mode); the query endpoint does the real work, so it gets the most
BUDGET = {
    ("POST", "/v1/query", "positive"): 1200,
    ("POST", "/v1/query", "negative"): 900,
    ("GET", "/v1/stats", "positive"): 400,
    ("GET", "/v1/rate-limit/status", "positive"): 150,
    # verdicts on answers: made-up ids must answer 404 with a code, never 500
    ("POST", "/v1/answers/{answer_id}/feedback", "positive"): 150,
    ("POST", "/v1/answers/{answer_id}/feedback", "negative"): 100,
    ("GET", "/healthz", "positive"): 300,
    ("GET", "/readyz", "positive"): 300,
    ("GET", "/metrics", "positive"): 200,
    # the notes routes write: fewer examples (each write embeds), both ways of reaching them
    ("PUT", "/v1/notes/{note_id}", "positive"): 60,
    ("PUT", "/v1/notes/{note_id}", "negative"): 60,
    ("DELETE", "/v1/notes/{note_id}", "positive"): 40,
    ("GET", "/v1/notes/{note_id}", "positive"): 40,
    ("GET", "/v1/notes/{note_id}", "negative"): 20,
    ("GET", "/v1/notes", "positive"): 60,
    ("GET", "/v1/notes", "negative"): 40,
    ("POST", "/v1/notes:bulk", "positive"): 30,
    ("POST", "/v1/notes:bulk", "negative"): 40,
    ("PUT", "/v1/users/{user_id}/notes/{note_id}", "positive"): 30,
    ("DELETE", "/v1/users/{user_id}/notes/{note_id}", "positive"): 20,
    ("GET", "/v1/users/{user_id}/notes/{note_id}", "positive"): 20,
    ("GET", "/v1/users/{user_id}/notes", "positive"): 30,
    ("POST", "/v1/users/{user_id}/notes:bulk", "positive"): 20,
    # revisions and the trash (issue 82): a restore re-embeds, so few of them
    ("GET", "/v1/notes/{note_id}/revisions", "positive"): 30,
    ("POST", "/v1/notes/{note_id}:restore", "positive"): 30,
    ("POST", "/v1/notes/{note_id}:restore", "negative"): 20,
    ("GET", "/v1/users/{user_id}/notes/{note_id}/revisions", "positive"): 20,
    ("POST", "/v1/users/{user_id}/notes/{note_id}:restore", "positive"): 20,
    # conversations (issue 80): reads and an end, the caller's own or a service token's
    ("GET", "/v1/conversations", "positive"): 20,
    ("GET", "/v1/conversations/{conversation_id}", "positive"): 20,
    ("DELETE", "/v1/conversations/{conversation_id}", "positive"): 20,
    ("GET", "/v1/users/{user_id}/conversations", "positive"): 20,
    ("GET", "/v1/users/{user_id}/conversations/{conversation_id}", "positive"): 20,
    ("DELETE", "/v1/users/{user_id}/conversations/{conversation_id}", "positive"): 20,
    # last: another user's id is refused (403); the caller's own would erase it
    ("DELETE", "/v1/users/{user_id}", "positive"): 20,
}
MIN_TOTAL = int(3000 * SCALE)
PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
VALID_RID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")  # what the app keeps (else it makes one)


@pytest.fixture(scope="module")
def api(app_settings: Settings, app_parts: Any) -> Iterator[Any]:
    app = create_app(app_settings, parts=app_parts)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)


def _documented(operation: Any) -> set[int]:
    responses = operation.definition.raw.get("responses", {})
    return {int(code) for code in responses if str(code).isdigit()}


def _header(response: Any, name: str) -> str:
    value = response.headers.get(name, [""])
    return str(value[0] if isinstance(value, list) else value)


def _check(operation: Any, case: Any, response: Any, auth: str) -> None:
    status = response.status_code
    where = f"{case.method} {case.path} auth={auth} -> {status}: {response.content[:300]!r}\n" \
            f"{case.as_curl_command()}"
    rid = _header(response, "x-request-id")
    assert rid, where
    if status >= 500:
        assert status == 503 and 503 in _documented(operation), where
    if 400 <= status < 600 and case.path != "/readyz":
        body = json.loads(response.content)
        assert set(body) == {"error"}, where
        error = body["error"]
        assert set(error) == {"code", "message", "request_id"}, where
        assert isinstance(error["code"], str) and error["code"].isupper(), where
        assert isinstance(error["message"], str) and error["message"], where
        assert error["request_id"] == rid, where
    if status == 401:
        assert auth != "valid" or case.path not in ("/v1/query", "/v1/stats", "/v1/notes",
                                                    "/v1/notes/{note_id}",
                                                    "/v1/rate-limit/status"), where


def _run(api: Any, app_settings: Settings, method: str, path: str, mode: str,
         examples: int, seen: Counter[str]) -> int:
    operation = api[path][method]
    token = issue_token(app_settings, "amara", ttl_s=3600)
    headers = {
        "valid": {"Authorization": f"Bearer {token}"},
        "none": {},
        "garbage": {"Authorization": "Bearer not.a.token"},
        "scheme": {"Authorization": f"Basic {token}"},
    }
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))
    calls = 0

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=strategy,
           auth=st.sampled_from(["valid"] * 7 + ["none", "garbage", "scheme"]),
           rid=st.none() | st.from_regex(r"[A-Za-z0-9._\-]{1,128}", fullmatch=True)
           # an HTTP client refuses values with leading or trailing blanks: none are sent
           | st.text(PRINTABLE, max_size=200).map(str.strip))
    def fuzz(case: Any, auth: str, rid: str | None) -> None:
        nonlocal calls
        extra = dict(headers[auth])
        if rid is not None:
            extra["X-Request-ID"] = rid
        response = case.call(headers=extra)
        if not response.request.headers.get("Authorization"):
            auth = "none"  # a negative case removes the header the security scheme requires
        calls += 1
        seen[f"{method} {path} {response.status_code}"] += 1
        _check(operation, case, response, auth)
        given_rid = rid is not None and VALID_RID.match(rid)
        assert (_header(response, "x-request-id") == rid) == bool(given_rid), (rid, response)

    # Generating the cases runs none of the measured code, but under `make test`'s coverage
    # its tracer doubled their CPU: this thread goes untraced while Hypothesis draws them.
    # The app answers in schemathesis's ASGI portal thread (and anyio's worker threads), which
    # coverage traces as it does every thread (its hook is set in each as it starts).
    tracer = sys.gettrace()
    sys.settrace(None)
    try:
        fuzz()
    finally:
        sys.settrace(tracer)
    return calls


def test_fuzz_every_operation(api: Any, app_settings: Settings) -> None:
    operations = {(op.ok().method.upper(), op.ok().path) for op in api.get_all_operations()}
    assert {(m, p) for m, p, _ in BUDGET} == operations, "a new operation needs a fuzz budget"
    seen: Counter[str] = Counter()
    total = 0
    for (method, path, mode), examples in BUDGET.items():
        total += _run(api, app_settings, method, path, mode, max(1, int(examples * SCALE)),
                      seen)
    print(f"\n{total} requests:", dict(sorted(seen.items())))
    assert total >= MIN_TOTAL
    # the fuzz reached the pipeline, not only the validation and auth layers
    assert seen["POST /v1/query 200"] >= 50 * SCALE
    assert any(key.startswith("POST /v1/query 4") for key in seen)
