"""Clones of the repositories promotions commit to, driven through the git command line.

The git program, not a library: it speaks every transport users have (HTTPS with a
token, SSH with a deploy key, a local path) with the behaviour they know, and it is what
the tests run for real. One working clone per repository URL lives under a cache
directory; each operation fetches the branch first and starts from the remote's tip,
so nothing local outlives a failed push. Credentials come from a Secret for each call
and reach git through its environment (never its argv, which other processes can read).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from modelship import fence
from modelship.errors import TransientError
from modelship.kernel.plan import Commit, GitRemote
from modelship.kube import Kube

log = logging.getLogger(__name__)

GIT_TIMEOUT = 120.0  # seconds for one git command (a first fetch of a large repository)
PUSH_ATTEMPTS = 3  # a push that lost a race with another writer starts over this often


class GitError(TransientError):
    """A git command failed (unreachable, refused credentials, push rejected): the
    reconcile is retried with backoff and the message shows in the Reconciled condition."""


@dataclass(frozen=True)
class FoundCommit:
    sha: str
    committed_at: str  # RFC 3339, as git prints it (%cI)


def _cache_root() -> Path:
    root = os.environ.get("MODELSHIP_GIT_CACHE")
    return Path(root) if root else Path(tempfile.gettempdir()) / "modelship-git"


class GitRepos:
    def __init__(self, kube: Kube, root: Path | None = None) -> None:
        self.kube = kube
        self.root = root or _cache_root()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # ----- the two operations -------------------------------------------------------------

    def find(self, remote: GitRemote, marker: str) -> FoundCommit | None:
        """The newest commit on the remote branch whose message carries ``marker``."""
        with self._clone(remote) as (clone, env):
            self._fetch(clone, remote, env)
            return self._find(clone, remote, marker, env)

    def commit(self, action: Commit) -> str:
        """Make and push the commit unless the branch has it already; its SHA."""
        remote = action.remote
        with self._clone(remote) as (clone, env):
            for attempt in range(1, PUSH_ATTEMPTS + 1):
                self._fetch(clone, remote, env)
                found = self._find(clone, remote, action.marker, env)
                if found is not None:
                    return found.sha
                sha = self._make(clone, remote, action, env)
                fence.check(f"push to {remote}")
                pushed = self._git(
                    clone,
                    ["push", "--quiet", "origin", f"HEAD:refs/heads/{remote.branch}"],
                    env,
                    check=False,
                )
                if pushed.returncode == 0:
                    log.info("pushed %s to %s (%s)", sha[:12], remote, action.path)
                    return sha
                if attempt == PUSH_ATTEMPTS or "rejected" not in pushed.stderr:
                    raise GitError(f"git push to {remote} failed: {_last_line(pushed.stderr)}")
                log.info("push to %s lost a race with another writer; starting over", remote)
        raise AssertionError("unreachable")

    # ----- steps --------------------------------------------------------------------------

    def _make(self, clone: Path, remote: GitRemote, action: Commit, env: Mapping[str, str]) -> str:
        self._git(
            clone, ["checkout", "--quiet", "--force", "-B", "promotion", _tracking(remote)], env
        )
        self._git(clone, ["clean", "-fdq"], env)
        file = clone / action.path
        if not file.resolve().is_relative_to(clone.resolve()):
            raise GitError(f"path {action.path} leaves the repository")
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise GitError(f"{remote} has no file {action.path}") from None
        try:
            changed = action.edit(text)
        except ValueError as exc:
            raise GitError(str(exc)) from None
        file.write_text(changed, encoding="utf-8")
        self._git(clone, ["add", "--", action.path], env)
        name, email = action.author
        self._git(
            clone,
            [
                "-c",
                f"user.name={name}",
                "-c",
                f"user.email={email}",
                "commit",
                "--quiet",
                "--allow-empty",
                "--file",
                "-",
            ],
            env,
            stdin=action.message,
        )
        return self._git(clone, ["rev-parse", "HEAD"], env).stdout.strip()

    def _fetch(self, clone: Path, remote: GitRemote, env: Mapping[str, str]) -> None:
        refspec = f"+refs/heads/{remote.branch}:{_tracking(remote)}"
        self._git(clone, ["fetch", "--quiet", "--prune", "origin", refspec], env)

    def _find(
        self, clone: Path, remote: GitRemote, marker: str, env: Mapping[str, str]
    ) -> FoundCommit | None:
        """The newest commit with ``marker`` as a whole line of its message (a fixed
        string alone would take run 10's marker for run 1's)."""
        out = self._git(
            clone,
            [
                "log",
                _tracking(remote),
                "--fixed-strings",
                f"--grep={marker}",
                "-n",
                "20",
                "--format=%H %cI%n%B%x00",
            ],
            env,
        ).stdout
        for entry in out.split("\0"):
            head, _, body = entry.strip("\n").partition("\n")
            fields = head.split()
            if len(fields) == 2 and marker in body.splitlines():
                return FoundCommit(fields[0], fields[1])
        return None

    # ----- the clone, its lock and credentials --------------------------------------------

    @contextmanager
    def _clone(self, remote: GitRemote) -> Iterator[tuple[Path, dict[str, str]]]:
        key = hashlib.sha256(remote.url.encode()).hexdigest()[:16]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock, tempfile.TemporaryDirectory(prefix="modelship-git-") as scratch:
            env = self._env(remote, Path(scratch))
            clone = self.root / key
            if not (clone / ".git").is_dir():
                clone.mkdir(parents=True, exist_ok=True)
                self._git(clone, ["init", "--quiet"], env)
                self._git(clone, ["remote", "add", "origin", remote.url], env)
            else:
                # An operator killed during a git command leaves its lock behind; this
                # process is the clone's only user and holds its lock, so none is live.
                for stale in (".git/index.lock", ".git/HEAD.lock"):
                    (clone / stale).unlink(missing_ok=True)
                self._git(clone, ["remote", "set-url", "origin", remote.url], env)
            yield clone, env

    def _env(self, remote: GitRemote, scratch: Path) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(scratch),
            "GIT_TERMINAL_PROMPT": "0",  # a missing credential fails, never waits for a tty
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        if remote.secret is None:
            return env
        data = self._secret(remote.secret)
        config: list[tuple[str, str]] = []
        if "username" in data and "password" in data:
            basic = base64.b64encode(f"{data['username']}:{data['password']}".encode()).decode()
            config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        if "sshPrivateKey" in data:
            key = scratch / "id"
            key.write_text(data["sshPrivateKey"].rstrip("\n") + "\n")
            key.chmod(0o600)
            ssh = f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes"
            if "knownHosts" in data:
                hosts = scratch / "known_hosts"
                hosts.write_text(data["knownHosts"])
                ssh += f" -o UserKnownHostsFile={hosts} -o StrictHostKeyChecking=yes"
            else:
                ssh += " -o StrictHostKeyChecking=accept-new"
            env["GIT_SSH_COMMAND"] = ssh
        if not config and "GIT_SSH_COMMAND" not in env:
            ns, name = remote.secret
            raise GitError(
                f"Secret {ns}/{name} has neither username and password nor sshPrivateKey"
            )
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (k, v) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = k, v
        return env

    def _secret(self, ref: tuple[str, str]) -> dict[str, str]:
        try:
            obj = self.kube.get("v1", "Secret", *ref)
        except TransientError as exc:  # forbidden: see docs/install.md, "Git credentials"
            raise GitError(
                f"cannot read Secret {ref[0]}/{ref[1]} (spec.strategy.git.secretRef): {exc}"
            ) from None
        if obj is None:
            raise GitError(f"Secret {ref[0]}/{ref[1]} (spec.strategy.git.secretRef) not found")
        raw = obj.get("data") or {}
        return {k: base64.b64decode(v).decode() for k, v in raw.items()}

    @staticmethod
    def _git(
        clone: Path,
        args: list[str],
        env: Mapping[str, str],
        check: bool = True,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=clone,
                env=dict(env),
                input=stdin,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise GitError("the git program is not installed where the operator runs") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took more than {GIT_TIMEOUT:.0f}s") from None
        if check and done.returncode != 0:
            raise GitError(f"git {args[0]} failed: {_last_line(done.stderr)}")
        return done


def _tracking(remote: GitRemote) -> str:
    return f"refs/remotes/origin/{remote.branch}"


def _last_line(stderr: str) -> str:
    """What git says went wrong: its fatal: and error: lines, else its last line. The
    last line alone was often advice ("and the repository exists.", a missing repository:
    found by fuzzing), which says nothing of the cause."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    causes = [line for line in lines if line.startswith(("fatal:", "error:"))]
    said = "; ".join(causes) if causes else (lines[-1] if lines else "no message")
    # With prompts off, git reports refused (or missing) HTTP credentials as a prompt it
    # could not show; say what it means.
    if "terminal prompts disabled" in said or "Authentication failed" in said:
        return f"the server refused the credentials (spec.strategy.git.secretRef): {said}"
    return said
