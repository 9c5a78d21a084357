"""Work slots (rag_core/limits/slots.py): a process's CPUs shared fairly among the questions
already admitted. Threads wait on events and conditions with generous deadlines, never on a
wall-clock window."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from rag_core import procs
from rag_core.ingest.ingestion import ingest_notes
from rag_core.limits.slots import WorkSlots, slots_for
from rag_core.parts import Parts
from rag_core.pipeline import Pipeline
from rag_core.types import Note

DEADLINE_S = 30.0


def wait_until(check: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(DEADLINE_S / 0.005)):
        if check():
            return
        done.wait(0.005)
    raise AssertionError("the condition was not met before the deadline")


class Worker:
    """A thread that takes a slot for ``user`` and holds it until told to let go."""

    def __init__(self, slots: WorkSlots, user: str, served: list[str]) -> None:
        self.user = user
        self.inside = threading.Event()
        self.go = threading.Event()

        def run() -> None:
            with slots.hold(user):
                served.append(user)
                self.inside.set()
                assert self.go.wait(DEADLINE_S)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def finish(self) -> None:
        self.go.set()
        self.thread.join(DEADLINE_S)
        assert not self.thread.is_alive()


@contextmanager
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.go.set()


def test_a_freed_slot_goes_to_the_user_with_fewer_questions_at_work_not_the_first_waiting() -> None:
    slots, served = WorkSlots(1), []
    with workers() as started:
        holder = Worker(slots, "flooder", served)
        started.append(holder)
        assert holder.inside.wait(DEADLINE_S)
        for _ in range(3):  # the flooder's next questions queue first
            started.append(Worker(slots, "flooder", served))
        wait_until(lambda: len(slots.waiting()) == 3)
        victim = Worker(slots, "victim", served)
        started.append(victim)
        wait_until(lambda: len(slots.waiting()) == 4)
        assert slots.waiting()[0] == "victim"
        holder.finish()
        assert victim.inside.wait(DEADLINE_S)
    assert served[:2] == ["flooder", "victim"]


def test_among_users_with_as_many_at_work_the_one_served_longest_ago_goes_first() -> None:
    now = [0.0]
    slots, served = WorkSlots(1, clock=lambda: now[0]), []
    with workers() as started:
        first = Worker(slots, "b", served)  # b was served at 0
        started.append(first)
        assert first.inside.wait(DEADLINE_S)
        first.finish()
        now[0] = 1.0
        holder = Worker(slots, "a", served)  # a holds the slot, served at 1
        started.append(holder)
        assert holder.inside.wait(DEADLINE_S)
        again = Worker(slots, "a", served)
        started.append(again)
        wait_until(lambda: len(slots.waiting()) == 1)
        other = Worker(slots, "b", served)
        started.append(other)
        wait_until(lambda: len(slots.waiting()) == 2)
        # a: one holding and one waiting; b: one waiting and served longer ago
        assert slots.waiting() == ["b", "a"]
        holder.finish()
        assert other.inside.wait(DEADLINE_S)
        assert not again.inside.is_set()


def test_a_slot_free_and_nobody_waiting_is_taken_at_once_up_to_the_size() -> None:
    slots, served = WorkSlots(2), []
    with workers() as started:
        for user in ("a", "b"):
            started.append(Worker(slots, user, served))
        assert all(w.inside.wait(DEADLINE_S) for w in started)
        third = Worker(slots, "c", served)
        started.append(third)
        wait_until(lambda: slots.waiting() == ["c"])
        started[0].finish()
        assert third.inside.wait(DEADLINE_S)
    assert sorted(served) == ["a", "b", "c"]


def test_a_slot_is_given_back_when_the_work_raises() -> None:
    slots = WorkSlots(1)
    with pytest.raises(RuntimeError), slots.hold("a"):
        raise RuntimeError("the step failed")
    with slots.hold("b"):  # would wait for ever if the slot were lost
        assert slots.waiting() == []


@pytest.mark.parametrize(("configured", "workers", "cpus", "expected"), [
    (3, "2", 8, 3),          # the setting wins
    (0, "2", 8, 4),          # the CPUs divided by the server's workers
    (0, "4", 2, 1),          # never below one
    (0, "not a number", 2, 2),
    (0, None, 2, 2),         # one process: all its CPUs
])
def test_slots_are_the_setting_or_the_cpus_of_each_worker(
        monkeypatch: pytest.MonkeyPatch, configured: int, workers: str | None, cpus: int,
        expected: int) -> None:
    monkeypatch.setattr(procs, "usable_cpus", lambda: cpus)
    environ = {} if workers is None else {"WEB_CONCURRENCY": workers}
    assert slots_for(configured, environ) == expected


def test_zero_slots_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WorkSlots(0)


def test_a_question_does_its_steps_only_once_it_holds_a_work_slot(memory_parts: Parts) -> None:
    parts = replace(memory_parts, settings=memory_parts.settings.with_overrides(work_slots=1))
    ingest_notes(parts, "amara", [Note(
        id="n1", title="Faith That Walks", speaker="Pastor Okafor", date="2024-03-10",
        body="Abraham was seventy-five years old when he left Haran.")], progress=False)
    pipeline = Pipeline(parts)
    assert pipeline.slots.size == 1
    answers: list[str] = []
    with workers() as started:
        holder = Worker(pipeline.slots, "someone-else", [])
        started.append(holder)
        assert holder.inside.wait(DEADLINE_S)
        asking = threading.Thread(target=lambda: answers.append(
            pipeline.ask("amara", "How old was Abraham when he left Haran?").answer), daemon=True)
        asking.start()
        wait_until(lambda: pipeline.slots.waiting() == ["amara"])
        assert answers == []
        holder.finish()
        asking.join(DEADLINE_S)
    assert len(answers) == 1 and answers[0]


def test_between_steps_a_holder_gives_way_to_a_user_with_fewer_questions_at_work() -> None:
    slots = WorkSlots(1)
    order: list[str] = []
    step_done, resumed = threading.Event(), threading.Event()

    def flooder_question() -> None:
        with slots.hold("flooder") as turn:
            order.append("flooder step 1")
            assert step_done.wait(DEADLINE_S)
            turn.pass_on()  # the victim waits with fewer at work: it goes first
            order.append("flooder step 2")
            resumed.set()

    flooder = threading.Thread(target=flooder_question, daemon=True)
    flooder.start()
    wait_until(lambda: order == ["flooder step 1"])
    with workers() as started:
        started.append(Worker(slots, "flooder", order))  # the flooder's next question waits
        wait_until(lambda: slots.waiting() == ["flooder"])
        victim = Worker(slots, "victim", order)
        started.append(victim)
        wait_until(lambda: len(slots.waiting()) == 2)
        step_done.set()
        assert victim.inside.wait(DEADLINE_S)
        wait_until(lambda: slots.waiting() == ["flooder", "flooder"])  # both wait again
        assert not resumed.is_set()
        victim.finish()
        assert started[0].inside.wait(DEADLINE_S)
        started[0].finish()
        flooder.join(DEADLINE_S)
    assert order == ["flooder step 1", "victim", "flooder", "flooder step 2"]


def test_between_steps_nobody_gives_way_to_a_user_with_as_many_at_work() -> None:
    slots = WorkSlots(1)
    with workers() as started, slots.hold("a") as turn:
        other = Worker(slots, "b", [])
        started.append(other)
        wait_until(lambda: slots.waiting() == ["b"])
        turn.pass_on()  # b has one at work, as a has: a keeps the slot
        assert slots.waiting() == ["b"] and not other.inside.is_set()
        assert turn.waited < DEADLINE_S
