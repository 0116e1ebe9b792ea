"""Manual commands arrive as annotations and are acted on once per value.

``kubectl annotate md/NAME modelship.io/promote=$(date +%s) --overwrite`` (or the
`modelship` command line, which does the same) asks once; the operator records
the value it handled in ``status.commands`` so a restart never repeats it. No
field that GitOps owns is touched. ``modelship.io/paused`` is a level instead:
"true" holds the canary until it is removed or set to anything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from modelship.api.status import Commands
from modelship.decisions.rollout import Command

PREFIX = "modelship.io/"
PAUSED = PREFIX + "paused"
UNDO = PREFIX + "undo"
ANNOTATIONS: dict[Command, str] = {
    Command.PROMOTE: PREFIX + "promote",
    Command.PROMOTE_FULL: PREFIX + "promote-full",
    Command.ABORT: PREFIX + "abort",
    Command.RETRY: PREFIX + "retry",
}
_FIELDS = {
    Command.PROMOTE: "promote",
    Command.PROMOTE_FULL: "promote_full",
    Command.ABORT: "abort",
    Command.RETRY: "retry",
}


# A revision number as the undo annotation carries it: ASCII digits, and not more of them
# than any revision will ever have. str.isdigit() also takes superscripts, which int()
# refuses, and int() refuses more than 4,300 digits: either raised in every reconcile.
_REVISION = re.compile(r"[0-9]{1,18}")


def revision_number(value: str) -> int | None:
    """The revision number of an undo value ``N`` or ``N@nonce``; None if it is not one."""
    number = value.split("@", 1)[0]
    if not _REVISION.fullmatch(number) or int(number) == 0:
        return None
    return int(number)


@dataclass(frozen=True)
class Requested:
    commands: frozenset[Command]
    undo: int | None  # revision number asked for by a new undo
    undo_invalid: str | None  # a new undo value that is not "<number>[@nonce]"
    paused: bool
    handled: Commands  # what status.commands becomes once these are acted on


def requested(annotations: Mapping[str, str], handled: Commands) -> Requested:
    new = set()
    updates: dict[str, str | None] = {}
    for command, key in ANNOTATIONS.items():
        value = annotations.get(key)
        if value is not None and value != getattr(handled, _FIELDS[command]):
            new.add(command)
            updates[_FIELDS[command]] = value
    undo, invalid = None, None
    undo_value = annotations.get(UNDO)
    if undo_value is not None and undo_value != handled.undo:
        updates["undo"] = undo_value
        undo = revision_number(undo_value)
        invalid = undo_value if undo is None else None
    return Requested(
        commands=frozenset(new),
        undo=undo,
        undo_invalid=invalid,
        paused=annotations.get(PAUSED, "").lower() == "true",
        handled=handled.model_copy(update=updates),
    )
