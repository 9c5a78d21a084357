"""Load shedding (rag_core/limits/shedding.py, rag_core/limits/slots.py): a question whose
predicted wait for a slot outlasts its deadline (1 s after its request reached the service) is
refused at once with 503 OVERLOADED and Retry-After, counted in requests_shed_total{reason};
one let in is refused while it waits as soon as the wait predicted from those ahead of it in the
slots' order outlasts its deadline, and waits at most until its deadline. The shedder's clock is
the test's; threads wait on events with generous deadlines, never on a wall-clock window."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import jwt
import pytest
from fakes import ManualClock
from test_work_slots import DEADLINE_S, Worker, wait_until, workers

from rag_core.app import create_app
from rag_core.ingest.ingestion import ingest_notes
from rag_core.limits.queue import FAIR_WAIT_S
from rag_core.limits.shedding import Moving, Pass, Shed, Shedder
from rag_core.limits.slots import WorkSlots
from rag_core.parts import Parts, with_settings
from rag_core.run import Run
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
        with pytest.raises(Shed) as refused, \
                slots.hold("b", time.perf_counter(), lambda held: 4.2):
            raise AssertionError("a shed question never runs")  # its deadline is now: no wait
        assert refused.value.retry_after == 1.0  # nobody waits ahead of it: at least 1 s
        assert slots.waiting() == [] and shed_count("deadline") == before + 1
    with slots.hold("b"):  # the slot was not lost
        pass


class Asker:
    """A thread whose question waits for a slot until ``deadline_s`` from now, predicted to
    wait ``per_place_s`` for each question ahead of it that has not begun (less what one that
    gave way has held); ``refused``: its Shed, if any."""

    def __init__(self, slots: WorkSlots, user: str, per_place_s: float,
                 deadline_s: float = DEADLINE_S) -> None:
        self.inside = threading.Event()
        self.refused: Shed | None = None
        deadline = time.perf_counter() + deadline_s

        def run() -> None:
            try:
                with slots.hold(user, deadline, lambda held: max(0.0, per_place_s - held)):
                    self.inside.set()
            except Shed as exc:
                self.refused = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()


def test_a_waiting_question_pushed_back_past_its_deadline_is_refused_then_not_at_it() -> None:
    """The slots serve the least-used user first: a newcomer goes ahead of a waiting question
    of a user who has used them, whose predicted wait then outlasts its deadline. It is refused
    then (reason waiting, Retry-After the wait), not when its deadline comes."""
    clock = ManualClock(0.0)
    slots = WorkSlots(1, clock=clock)
    with slots.hold("busy"):
        clock.now = 2.0  # "busy" has held the slot for 2 s
    waiting, shed_before = shed_count("waiting"), shed_count("deadline")
    with workers() as started:
        holder = Worker(slots, "a", [])
        started.append(holder)
        assert holder.inside.wait(DEADLINE_S)
        pushed = Asker(slots, "busy", per_place_s=45.0)  # 30 s left; first in line: let wait
        wait_until(lambda: slots.waiting() == ["busy"])
        assert pushed.refused is None
        newcomer = Asker(slots, "new", per_place_s=45.0)  # never used: goes first
        pushed.thread.join(DEADLINE_S)  # refused as the newcomer came, long before 30 s
        assert pushed.refused is not None and pushed.refused.code == "OVERLOADED"
        assert pushed.refused.retry_after == 45.0  # one question ahead of it
        assert slots.waiting() == ["new"]
        assert shed_count("waiting") == waiting + 1 and shed_count("deadline") == shed_before
        holder.finish()
        assert newcomer.inside.wait(DEADLINE_S)  # the one still within its deadline is served
        newcomer.thread.join(DEADLINE_S)
        assert newcomer.refused is None


def test_a_waiting_question_whose_place_still_fits_its_deadline_waits() -> None:
    slots = WorkSlots(1, clock=ManualClock(0.0))
    with workers() as started:
        holder = Worker(slots, "a", [])
        started.append(holder)
        assert holder.inside.wait(DEADLINE_S)
        askers = [Asker(slots, user, per_place_s=1.0) for user in ("b", "c", "d")]
        wait_until(lambda: len(slots.waiting()) == 3)  # 0, 1 and 2 s ahead: within 30 s
        holder.finish()
        for asker in askers:
            asker.thread.join(DEADLINE_S)
            assert asker.inside.is_set() and asker.refused is None


def test_a_question_that_gave_way_counts_ahead_only_for_the_rest_of_its_slot_time() -> None:
    """Between its steps a question gives its slot to a user who has used less and waits again:
    ahead of others it needs only the rest of a question's slot time, not the whole."""
    clock = ManualClock(0.0)
    slots = WorkSlots(1, clock=clock, half_life_s=1e9)  # use does not decay in this test
    for user, seconds in (("busy", 100.0), ("heavy", 200.0)):
        with slots.hold(user):
            clock.now += seconds
    inside, step, done = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:  # "a" holds the slot 40 s, then gives way between two steps
        with slots.hold("a") as turn:
            inside.set()
            assert step.wait(DEADLINE_S)
            turn.pass_on()
            assert done.wait(DEADLINE_S)

    with workers() as started:
        a = threading.Thread(target=first, daemon=True)
        a.start()
        assert inside.wait(DEADLINE_S)
        b = Worker(slots, "b", [])  # never used: takes the slot when "a" gives way
        started.append(b)
        wait_until(lambda: slots.waiting() == ["b"])
        clock.now += 40.0
        step.set()
        assert b.inside.wait(DEADLINE_S)
        wait_until(lambda: slots.waiting() == ["a"])  # 40 s held: 5 s of 45 left to need
        behind = Asker(slots, "busy", per_place_s=45.0)  # 30 s left: 5 s ahead fits
        wait_until(lambda: slots.waiting() == ["a", "busy"])
        last = Asker(slots, "heavy", per_place_s=45.0)  # 5 + 45 s ahead: refused
        last.thread.join(DEADLINE_S)
        assert last.refused is not None and last.refused.retry_after == 50.0
        assert behind.refused is None and slots.waiting() == ["a", "busy"]
        b.finish()
        done.set()
        a.join(DEADLINE_S)
        behind.thread.join(DEADLINE_S)
        assert behind.inside.is_set() and behind.refused is None


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_route_sheds_a_miss_503_with_retry_after_without_waiting_and_never_a_hit(
        memory_parts: Parts, anyio_backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
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
        counted_from: list[float] = []
        runs_began: list[Run] = []
        let_in, new_run = shedder.let_in, pipeline._new_run

        def counting_from(began: float) -> Pass:
            counted_from.append(began)
            return let_in(began)

        def run_begun(*args: Any, **kwargs: Any) -> Run:
            runs_began.append(new_run(*args, **kwargs))
            return runs_began[-1]

        monkeypatch.setattr(shedder, "let_in", counting_from)
        monkeypatch.setattr(pipeline, "_new_run", run_begun)
        with workers() as started:
            started.append(Worker(slots, "someone-else", []))
            assert started[0].inside.wait(DEADLINE_S)
            ahead = let_in(shedder.clock())  # a question on its way to the slot
            sent = time.perf_counter()
            r = await client.post("/v1/query", headers=token("u1"),
                                  json={"query": "What stone was the wall built of?"})
            # its deadline counts from when the request reached the service, before the
            # pipeline began its run (the token, the body and the gate came first)
            assert len(counted_from) == 1 and sent <= counted_from[0] < runs_began[0].started
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
