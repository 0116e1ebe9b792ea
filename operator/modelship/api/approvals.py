"""How people approve and reject a promotion run: annotations on the ModelPromotion.

An approval is the annotation ``approve.modelship.io/run-<N>.<user hash>: <username>``; a
rejection is ``reject.modelship.io/run-<N>.<user hash>: <username>\\n<message>``. The
ValidatingAdmissionPolicy shipped beside the CRDs (crds/modelpromotion-approval-policy.yaml)
lets a request add such an annotation only when its value starts with the username the API
server authenticated for that request, and only when that user holds the ``approve`` verb
on modelpromotions; so the name in the value is a verified identity, not typed text.
The run number keeps an approval of one run from passing the next (Continuous mode).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

APPROVE_PREFIX: Final = "approve.modelship.io/"
REJECT_PREFIX: Final = "reject.modelship.io/"


def _slot(run: int, user: str) -> str:
    # Usernames (system:serviceaccount:ns:name, emails) are not valid annotation-key
    # characters; a hash of them is, and keeps one slot per user and run.
    return f"run-{run}.{hashlib.sha256(user.encode()).hexdigest()[:16]}"


def approve_key(run: int, user: str) -> str:
    return APPROVE_PREFIX + _slot(run, user)


def reject_key(run: int, user: str) -> str:
    return REJECT_PREFIX + _slot(run, user)


def reject_value(user: str, message: str) -> str:
    return f"{user}\n{message}"


@dataclass(frozen=True)
class Vote:
    user: str
    message: str


def votes(annotations: dict[str, str], prefix: str, run: int) -> list[Vote]:
    """The run's approvals (or rejections), one per user, in key order."""
    out: dict[str, Vote] = {}
    for key in sorted(annotations):
        if not key.startswith(f"{prefix}run-{run}."):
            continue
        user, _, message = annotations[key].partition("\n")
        if user and user not in out:
            out[user] = Vote(user, message.strip())
    return list(out.values())
