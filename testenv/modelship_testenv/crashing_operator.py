"""The operator, killing itself with SIGKILL right after a chosen write (chaos tests).

`python -m modelship_testenv.crashing_operator operator ...` runs `modelship operator`
with the one executor's writes watched. Two ways to choose the write:

- $MODELSHIP_TEST_KILL_AFTER alone (the first mode): once a write whose description
  starts with it has been made (for example `create Job ns/promo-eval-1`), the process
  SIGKILLs itself before that reconcile's next write, so everything after it in the
  reconcile never happens: the crash at the worst moment, on a real process.
- $MODELSHIP_TEST_KILL_AT_WRITE=N (the count mode): the process SIGKILLs itself as soon
  as the Nth write has returned from the API server, before anything else happens in
  that reconcile; with $MODELSHIP_TEST_KILL_AFTER set too, the Nth write whose
  description starts with it. Counting starts when the process starts.

Before dying it writes the description to $MODELSHIP_TEST_KILL_MARK, so a test can tell
a kill at the chosen point from any other exit. With $MODELSHIP_TEST_WRITE_LOG set, every
write is appended to that file as ``<unix time> <description>`` (to find the points).
Descriptions are the executor's (modelship.kernel.executor): ``apply Kind ns/name``,
``create Kind ns/name``, ``delete Kind ns/name``, ``event Reason on Kind ns/name``,
``status of Kind ns/name``, ``error status of ...``, ``commit path for ... to remote``.
The product carries none of this.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from modelship import cli
from modelship.kernel import executor

# The calls of the executor's Kube client and Git writer that write something.
_WRITES = frozenset({"apply", "create", "delete", "patch_status", "record_event", "commit"})


def _die(mark: Path, what: str) -> None:
    mark.write_text(what)
    os.kill(os.getpid(), signal.SIGKILL)


def _install_next_write(prefix: str, mark: Path) -> None:
    """``Executor._write`` is called just before each write; the write it announces is
    made when it returns. So a matching write is known done at the next call from the
    same thread (the same reconcile): kill then. Another worker's write may come while
    it is still under way, and must not cut it short."""
    original = executor.Executor._write
    made: dict[int, str] = {}  # thread -> the matching write it announced
    lock = threading.Lock()

    def write(self: executor.Executor, what: str) -> None:
        me = threading.get_ident()
        with lock:
            if me in made:
                _die(mark, made[me])
        original(self, what)
        if what.startswith(prefix):
            with lock:
                made.setdefault(me, what)

    executor.Executor._write = write  # type: ignore[method-assign]


class _Dying:
    """The executor's Kube client (or Git writer) that kills the process when a write
    the thread was told to die after returns (or raises: the API server had it)."""

    def __init__(self, inner: Any, doomed: dict[int, str], mark: Path) -> None:
        self._inner = inner
        self._doomed = doomed
        self._mark = mark

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in _WRITES or not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            finally:
                what = self._doomed.get(threading.get_ident())
                if what is not None:
                    _die(self._mark, what)

        return call


def _install_count(count: int, prefix: str, mark: Path) -> None:
    """Count the writes announced (matching ``prefix``); the thread that announces the
    ``count``-th dies as soon as that write has been made."""
    original_write = executor.Executor._write
    original_init = executor.Executor.__init__
    doomed: dict[int, str] = {}  # thread -> the write it dies after
    seen = [0]
    lock = threading.Lock()

    def init(self: executor.Executor, kube: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, kube, *args, **kwargs)
        self.kube = _Dying(self.kube, doomed, mark)  # type: ignore[assignment]
        self.git = _Dying(self.git, doomed, mark)

    def write(self: executor.Executor, what: str) -> None:
        original_write(self, what)
        if not what.startswith(prefix):
            return
        with lock:
            seen[0] += 1
            if seen[0] == count:
                doomed[threading.get_ident()] = what

    executor.Executor.__init__ = init  # type: ignore[method-assign]
    executor.Executor._write = write  # type: ignore[method-assign]


def _install_log(path: Path) -> None:
    original = executor.Executor._write
    lock = threading.Lock()

    def write(self: executor.Executor, what: str) -> None:
        with lock, path.open("a") as out:
            out.write(f"{time.time():.3f} {what}\n")
        original(self, what)

    executor.Executor._write = write  # type: ignore[method-assign]


def main() -> None:
    log = os.environ.get("MODELSHIP_TEST_WRITE_LOG")
    if log:
        _install_log(Path(log))  # innermost: only a write that is made is logged
    prefix = os.environ.get("MODELSHIP_TEST_KILL_AFTER")
    count = os.environ.get("MODELSHIP_TEST_KILL_AT_WRITE")
    if prefix is not None or count is not None:
        mark = Path(os.environ["MODELSHIP_TEST_KILL_MARK"])
        if count is not None:
            _install_count(int(count), prefix or "", mark)
        else:
            assert prefix is not None
            _install_next_write(prefix, mark)
    sys.exit(cli.main(sys.argv[1:]))


if __name__ == "__main__":
    main()
