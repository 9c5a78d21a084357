"""Request limits on every question path (issue 61): per user a minute, an hour and a day (the
defaults, a token's tier, or the user's own limits in PostgreSQL), a user's questions in flight,
and everyone's questions in flight and of the hour, counted in Redis across every process and
server (``gate.QuestionGate``; docs/runbook.md "Request limits").

- ``policy``: which limits apply, and a sliding window's arithmetic;
- ``counters``: the one Lua script that checks and counts a question, and its in-process twin;
- ``queue``: the fair queue of questions waiting for a place in flight;
- ``own``: a user's own limits through a short cache;
- ``gate``: admission (a JSON question's windows counted in its exact lookup's round trip:
  ``Counting``), refusals, release (their metrics: ``telemetry.metrics``);
- ``slots``: the work slots that share a process's CPUs among the questions admitted;
- ``write_quota``: a user's writes of notes per window (the notes API);
- ``limiters``: the four long-lived parts of the limits (``rag_core.parts.build_limiters``).
"""

from rag_core.limits.gate import Admission, QuestionGate, Remaining
from rag_core.limits.policy import RateLimits, limits_for

__all__ = ["Admission", "QuestionGate", "RateLimits", "Remaining", "limits_for"]
