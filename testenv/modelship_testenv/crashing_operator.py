"""The operator, killing itself with SIGKILL right after a chosen write (chaos tests).

`python -m modelship_testenv.crashing_operator operator ...` runs `modelship operator`
with the one executor's write hook wrapped: once a write whose description starts with
$MODELSHIP_TEST_KILL_AFTER has been made (for example `create Job ns/promo-eval-1`),
the process SIGKILLs itself before that reconcile's next write, so everything after it
in the reconcile never happens: the crash at the worst moment, on a real process.
Before dying it writes the description to $MODELSHIP_TEST_KILL_MARK, so a test can tell
a kill at the chosen point from any other exit. The product carries none of this.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from modelship import cli
from modelship.kernel import executor


def _install(prefix: str, mark: Path) -> None:
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
                mark.write_text(made[me])
                os.kill(os.getpid(), signal.SIGKILL)
        original(self, what)
        if what.startswith(prefix):
            with lock:
                made.setdefault(me, what)

    executor.Executor._write = write  # type: ignore[method-assign]


def main() -> None:
    prefix = os.environ["MODELSHIP_TEST_KILL_AFTER"]
    mark = Path(os.environ["MODELSHIP_TEST_KILL_MARK"])
    _install(prefix, mark)
    sys.exit(cli.main(sys.argv[1:]))


if __name__ == "__main__":
    main()
