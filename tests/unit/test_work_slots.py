"""Work slots (rag_core/limits/slots.py): a process's CPUs shared fairly among the questions
already admitted. Threads wait on events and conditions with generous deadlines, never on a
wall-clock window."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fakes import ManualClock

from rag_core import procs
from rag_core.ingest.ingestion import ingest_notes
from rag_core.limits.slots import WorkSlots, slots_for
from rag_core.parts import Parts, with_settings
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


def test_a_users_use_of_the_slots_is_the_time_held_halved_every_half_life() -> None:
    clock = ManualClock(0.0)
    slots = WorkSlots(1, clock=clock, half_life_s=2.0)
    with slots.hold("a"):
        clock.now = 1.0
    assert slots.used("a") == pytest.approx(1.0)
    clock.now = 3.0
    assert slots.used("a") == pytest.approx(0.5)
    with slots.hold("a"):
        clock.now = 4.0
    assert slots.used("a") == pytest.approx(0.5 * 0.5 ** 0.5 + 1.0)
    assert slots.used("never-asked") == 0.0


def test_a_freed_slot_goes_to_the_user_who_used_the_slots_least_not_the_first_waiting() -> None:
    clock = ManualClock(0.0)
    slots, served = WorkSlots(1, clock=clock), []
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
        clock.now = 1.0  # the flooder's question held the slot for a second
        holder.finish()
        assert victim.inside.wait(DEADLINE_S)
        assert slots.waiting() == ["flooder"] * 3
    assert served[:2] == ["flooder", "victim"]


def test_a_user_whose_questions_wait_gets_its_turn_while_others_keep_asking() -> None:
    """A shared account with questions waiting, and two users who always have one waiting:
    the account's use decays while theirs grows, so it is served within a few turns (a rule by
    the questions each user has at work served them for ever: the account has the most)."""
    clock = ManualClock(0.0)
    slots, served = WorkSlots(1, clock=clock), []
    with workers() as started:
        first = Worker(slots, "team", served)
        started.append(first)
        assert first.inside.wait(DEADLINE_S)
        for _ in range(2):
            started.append(Worker(slots, "team", served))
        turn = Worker(slots, "b", served)
        started += [turn, Worker(slots, "c", served)]
        wait_until(lambda: len(slots.waiting()) == 4)
        clock.now = 1.0
        first.finish()  # team has used the slot for a second: b and c go first
        holding = turn
        for _ in range(8):
            if holding.user == "team":
                break
            assert holding.inside.wait(DEADLINE_S)
            follower = Worker(slots, holding.user, served)  # asks again as it is answered
            started.append(follower)
            wait_until(lambda: len(slots.waiting()) == 4)
            clock.now += 0.5  # each of their questions holds the slot for half a second
            holding.finish()
            wait_until(lambda: sum(w.inside.is_set() and not w.go.is_set()
                                   for w in started) == 1)
            holding = next(w for w in started if w.inside.is_set() and not w.go.is_set())
        assert holding.user == "team", served
        assert 2 <= served.count("b") + served.count("c") <= 6, served


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
    parts = with_settings(memory_parts, work_slots=1)
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


def test_between_steps_a_holder_gives_way_to_a_user_who_used_less_and_keeps_its_place() -> None:
    clock = ManualClock(0.0)
    slots = WorkSlots(1, clock=clock)
    order: list[str] = []
    step_done, resumed = threading.Event(), threading.Event()

    def flooder_question() -> None:
        with slots.hold("flooder") as turn:
            order.append("flooder step 1")
            assert step_done.wait(DEADLINE_S)
            turn.pass_on()  # the victim has used less: it goes first
            order.append("flooder step 2")
            resumed.set()

    flooder = threading.Thread(target=flooder_question, daemon=True)
    flooder.start()
    wait_until(lambda: order == ["flooder step 1"])
    with workers() as started:
        later = Worker(slots, "flooder", order)  # the flooder's next question waits
        started.append(later)
        wait_until(lambda: slots.waiting() == ["flooder"])
        victim = Worker(slots, "victim", order)
        started.append(victim)
        wait_until(lambda: len(slots.waiting()) == 2)
        clock.now = 0.5  # the flooder's first step took half a second
        step_done.set()
        assert victim.inside.wait(DEADLINE_S)
        wait_until(lambda: slots.waiting() == ["flooder", "flooder"])  # both wait again
        assert not resumed.is_set()
        victim.finish()
        assert resumed.wait(DEADLINE_S)  # the question that came first, then the later one
        flooder.join(DEADLINE_S)
        assert later.inside.wait(DEADLINE_S)
        later.finish()
    assert order == ["flooder step 1", "victim", "flooder step 2", "flooder"]


def test_between_steps_nobody_gives_way_to_a_user_who_used_as_much_or_more() -> None:
    clock = ManualClock(0.0)
    slots = WorkSlots(1, clock=clock)
    with slots.hold("b"):
        clock.now = 1.0  # b has used a second
    with workers() as started, slots.hold("a") as turn:
        other = Worker(slots, "b", [])
        started.append(other)
        wait_until(lambda: slots.waiting() == ["b"])
        turn.pass_on()  # a has used nothing yet: it keeps the slot
        clock.now = 1.5
        turn.pass_on()  # a's half second is less than b's decayed second: it keeps it still
        assert slots.used("a") < slots.used("b")
        assert slots.waiting() == ["b"] and not other.inside.is_set()
        assert turn.waited < DEADLINE_S
