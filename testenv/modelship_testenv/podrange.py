"""Each local cluster's pod IP range: a /16 of 127.0.0.0/8 that no other live cluster uses.

A pod's IP is where the pod runner starts its runtime process (podrunner.py), so two
clusters on one machine (``make demo`` and a test session, say) must not hand out the same
addresses: the second process for an address cannot listen, and requests for it reach the
first cluster's process instead.

A cluster is live while its kwok runs, and kwok's command line (``--cidr=``) says which
range it hands out, for any user's cluster, with no record that can go stale. Between
choosing a range and starting kwok (the seconds an ``up`` spends starting the control
plane) the choice is held by a claim file naming the process that chose it; a lock makes
choosing and claiming one step, so two ``up``\\ s at once never pick the same range.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

# 127.100.0.0/16 was every cluster's range before ranges were chosen: a cluster started by
# an older checkout still holds it, so it is never handed out again.
FIRST_RANGE, LAST_RANGE = 101, 254
# Machine-wide, like the loopback addresses it shares out (one file per claimed range).
CLAIMS_DIR = Path("/tmp/modelship-pod-ranges")


class NoFreePodRange(RuntimeError):
    """Every candidate range is held by a live cluster or an ``up`` in progress."""


def candidate(second_octet: int) -> str:
    return f"127.{second_octet}.0.0/16"


def choose(taken: set[str], previous: str | None) -> str:
    """The range this cluster had before if nobody else holds it (its pods in etcd keep
    their IPs across a restart), else the first one nobody holds."""
    candidates = [candidate(octet) for octet in range(FIRST_RANGE, LAST_RANGE + 1)]
    if previous in candidates and previous not in taken:
        return previous
    for cidr in candidates:
        if cidr not in taken:
            return cidr
    raise NoFreePodRange(
        f"every pod range {candidate(FIRST_RANGE)} … {candidate(LAST_RANGE)} is held by "
        f"another local cluster (their kwok processes, and claims in {CLAIMS_DIR}); "
        "stop some with `modelship dev-cluster down --state-dir DIR`"
    )


def kwok_ranges(proc: Path = Path("/proc")) -> set[str]:
    """The ``--cidr`` of every kwok process running on this machine."""
    found: set[str] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # exited meanwhile, or not ours to read
        if Path(argv[0].decode(errors="replace")).name != "kwok":
            continue
        for arg in argv[1:]:
            if arg.startswith(b"--cidr="):
                found.add(arg.removeprefix(b"--cidr=").decode(errors="replace"))
    return found


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


@contextlib.contextmanager
def _locked(claims: Path) -> Iterator[None]:
    if not claims.exists():
        claims.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            claims.chmod(0o1777)  # shared by every user's clusters, like /tmp
    fd = os.open(claims / ".lock", os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _claim_file(claims: Path, cidr: str) -> Path:
    return claims / cidr.replace("/", "_")


def claim(
    state_dir: Path,
    previous: str | None,
    claims: Path = CLAIMS_DIR,
    proc: Path = Path("/proc"),
) -> str:
    """Choose a range for the cluster in ``state_dir`` and hold it until ``release``."""
    with _locked(claims):
        taken = kwok_ranges(proc)
        for path in claims.glob("127.*"):
            try:
                held = json.loads(path.read_text())
                cidr, owner, pid = str(held["podCIDR"]), held["stateDir"], int(held["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a claim cut short is nobody's
            if owner == str(state_dir):
                with contextlib.suppress(OSError):
                    path.unlink()  # this cluster's own claim from an earlier try
            elif _pid_alive(pid):
                taken.add(cidr)
            else:
                # Its process is gone; another user's stale file cannot be removed
                # (the sticky bit), so that range is left to them.
                try:
                    path.unlink()
                except OSError:
                    taken.add(cidr)
        chosen = choose(taken, previous)
        record = {"podCIDR": chosen, "stateDir": str(state_dir), "pid": os.getpid()}
        _claim_file(claims, chosen).write_text(json.dumps(record))
        return chosen


def release(cidr: str, claims: Path = CLAIMS_DIR) -> None:
    """Drop the claim once kwok holds the range (its command line says so) or the start
    failed."""
    with _locked(claims), contextlib.suppress(OSError):
        _claim_file(claims, cidr).unlink()
