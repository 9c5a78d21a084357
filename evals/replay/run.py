"""One replay of a log against a running server (``replay_log``), a sweep of speeds
(``sweep_speeds``) and the statement of the request limits a run stands under
(``limits_statement``).

A token per user is signed as ``rag-core token`` signs it: HS256 with ``RAG_JWT_SECRET`` (and
the issuer and audience settings) of the environment, so the server must share that secret.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from evals.replay.logs import Problems, UserMap, dataset_users, read_asks
from evals.replay.report import ReplayReport, Slo, summarise, write
from evals.replay.send import Options, Sent, replay
from rag_core.config import FIELDS, Settings

TOKEN_TTL_S = 3600


class ReplayError(Exception):
    """A replay that cannot run or whose every request was refused: ``code`` and a message;
    ``exit`` 2 for the caller's mistake, 3 for a server that fails."""

    def __init__(self, code: str, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.code, self.exit = code, exit_code


def limits_statement(env: Mapping[str, str] | None = None) -> str:
    """The request limits a run stands under, as far as ``env`` (the server's environment,
    default this process's) says: each request-limit setting it sets, or that it sets none
    (then the server runs its profile's defaults: ``--limits`` states them)."""
    env = os.environ if env is None else env
    section = FIELDS.get("rate_limit_per_minute")  # the request limits' section of Settings
    names = [f"RAG_{f.upper()}" for f, s in FIELDS.items() if section and s == section]
    given = {name: env[name] for name in names if name in env}
    if not given:
        return "request limits: the server's own (none set here; its profile's defaults)"
    return "request limits: " + ", ".join(f"{k}={v}" for k, v in sorted(given.items()))


class Tokens:
    """A token per user, signed once (``rag-core token``'s way) and kept for the run."""

    def __init__(self, settings: Settings) -> None:
        from rag_core.api.auth import issue_token

        self._issue = issue_token
        self.settings = settings
        self._made: dict[str, str] = {}

    def __call__(self, user: str) -> str:
        token = self._made.get(user)
        if token is None:
            token = self._made[user] = self._issue(self.settings, user,
                                                   ttl_s=min(TOKEN_TTL_S,
                                                             self.settings.auth.jwt_max_ttl_s))
        return token


def signing_settings() -> Settings:
    """The settings tokens are signed with: the environment's; without ``RAG_JWT_SECRET``
    there is nothing the server would accept."""
    if not os.environ.get("RAG_JWT_SECRET"):
        raise ReplayError("NO_JWT_SECRET", "RAG_JWT_SECRET is not set: the replay signs a "
                                           "token per user with the server's secret")
    return Settings()


@dataclass
class ReplayRun:
    report: ReplayReport
    sent: list[Sent] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Setup:
    """How a replay is run, beside its log, server and speed."""

    dataset: str | Path | None = None  # whose users the log's users map onto (None: golden)
    keep_users: bool = False  # send the log's users as they are (unknown ones skipped)
    no_cache: bool = False  # a cold run: every question sent with no_cache
    slo: Slo = Slo()
    limits: str | None = None  # the request limits stated (None: from the environment)
    max_requests: int = 0  # > 0: stop after this many


def replay_log(log: str | Path, server: str, speed: float, out: Path | None = None,
               setup: Setup = Setup(), settings: Settings | None = None,
               transport: httpx.AsyncBaseTransport | None = None) -> ReplayRun:
    """Replay ``log`` against ``server`` at ``speed``; with ``out``, write the report and
    ``requests.csv`` there. ``settings``: whose secret signs the tokens (default: the
    environment's); ``transport``: an app in process instead of the network (tests)."""
    if not speed > 0 or math.isinf(speed):
        raise ReplayError("INVALID_SPEED", f"--speed must be a positive number, got {speed}")
    if not Path(log).is_file():
        raise ReplayError("LOG_NOT_FOUND", f"no log file at {log}")
    settings = settings or signing_settings()
    try:
        users = UserMap(dataset_users(setup.dataset), keep=setup.keep_users)
    except ValueError as exc:
        raise ReplayError("INVALID_DATASET", str(exc)) from None
    problems = Problems()
    sent: list[Sent] = []
    asks = read_asks(log, users, settings.services.max_query_chars, problems)
    options = Options(server=server, speed=speed, no_cache=setup.no_cache,
                      max_requests=setup.max_requests)
    _run_to_end(replay(asks, Tokens(settings), options, sent.append, transport))
    report = summarise(sent, problems, log=str(log), server=server, speed=speed,
                       cold=setup.no_cache, limits=setup.limits or limits_statement(),
                       slo=setup.slo)
    if sent and all(s.outcome == "refused" for s in sent):
        raise ReplayError("TOKEN_REFUSED", f"the server refused every token ({sent[0].code} "
                                           f"{sent[0].status}): does it run with this "
                                           "RAG_JWT_SECRET (and issuer, audience)?")
    if sent and all(s.status == 0 for s in sent):
        raise ReplayError("SERVER_UNREACHABLE", f"no answer from {server} ({sent[0].code})", 3)
    run = ReplayRun(report, sent)
    if out is not None:
        run.paths = write(report, sent, out)
    return run


def _run_to_end(coroutine: Coroutine[object, object, int]) -> int:
    """The coroutine run on an event loop of its own: in this thread, or, where one already
    runs here (a notebook's kernel), in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def sweep_speeds(log: str | Path, server: str, speeds: Sequence[float], out: Path,
                 setup: Setup = Setup(), *, target: float = 0.99,
                 between: Callable[[], None] | None = None,
                 settings: Settings | None = None) -> tuple[list[ReplayReport], float | None]:
    """A replay at each of ``speeds`` (into ``out/<speed>x/``); ``between``: run before each
    (say, to empty the caches). Returns the reports and the highest speed whose goodput is at
    least ``target`` (None: none)."""
    reports = []
    for speed in speeds:
        if between is not None:
            between()
        reports.append(replay_log(log, server, speed, out / f"{speed:g}x", setup,
                                  settings).report)
    return reports, highest_holding(reports, target)


def highest_holding(reports: Sequence[ReplayReport], target: float = 0.99) -> float | None:
    """The highest speed whose goodput is at least ``target`` (None: none)."""
    holding = [r.speed for r in reports if r.goodput >= target]
    return max(holding) if holding else None
