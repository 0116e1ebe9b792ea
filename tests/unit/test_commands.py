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


def test_paused_is_a_level() -> None:
    assert requested({"modelship.io/paused": "true"}, Commands()).paused
    assert not requested({"modelship.io/paused": "false"}, Commands()).paused
    assert not requested({}, Commands()).paused
