"""``rag-core ask`` through a running ``rag-core serve``, and what ``ask`` prints either way.

A cold ``ask`` in its own process loads spaCy, the embedding model and the sanitiser's
patterns before it does ~0.1 s of work; a running ``serve`` has them loaded. With
``--server URL`` (or ``RAG_SERVER_URL``) the question goes to ``POST URL/v1/query`` and the
answer is printed as the local path prints it (``--json``: the API's answer object). The bearer
token is ``RAG_SERVER_TOKEN`` when set (its ``sub`` must be ``--user``), else one minted for
five minutes with this environment's HS256 secret (``rag-core token``), which the server
accepts when it shares that secret. An unreachable server is an error (exit 3), never a silent
fall-back to another database: ``--local`` answers in this process whatever the environment
says. Nothing here imports the pipeline, spaCy or a model; the standard library speaks HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from rag_core.api.auth import issue_token
from rag_core.cli.args import env_settings
from rag_core.errors import DependencyError, InvalidArgument, RagError, UserError

if TYPE_CHECKING:
    from rag_core.store.filters import Filters

SERVER_ENV = "RAG_SERVER_URL"
TOKEN_ENV = "RAG_SERVER_TOKEN"
TOKEN_TTL_S = 300


class ServerUnreachable(DependencyError):
    code = "SERVER_UNREACHABLE"
    default_message = "The rag-core server could not be reached."


class _Remote(RagError):
    """An error the server answered with: its code and message, exit 2 for 4xx, 3 for 5xx."""

    def __init__(self, code: str, message: str, retry_after: float | None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.code = code


class RemoteUserError(_Remote, UserError):
    pass


class RemoteDependencyError(_Remote, DependencyError):
    pass


def server_url(args: argparse.Namespace) -> str | None:
    """The server to ask: ``--server``, else ``RAG_SERVER_URL``; None with ``--local`` or
    neither."""
    if getattr(args, "local", False):
        return None
    url = args.server if args.server is not None else os.environ.get(SERVER_ENV, "")
    url = url.strip().rstrip("/")
    if url and not url.startswith(("http://", "https://")):
        raise InvalidArgument(f"--server / {SERVER_ENV} must be an http:// or https:// URL, "
                              f"not {url!r}")
    return url or None


def cmd_token(args: argparse.Namespace) -> int:
    """``rag-core token``: a signed JWT for ``--user`` (as ``bearer_token`` mints one)."""
    print(issue_token(env_settings(), args.user, ttl_s=args.ttl))
    return 0


def bearer_token(user: str) -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        return issue_token(env_settings(), user, ttl_s=TOKEN_TTL_S)
    import jwt

    try:  # only to catch a token of someone else; the server verifies it
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        raise InvalidArgument(f"{TOKEN_ENV} is not a JWT.") from None
    if sub != user:
        raise InvalidArgument(f"{TOKEN_ENV} is a token of {sub!r}, not of --user {user!r}.")
    return token


def ask_server(url: str, user: str, question: str, top_k: int | None,
               timeout_s: float = 120.0, *, filters: Filters | None = None,
               conversation_id: str | None = None) -> dict[str, Any]:
    """The answer of ``POST url/v1/query`` as a dict, or the server's error raised;
    ``filters``: a ``Filters`` value, sent as the request's ``filters``; ``conversation_id``:
    ``new`` or an id, sent as the request's."""
    body: dict[str, Any] = {"query": question}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    if top_k is not None:
        body["top_k"] = top_k
    if filters:
        body["filters"] = filters.to_dict()
    request = urllib.request.Request(
        f"{url}/v1/query", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json",
                 "Authorization": f"Bearer {bearer_token(user)}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data
    except urllib.error.HTTPError as exc:
        raise _server_error(exc) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerUnreachable(f"No rag-core server answered at {url} ({reason}). Start "
                                "`rag-core serve`, or answer in this process with --local "
                                f"(or without --server / {SERVER_ENV}).") from None
    except ValueError:
        raise ServerUnreachable(f"{url} answered, but not with JSON: is it rag-core serve?") \
            from None


def _server_error(exc: urllib.error.HTTPError) -> RagError:
    try:
        error = json.loads(exc.read()).get("error") or {}
    except (ValueError, AttributeError, OSError):
        error = {}
    code = str(error.get("code") or f"HTTP_{exc.code}")
    message = str(error.get("message") or f"The server answered {exc.code} {exc.reason}.")
    retry = exc.headers.get("Retry-After") if exc.headers else None
    retry_after = float(retry) if retry and retry.isdigit() else None
    kind = RemoteUserError if 400 <= exc.code < 500 else RemoteDependencyError
    return kind(code, message, retry_after)


def print_answer(data: dict[str, Any], as_json: bool) -> None:
    """What ``ask`` prints, from the answer as a dict (``Answer.to_dict`` or the API's)."""
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        return
    print(data["answer"])
    if data.get("no_context_reason"):
        print(f"\n(no context: {data['no_context_reason']})")
    if data.get("stale"):
        print("\n(stale: served from cache while the language model is unavailable)")
    if data.get("degraded"):
        why = data.get("degraded_reason") or "made from your notes without a language model"
        print(f"\n(degraded: {why})")
    for c in data["citations"]:
        print(f"  [{c['n']}] {c['title']} ({c['note_id']}, score {c['score']:.2f})")
    layers = " ".join(f"{k}={v}" for k, v in data["cache"].items() if k != "reason")
    total = (data.get("timings_ms") or {}).get("total", 0)
    print(f"\ncache: {layers} | cost ${data['cost_usd']:.6f} | {total:.0f} ms | "
          f"request {data['request_id']}")
    if data.get("conversation_id"):
        saved = "" if data.get("conversation_saved") else " (this turn was not kept)"
        print(f"conversation {data['conversation_id']}: asked as "
              f"{data.get('standalone_question')!r}{saved}")
