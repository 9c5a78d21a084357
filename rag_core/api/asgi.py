"""The ASGI interface's types, for the middleware of ``rag_core.api`` written on it directly
(body limits, request context, auth before the body, refusals, audit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

# A scope or message is a dict of JSON-like values whose shape depends on its "type": the ASGI
# specification types it no closer, and neither do Starlette's own aliases.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
