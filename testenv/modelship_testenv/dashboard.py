"""`modelship dashboard --port 0` as a user runs it, for tests and benchmarks.

The dashboard prints one line on stdout once it listens (``modelship dashboard:
serving on http://127.0.0.1:PORT/``); ``start`` waits for it and returns the URL. Its
logs (stderr) and every stdout line go to the log file. Stopped by pid.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

SERVING = re.compile(r"^modelship dashboard: serving on (http://127\.0\.0\.1:(\d+)/)$")


class DashboardProcess:
    def __init__(self, kubeconfig: Path, log: Path, *extra: str) -> None:
        """``extra``: more arguments (``-n NS``, ``-v``)."""
        self.log_path = log
        self.argv = [
            sys.executable,
            *("-m", "modelship", "dashboard", "--port", "0"),
            *("--kubeconfig", str(kubeconfig)),
            *extra,
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0
        self.lines: list[str] = []  # stdout, in order: the serving line must be the first
        self._log: IO[str] | None = None

    def start(self, timeout: float = 60) -> str:
        """Start it and wait for its serving line; the URL. RuntimeError with the log's
        tail if it exits first or says nothing for ``timeout`` seconds."""
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        found = threading.Event()
        stdout, log = self.proc.stdout, self._log
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                self.lines.append(line.rstrip("\n"))
                log.write(line)
                log.flush()
                m = SERVING.match(line.rstrip("\n"))
                if m and not found.is_set():
                    self.url, self.port = m.group(1), int(m.group(2))
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = "exited" if self.proc.poll() is not None else f"said nothing in {timeout}s"
                self.stop()
                raise RuntimeError(f"modelship dashboard {why}:\n{self.log_tail()}")
        return self.url

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return "\n".join(self.lines)[-chars:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log is not None and not self._log.closed:
            self._log.close()
