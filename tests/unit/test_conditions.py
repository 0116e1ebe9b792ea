from datetime import UTC, datetime, timedelta

import pytest

from modelship.conditions import MAX_MESSAGE, READY, Reason, find, flipped, set_condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_new_condition_is_appended_with_generation_and_time() -> None:
    conds = set_condition([], READY, "False", Reason.PODS_NOT_READY, "0/2", 3, T0)
    assert len(conds) == 1
    assert conds[0].observed_generation == 3
    assert conds[0].last_transition_time == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("name", "second_status", "expect_time"),
    [
        ("same status keeps the transition time", "False", "2026-01-01T00:00:00Z"),
        ("a flip moves the transition time", "True", "2026-01-01T00:05:00Z"),
    ],
)
def test_transition_time_moves_only_on_flip(
    name: str, second_status: str, expect_time: str
) -> None:
    conds = set_condition([], READY, "False", Reason.PODS_NOT_READY, "0/2", 1, T0)
    conds = set_condition(conds, READY, second_status, Reason.AVAILABLE, "2/2", 2, T1)  # type: ignore[arg-type]
    assert conds[0].last_transition_time == expect_time, name
    assert conds[0].observed_generation == 2
    assert conds[0].reason == Reason.AVAILABLE


def test_order_is_kept_and_types_are_unique() -> None:
    conds = set_condition([], "A", "True", "R", "", 1, T0)
    conds = set_condition(conds, "B", "True", "R", "", 1, T0)
    conds = set_condition(conds, "A", "False", "R", "", 1, T0)
    assert [c.type for c in conds] == ["A", "B"]
    assert find(conds, "A") is not None and find(conds, "A").status == "False"  # type: ignore[union-attr]


def test_flipped_reports_status_and_reason_changes_only() -> None:
    before = set_condition([], READY, "False", "X", "m1", 1, T0)
    same = set_condition(before, READY, "False", "X", "other message", 1, T1)
    assert flipped(before, same) == []
    reason = set_condition(before, READY, "False", "Y", "m", 1, T1)
    assert [c.reason for c in flipped(before, reason)] == ["Y"]


def test_a_message_over_the_conditions_limit_is_cut_and_says_so() -> None:
    long = "x" * 40_000
    [cond] = set_condition([], "Progressing", "True", "R", long, 1, T0)
    assert len(cond.message) == MAX_MESSAGE
    assert cond.message.endswith("[truncated: 40000 characters]")
    [short] = set_condition([], "Progressing", "True", "R", "fine", 1, T0)
    assert short.message == "fine"
