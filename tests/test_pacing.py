"""The Pacer's slots under Telegram's limits, on a fake clock (no real time passes)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.pacing import Pacer

GAP = 1 / 30


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def slots(pacer: Pacer, clock: FakeClock, targets: list[tuple[int, str]]) -> list[float]:
    """The absolute times booked for these messages, all asked for at the same moment."""
    return [clock.now + pacer.reserve(chat_id, kind) for chat_id, kind in targets]


def test_the_first_message_goes_at_once(clock: FakeClock) -> None:
    assert Pacer(clock=clock).reserve(1, "private") == 0.0


def test_messages_to_many_chats_are_spread_at_thirty_a_second(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock)
    booked = slots(pacer, clock, [(chat, "private") for chat in range(1, 61)])
    gaps = [b - a for a, b in itertools.pairwise(booked)]
    assert min(gaps) == pytest.approx(GAP)
    assert booked[-1] - booked[0] == pytest.approx(59 * GAP)  # two seconds, not 59


def test_one_private_chat_gets_at_most_one_message_a_second(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock)
    assert [pacer.reserve(7, "private") for _ in range(3)] == pytest.approx([0.0, 1.0, 2.0])


@pytest.mark.parametrize("kind", ["group", "supergroup", "channel"])
def test_a_group_or_channel_gets_one_message_every_three_seconds(
    clock: FakeClock, kind: str
) -> None:
    pacer = Pacer(clock=clock)
    assert [pacer.reserve(-100, kind) for _ in range(3)] == pytest.approx([0.0, 3.0, 6.0])


def test_spacing_is_counted_from_the_last_message_not_from_now(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock)
    pacer.reserve(7, "private")
    clock.now += 0.4
    assert pacer.reserve(7, "private") == pytest.approx(0.6)
    clock.now += 5
    assert pacer.reserve(7, "private") == 0.0  # long idle: no wait at all


def test_a_chat_waiting_for_its_own_slot_does_not_hold_up_other_chats(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock)
    pacer.reserve(-100, "group")
    assert pacer.reserve(-100, "group") == pytest.approx(3.0)
    # Private chats still go at 30 a second meanwhile, not after the group's slot.
    assert [pacer.reserve(c, "private") for c in (1, 2, 3)] == pytest.approx(
        [GAP, 2 * GAP, 3 * GAP]
    )


def test_a_free_slot_between_bookings_is_used_but_never_closer_than_the_overall_gap(
    clock: FakeClock,
) -> None:
    pacer = Pacer(clock=clock)
    pacer.reserve(1, "private")  # t+0
    pacer.reserve(1, "private")  # t+1 (the chat's own spacing)
    clock.now += 0.99
    # t+0.99 is within 1/30 s of the booking at t+1: the next free time is after it.
    assert clock.now + pacer.reserve(2, "private") == pytest.approx(1001.0 + GAP)


def test_pause_pushes_every_slot_past_the_retry_after(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock)
    pacer.reserve(1, "private")
    pacer.pause(5.0)
    assert pacer.paused_for() == pytest.approx(5.0)
    booked = slots(pacer, clock, [(1, "private"), (2, "private"), (-3, "group")])
    assert booked == pytest.approx([1005.0, 1005.0 + GAP, 1005.0 + 2 * GAP])
    clock.now += 6
    assert pacer.paused_for() == 0.0


def test_a_shorter_pause_does_not_shorten_a_longer_one(clock: FakeClock) -> None:
    pacer = Pacer(clock=clock)
    pacer.pause(5.0)
    pacer.pause(1.0)
    assert pacer.paused_for() == pytest.approx(5.0)
    assert pacer.reserve(1, "private") == pytest.approx(5.0)


def test_limits_are_configurable(clock: FakeClock) -> None:
    pacer = Pacer(per_second=10, private_interval=0.5, group_per_minute=60, clock=clock)
    assert [pacer.reserve(1, "private") for _ in range(2)] == pytest.approx([0.0, 0.5])
    assert [pacer.reserve(-1, "group") for _ in range(2)] == pytest.approx([0.1, 1.1])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-3, max_value=3).filter(bool),  # negative ids: groups
            st.floats(min_value=0, max_value=2, allow_nan=False),  # time passing before it
            st.booleans(),  # a 429 of one second arrives first
        ),
        max_size=60,
    )
)
def test_every_booking_respects_all_limits_at_once(
    requests: list[tuple[int, float, bool]],
) -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    booked: list[tuple[float, int]] = []
    paused_until = 0.0
    for chat_id, elapsed, rate_limited in requests:
        clock.now += elapsed
        if rate_limited:
            pacer.pause(1.0)
            paused_until = max(paused_until, clock.now + 1.0)
            # Slots inside the pause are given up and booked again (the deliverer does so).
            booked = [(t, c) for t, c in booked if t < clock.now or t >= paused_until]
        wait = pacer.reserve(chat_id, "group" if chat_id < 0 else "private")
        assert wait >= 0
        slot = clock.now + wait
        assert slot >= paused_until - 1e-6
        booked.append((slot, chat_id))
    times = sorted(t for t, _ in booked)
    assert all(b - a >= GAP - 1e-6 for a, b in itertools.pairwise(times))
    for chat_id in {c for _, c in booked}:
        mine = sorted(t for t, c in booked if c == chat_id)
        spacing = 3.0 if chat_id < 0 else 1.0
        assert all(b - a >= spacing - 1e-6 for a, b in itertools.pairwise(mine))
