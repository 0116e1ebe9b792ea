"""status.history: revisions served, newest first, bounded by revisionHistoryLimit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelship.api.status import HistoryEntry, RevisionRef
from modelship.conditions import rfc3339

SERVED = ("RolledOut", "Promoted", "RolledBack")


def record(
    history: Sequence[HistoryEntry], revision: RevisionRef, outcome: str, now: datetime, limit: int
) -> list[HistoryEntry]:
    """Put ``revision`` first with ``outcome``; a newly served one supersedes the previous."""
    served = outcome in SERVED
    old = next((h for h in history if h.revision == revision.name), None)
    entry = HistoryEntry(
        revision=revision.name,
        number=revision.number or 0,
        model_version=revision.model_version,
        digest=revision.digest,
        image=revision.image,
        deployed_at=rfc3339(now) if served else None,
        outcome=outcome,
        promotion=old.promotion if old is not None else None,
    )
    rest = [h for h in history if h.revision != revision.name]
    if served:
        rest = [
            h.model_copy(update={"outcome": "Superseded"}) if h.outcome in SERVED else h
            for h in rest
        ]
    return [entry, *rest][: max(limit, 1)]


def find(history: Sequence[HistoryEntry], number: int) -> HistoryEntry | None:
    return next((h for h in history if h.number == number), None)


def name_promotion(
    before: Sequence[HistoryEntry],
    after: Sequence[HistoryEntry],
    promoted_by: str | None,
    promoted_version: str | None,
) -> list[HistoryEntry]:
    """Entries new in ``after`` (a revision, or its outcome, not in ``before``) of the
    version a ModelPromotion set get its name (its modelship.io/promoted-by annotation)."""
    if not promoted_by or not promoted_version:
        return list(after)
    known = {(h.revision, h.outcome) for h in before}
    return [
        h.model_copy(update={"promotion": promoted_by})
        if h.promotion is None
        and h.model_version == promoted_version
        and (h.revision, h.outcome) not in known
        else h
        for h in after
    ]
