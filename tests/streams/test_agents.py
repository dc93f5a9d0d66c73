"""The webhook agent acks an alert record only when every delivery it started has ended."""

from __future__ import annotations

from streams.agents import _AckTracker


class FakeEvent:
    def __init__(self) -> None:
        self.acked = 0

    def ack(self) -> bool:
        self.acked += 1
        return True


def test_a_record_is_acked_after_its_last_delivery_ends() -> None:
    tracker = _AckTracker()
    event = FakeEvent()
    record = tracker.opened(("a1", "alert"), event)
    tracker.ended(("a1", "alert"))  # an outcome can arrive before submit() returns
    tracker.expect(("a1", "alert"), record, 2)
    assert event.acked == 0
    tracker.ended(("a1", "alert"))
    assert event.acked == 1


def test_a_record_with_nothing_to_deliver_is_acked_at_once() -> None:
    tracker = _AckTracker()
    event = FakeEvent()
    tracker.expect(("a2", "update"), tracker.opened(("a2", "update"), event), 0)
    assert event.acked == 1


def test_outcomes_are_credited_to_the_oldest_open_record_of_the_same_event() -> None:
    tracker = _AckTracker()
    first, second = FakeEvent(), FakeEvent()
    tracker.expect(("a3", "update"), tracker.opened(("a3", "update"), first), 1)
    tracker.expect(("a3", "update"), tracker.opened(("a3", "update"), second), 1)
    tracker.ended(("a3", "update"))
    assert (first.acked, second.acked) == (1, 0)
    tracker.ended(("a3", "update"))
    assert (first.acked, second.acked) == (1, 1)
