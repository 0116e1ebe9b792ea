"""The operator, killing itself with SIGKILL right after a chosen write (chaos tests).

`python -m modelship_testenv.crashing_operator operator ...` runs `modelship operator`
with the one executor's write hook wrapped: once a write whose description starts with
$MODELSHIP_TEST_KILL_AFTER has been made (for example `create Job ns/promo-eval-1`),
the process SIGKILLs itself before its next write, so that write and everything after
it in the reconcile never happen: the crash at the worst moment, on a real process.
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
    made when it returns. So a matching write is known done at the next call: kill then."""
    original = executor.Executor._write
    made: list[str] = []
    lock = threading.Lock()

    def write(self: executor.Executor, what: str) -> None:
        with lock:
            if made:
                mark.write_text(made[0])
                os.kill(os.getpid(), signal.SIGKILL)
        original(self, what)
        if what.startswith(prefix):
            with lock:
                made.append(what)

    executor.Executor._write = write  # type: ignore[method-assign]


def main() -> None:
    prefix = os.environ["MODELSHIP_TEST_KILL_AFTER"]
    mark = Path(os.environ["MODELSHIP_TEST_KILL_MARK"])
    _install(prefix, mark)
    sys.exit(cli.main(sys.argv[1:]))


if __name__ == "__main__":
    main()
