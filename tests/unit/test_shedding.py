"""Load shedding (rag_core/limits/shedding.py): a question whose predicted wait for a slot
outlasts its deadline (1 s after it began) is refused at once with 503 OVERLOADED and
Retry-After, counted in requests_shed_total{reason}; one let in waits for its slot at most until
its deadline. The
shedder's clock is the test's; threads wait on events with generous deadlines, never on a
wall-clock window."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from fakes import ManualClock
from test_work_slots import DEADLINE_S, Worker, wait_until, workers

from rag_core.app import create_app
from rag_core.ingest.ingestion import ingest_notes
from rag_core.limits.queue import FAIR_WAIT_S
from rag_core.limits.shedding import Moving, Shed, Shedder
from rag_core.limits.slots import WorkSlots
from rag_core.parts import Parts, with_settings
from rag_core.telemetry.metrics import REGISTRY
from rag_core.types import Note

SECRET = "shedding-test-secret-5d1c7e3a9b2f4e6d8c0a1b3c5d7e9f2a4b6c8d0e1f3a5b7c9d2e4f6a8b0c1d3e"


def token(user: str) -> dict[str, str]:
    now = int(time.time())
    raw = jwt.encode({"sub": user, "iat": now, "exp": now + 600}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {raw}"}


def shed_count(reason: str) -> float:
    return REGISTRY.get_sample_value("requests_shed_total", {"reason": reason}) or 0.0


def test_a_moving_estimate_weighs_the_latest_question_by_a_fifth() -> None:
    moving = Moving()
    assert moving.seconds == 0.0  # nothing measured: nobody refused early
    moving.add(1.0)
    moving.add(2.0)
    assert moving.seconds == pytest.approx(1.2)


def test_a_question_whose_predicted_wait_outlasts_its_deadline_is_refused_at_once() -> None:
    clock = ManualClock(100.0)
    shedder = Shedder(2, clock=clock)
    shedder.slot.add(1.0)  # a question holds a slot 1 s: each one ahead is 0.5 s on 2 slots
    before = shed_count("queue")
    places = [shedder.let_in(clock()) for _ in range(3)]  # 0, 0.5, 1 s ahead: within 1 s
    # each may wait for its slot until 1 s after it began (the fair queue's wait)
    assert shedder.ahead() == 3 and [p.deadline for p in places] == [101.0] * 3
    with pytest.raises(Shed) as refused:  # 1.5 s ahead: its deadline would refuse it
        shedder.let_in(clock())
    assert refused.value.status == 503 and refused.value.code == "OVERLOADED"
    assert refused.value.limit == "work_slots"
    assert refused.value.retry_after == 2.0  # the predicted wait, rounded up
    assert shedder.ahead() == 3  # the refused question is not ahead of anyone
    shedder.at_work(places[0])  # one took its slot: 1 s ahead now
    with pytest.raises(Shed):  # begun 0.25 s before: 0.75 s left of its wait
        shedder.let_in(clock() - 0.25)
    places.append(shedder.let_in(clock()))  # begun now: the 1 s ahead fits
    assert shed_count("queue") == before + 2
    for place in places:
        shedder.at_work(place)
        shedder.at_work(place)  # once only
    assert shedder.ahead() == 0


def test_nobody_is_refused_at_once_with_nobody_ahead_or_before_an_estimate() -> None:
    clock = ManualClock(100.0)
    shedder = Shedder(1, clock=clock)
    # no question has held a slot yet: no estimate, nobody refused early
    places = [shedder.let_in(clock()) for _ in range(50)]
    assert shedder.ahead() == 50
    for place in places:
        shedder.at_work(place)
    shedder.slot.add(30.0)  # a very slow machine
    late = shedder.let_in(clock() - 5.0)  # past its wait already, but nobody is ahead
    assert late.deadline == 96.0  # a free slot at once, or refused by its deadline
    with pytest.raises(Shed):  # behind it: 30 s of others' work
        shedder.let_in(clock())


def test_those_ahead_that_free_slots_will_take_make_no_wait() -> None:
    clock = ManualClock(100.0)
    free = [3]  # the slots no question holds (WorkSlots.free)
    shedder = Shedder(4, free=lambda: free[0], clock=clock)
    shedder.slot.add(8.0)  # a slow, busy machine: each one ahead is 2 s on 4 slots
    places = [shedder.let_in(clock() - 0.9) for _ in range(4)]  # 0.1 s left of each one's wait
    # three went to the free slots' threads; the fourth is behind nobody else's work
    assert shedder.ahead() == 4
    with pytest.raises(Shed) as refused:  # one beyond the free slots: 2 s, past its 1 s
        shedder.let_in(clock())
    assert refused.value.retry_after == 2.0
    free[0] = 0  # all four took their slots (at work: no longer ahead)
    for place in places:
        shedder.at_work(place)
    assert shedder.let_in(clock() - 0.9).deadline == 100.1  # nobody ahead: let in


def test_a_question_let_in_waits_for_its_slot_at_most_the_fair_queues_wait() -> None:
    clock = ManualClock(100.0)
    shedder = Shedder(1, clock=clock)  # the bound: limits.queue.FAIR_WAIT_S, 1 s
    assert shedder.slot_wait_s == FAIR_WAIT_S == 1.0
    shedder.slot.add(0.1)
    assert shedder.let_in(clock()).deadline == 101.0  # not the budget's 5 s
    assert shedder.let_in(clock() - 0.75).deadline == 100.25  # 1 s from its start
    shedder.slot.add(0.0)  # the estimate: 0.08 s a question
    late = shedder.let_in(clock() - 0.8)  # 0.16 s ahead, 0.2 s left
    assert late.deadline == 100.2


def test_a_question_still_waiting_at_its_deadline_leaves_the_queue_refused() -> None:
    slots = WorkSlots(1, clock=ManualClock(100.0))
    before = shed_count("deadline")
    with workers() as started:
        holder = Worker(slots, "a", [])
        started.append(holder)
        assert holder.inside.wait(DEADLINE_S)
        with pytest.raises(Shed) as refused, slots.hold("b", time.perf_counter(), 4.2):
            raise AssertionError("a shed question never runs")  # its deadline is now: no wait
        assert refused.value.retry_after == 5.0
        assert slots.waiting() == [] and shed_count("deadline") == before + 1
    with slots.hold("b"):  # the slot was not lost
        pass


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_route_sheds_a_miss_503_with_retry_after_without_waiting_and_never_a_hit(
        memory_parts: Parts, anyio_backend: str) -> None:
    parts = with_settings(memory_parts, work_slots=1, jwt_secret=SECRET)
    settings = parts.settings
    ingest_notes(parts, "u1", [Note(id="n1", title="The wall", date="2024-05-02",
                                    body="The garden wall was rebuilt in stone in May.")],
                 progress=False)
    app = create_app(settings, parts=parts)
    transport = httpx.ASGITransport(app=app)
    hit = {"query": "When was the garden wall rebuilt?"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.post("/v1/query", headers=token("u1"), json=hit)
        assert first.status_code == 200, first.text
        pipeline = app.state.pipeline
        slots: WorkSlots = pipeline.slots
        shedder: Shedder = pipeline.shedder
        shedder.slot = Moving()
        shedder.slot.add(60.0)  # each question ahead would hold the slot a minute
        before = shed_count("queue")
        with workers() as started:
            started.append(Worker(slots, "someone-else", []))
            assert started[0].inside.wait(DEADLINE_S)
            ahead = shedder.let_in(shedder.clock())  # a question on its way to the slot
            r = await client.post("/v1/query", headers=token("u1"),
                                  json={"query": "What stone was the wall built of?"})
            # answered while the slot is still held and nothing queued: it never waited
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "OVERLOADED"
            assert r.headers["retry-after"] == "60"
            assert slots.waiting() == [] and shedder.ahead() == 1
            again = await client.post("/v1/query", headers=token("u1"), json=hit)
            assert again.status_code == 200 and again.json()["cache"]["query"] == "hit"
            shedder.at_work(ahead)
    assert shed_count("queue") == before + 1
    wait_until(lambda: shedder.ahead() == 0)
