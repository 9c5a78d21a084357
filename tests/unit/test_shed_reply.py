"""The margin of a refusal's way out (rag_core/limits/shedding.py ``ReplyDelay``): a question
refused in a worker thread reaches the event loop that sends its 503 some time after the
refusal was due (the thread woken, the loop busy with others' first steps). The service times
that from each such refusal, as TCP times a round trip (RFC 6298), and ends the next questions'
waits for a slot that much sooner, so that their refusals are sent within the fair queue's 1 s.
Threads wait on events with generous deadlines; the shedder's clock is the test's."""

from __future__ import annotations

import time

import httpx
import pytest
from fakes import ManualClock
from test_shedding import SECRET, Asker, shed_count, token
from test_work_slots import DEADLINE_S, Worker, wait_until, workers

from rag_core.app import create_app
from rag_core.ingest.ingestion import ingest_notes
from rag_core.limits.shedding import Moving, ReplyDelay, Shed, Shedder
from rag_core.limits.slots import WorkSlots
from rag_core.parts import Parts, with_settings
from rag_core.telemetry.metrics import REGISTRY
from rag_core.types import Note


def test_the_margin_is_the_smoothed_delay_and_four_times_its_variation() -> None:
    reply = ReplyDelay()
    assert reply.margin() == 0.0 and reply.count == 0  # nothing measured: no margin
    reply.add(0.010)  # the first: its delay, half of it as the variation
    assert reply.seconds == pytest.approx(0.010) and reply.variation == pytest.approx(0.005)
    assert reply.margin() == pytest.approx(0.030)
    reply.add(0.002)  # variation 3/4 * 5 ms + 1/4 * 8 ms; delay 7/8 * 10 ms + 1/8 * 2 ms
    assert reply.variation == pytest.approx(0.00575)
    assert reply.seconds == pytest.approx(0.009)
    assert reply.margin() == pytest.approx(0.032)
    assert REGISTRY.get_sample_value("shed_reply_margin_seconds") == pytest.approx(0.032)
    reply.add(-1.0)  # a clock read out of order counts as no delay, never a negative one
    assert reply.count == 3 and reply.seconds == pytest.approx(0.007875)
    for _ in range(60):  # a steady quick way out: the margin shrinks to it
        reply.add(0.001)
    assert reply.margin() == pytest.approx(0.001, abs=1e-4)


def test_a_question_let_in_must_take_its_slot_sooner_by_the_margin() -> None:
    clock = ManualClock(100.0)
    shedder = Shedder(1, clock=clock)
    assert shedder.let_in(clock()).deadline == 101.0  # no refusal measured yet: its full 1 s
    shedder.reply.add(0.05)  # refusals took 50 ms to get out: a margin of 150 ms
    assert shedder.let_in(clock()).deadline == pytest.approx(100.85)
    shedder.slot.add(0.2)  # two ahead, 0.2 s each: 0.4 s; 0.45 s left of its 1 s
    with pytest.raises(Shed):  # 0.4 s of wait but 0.3 s left less the margin: refused now
        shedder.let_in(clock() - 0.55)


def test_a_refusal_made_in_a_thread_says_when_it_was_due() -> None:
    """A deadline refusal was due at its deadline (or when it began to wait, if that was
    already past); one refused while waiting, when the order of the waiting changed. A refusal
    made at the pass (on the loop) has none."""
    clock = ManualClock(0.0)
    slots = WorkSlots(1, clock=clock)
    with slots.hold("busy"):
        clock.now = 2.0  # "busy" has used the slot: newcomers go first
    with workers() as started:
        holder = Worker(slots, "a", [])
        started.append(holder)
        assert holder.inside.wait(DEADLINE_S)
        deadline = time.perf_counter() + 0.05
        with pytest.raises(Shed) as late, slots.hold("b", deadline, lambda held: 1.0):
            raise AssertionError("a shed question never runs")
        assert late.value.due == pytest.approx(deadline, abs=1e-9)
        # one that reaches the slots past its deadline (behind others waiting for a thread)
        # is due when it came: the time it was late by is not its refusal's way out
        came = time.perf_counter()
        with pytest.raises(Shed) as past, slots.hold("b", came - 5.0, lambda held: 1.0):
            raise AssertionError("a shed question never runs")
        assert past.value.due is not None and came <= past.value.due <= time.perf_counter()
        pushed = Asker(slots, "busy", per_place_s=45.0)
        wait_until(lambda: slots.waiting() == ["busy"])
        before = time.perf_counter()
        Asker(slots, "new", per_place_s=45.0)
        pushed.thread.join(DEADLINE_S)
        assert pushed.refused is not None and pushed.refused.due is not None
        assert before <= pushed.refused.due <= time.perf_counter()
        holder.finish()
    shedder = Shedder(1, clock=clock)
    shedder.slot.add(2.0)  # one ahead: 2 s of wait
    shedder.let_in(clock())
    with pytest.raises(Shed) as at_once:
        shedder.let_in(clock())
    assert at_once.value.due is None


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_route_times_a_thread_refusal_to_the_loop_and_not_one_made_on_it(
        memory_parts: Parts, anyio_backend: str) -> None:
    parts = with_settings(memory_parts, work_slots=1, jwt_secret=SECRET)
    ingest_notes(parts, "u1", [Note(id="n1", title="The wall", date="2024-05-02",
                                    body="The garden wall was rebuilt in stone in May.")],
                 progress=False)
    app = create_app(parts.settings, parts=parts)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        warm = await client.post("/v1/query", headers=token("u1"),
                                 json={"query": "When was the garden wall rebuilt?"})
        assert warm.status_code == 200, warm.text
        pipeline = app.state.pipeline
        shedder: Shedder = pipeline.shedder
        shedder.slot = Moving()  # no estimate: the pass refuses nobody, the deadline may
        deadline_before = shed_count("deadline")
        with workers() as started:
            started.append(Worker(pipeline.slots, "someone-else", []))
            assert started[0].inside.wait(DEADLINE_S)
            r = await client.post("/v1/query", headers=token("u1"),
                                  json={"query": "What stone was the wall built of?"})
            # it waited for the held slot until its deadline, in its thread
            assert r.status_code == 503 and r.json()["error"]["code"] == "OVERLOADED"
            assert shed_count("deadline") == deadline_before + 1
            assert shedder.reply.count == 1 and shedder.reply.margin() > 0.0
            shedder.slot.add(60.0)  # now the pass refuses at once, on the loop
            ahead = shedder.let_in(shedder.clock())
            again = await client.post("/v1/query", headers=token("u1"),
                                      json={"query": "Which month was the wall rebuilt?"})
            assert again.status_code == 503
            assert shedder.reply.count == 1  # not timed: it never went to a thread
            shedder.at_work(ahead)
