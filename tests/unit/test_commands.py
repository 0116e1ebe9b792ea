import pytest

from modelship.api.status import Commands
from modelship.decisions.commands import requested
from modelship.decisions.rollout import Command


def test_new_values_are_commands_once() -> None:
    first = requested({"modelship.io/promote": "1", "modelship.io/abort": "7"}, Commands())
    assert first.commands == {Command.PROMOTE, Command.ABORT}
    again = requested({"modelship.io/promote": "1", "modelship.io/abort": "7"}, first.handled)
    assert again.commands == frozenset()
    newer = requested({"modelship.io/promote": "2"}, first.handled)
    assert newer.commands == {Command.PROMOTE}


def test_undo_takes_a_number_and_rejects_the_rest() -> None:
    asked = requested({"modelship.io/undo": "3@1700000000"}, Commands())
    assert asked.undo == 3 and asked.undo_invalid is None
    bad = requested({"modelship.io/undo": "latest"}, Commands())
    assert bad.undo is None and bad.undo_invalid == "latest"
    assert requested({"modelship.io/undo": "3@1700000000"}, asked.handled).undo is None


@pytest.mark.parametrize(
    "value",
    [
        "\u00b2",  # a superscript two: str.isdigit() says yes, int() raises (found by fuzzing)
        "\u00b2@1",
        "1" * 5000,  # more digits than int() converts: it raised (found by fuzzing)
        "3" * 4301 + "@x",
        "\u0661",  # an Arabic-Indic one: a digit, not a revision number as written
        "0",
        "-1",
        "",
        "@5",
        "1 ",
        "9" * 19,
    ],
)
def test_an_undo_that_is_no_revision_number_is_invalid_not_an_error(value: str) -> None:
    asked = requested({"modelship.io/undo": value}, Commands())
    assert asked.undo is None and asked.undo_invalid == value
    assert asked.handled.undo == value, "handled once, like any other value"


def test_paused_is_a_level() -> None:
    assert requested({"modelship.io/paused": "true"}, Commands()).paused
    assert not requested({"modelship.io/paused": "false"}, Commands()).paused
    assert not requested({}, Commands()).paused
