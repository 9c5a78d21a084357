"""The request limits' one script on both Redis modes (``both_redis``): a single server and a
real three-master Redis Cluster, where every limit key shares one hash tag. Two gates with clients
of their own stand for two servers."""

from __future__ import annotations

import pytest

from rag_core.config import Settings
from rag_core.errors import Overloaded, RateLimited
from rag_core.limits import QuestionGate
from rag_core.redis_kv.client import connect
from rag_core.store.user_limits import MemoryUserLimits

pytestmark = [pytest.mark.integration, pytest.mark.both_redis, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_minute_limit_and_the_cap_hold_on_both_modes(redis_url: str,
                                                              redis_mode: str) -> None:
    settings = Settings(profile="ci", rate_limit_per_minute=3, max_concurrent_queries=2)
    one, two = (QuestionGate(settings.limits, connect(redis_url, redis_mode,  # type: ignore[arg-type]
                                                      timeout_s=2.0),
                             MemoryUserLimits(), clock=lambda: 1_000_020.0) for _ in range(2))
    held = [await one.admit("ann"), await two.admit("ben")]
    with pytest.raises(Overloaded):
        await one.admit("cy")  # both places taken, across the two
    for admission in held:
        admission.release()
    assert one._rest_until == two._rest_until == 0.0  # Redis answered every script
    (await two.admit("ann")).release()
    (await one.admit("ann")).release()
    with pytest.raises(RateLimited) as refused:
        await two.admit("ann")
    assert refused.value.limit == "minute"
