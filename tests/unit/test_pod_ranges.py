"""Each local cluster's pod IP range is one that no other live cluster holds."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelship_testenv import podrange
from modelship_testenv.podrange import NoFreePodRange, choose, claim, kwok_ranges, release

EVERY = {podrange.candidate(o) for o in range(podrange.FIRST_RANGE, podrange.LAST_RANGE + 1)}


def test_the_first_free_range_after_the_one_every_cluster_had_before() -> None:
    assert choose(set(), None) == "127.101.0.0/16"
    assert choose({"127.101.0.0/16", "127.102.0.0/16"}, None) == "127.103.0.0/16"
    assert "127.100.0.0/16" not in EVERY


def test_a_cluster_keeps_its_range_unless_another_holds_it() -> None:
    assert choose({"127.101.0.0/16"}, "127.140.0.0/16") == "127.140.0.0/16"
    assert choose({"127.140.0.0/16"}, "127.140.0.0/16") == "127.101.0.0/16"
    # A range recorded by an older checkout is not kept: it is the shared one.
    assert choose(set(), "127.100.0.0/16") == "127.101.0.0/16"


def test_no_free_range_says_what_holds_them() -> None:
    with pytest.raises(NoFreePodRange, match=r"held by another local cluster.*dev-cluster down"):
        choose(EVERY, None)


@pytest.fixture
def fake_kwok() -> Iterator[str]:
    """A live process whose command line is a kwok's with --cidr=127.150.0.0/16."""
    proc = subprocess.Popen(
        ["/opt/bin/kwok", "-c", "sleep 60; :", "--cidr=127.150.0.0/16"], executable="/bin/bash"
    )
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    # Empty for an instant after the exec, before the kernel has set the new one.
    deadline = time.monotonic() + 10
    while b"--cidr=" not in cmdline.read_bytes():
        assert time.monotonic() < deadline, "the fake kwok never showed its command line"
        time.sleep(0.01)
    try:
        yield "127.150.0.0/16"
    finally:
        proc.kill()
        proc.wait()


def test_a_running_kwok_is_seen_by_its_command_line(fake_kwok: str) -> None:
    assert fake_kwok in kwok_ranges()


def _proc(tmp_path: Path, *cmdlines: list[str]) -> Path:
    """A /proc-shaped directory holding these command lines (and nothing else)."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self").mkdir()
    for pid, argv in enumerate(cmdlines, start=100):
        (proc / str(pid)).mkdir()
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return proc


def test_ranges_held_by_kwoks_and_by_live_claims_are_skipped(tmp_path: Path) -> None:
    proc = _proc(
        tmp_path,
        ["/cache/bin/kwok", "--kubeconfig=x", "--cidr=127.101.0.0/16"],
        ["/usr/bin/python3", "--cidr=127.102.0.0/16"],  # not a kwok
    )
    claims = tmp_path / "claims"
    claims.mkdir()
    record = {"podCIDR": "127.102.0.0/16", "stateDir": "/elsewhere", "pid": 1}  # init: alive
    (claims / "127.102.0.0_16").write_text(json.dumps(record))
    assert kwok_ranges(proc) == {"127.101.0.0/16"}
    assert claim(tmp_path / "mine", None, claims=claims, proc=proc) == "127.103.0.0/16"


def test_ups_at_once_never_get_the_same_range(tmp_path: Path) -> None:
    proc, claims = _proc(tmp_path), tmp_path / "claims"
    got: list[str] = []
    lock = threading.Lock()

    def up(i: int) -> None:
        chosen = claim(tmp_path / f"cluster-{i}", None, claims=claims, proc=proc)
        with lock:
            got.append(chosen)

    threads = [threading.Thread(target=up, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(got) == [podrange.candidate(o) for o in range(101, 109)]


def test_a_claim_whose_process_is_gone_is_free_again(tmp_path: Path) -> None:
    proc, claims = _proc(tmp_path), tmp_path / "claims"
    claims.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = {"podCIDR": "127.101.0.0/16", "stateDir": "/elsewhere", "pid": gone.pid}
    (claims / "127.101.0.0_16").write_text(json.dumps(record))
    (claims / "127.102.0.0_16").write_text("{cut short")
    assert claim(tmp_path / "a", None, claims=claims, proc=proc) == "127.101.0.0/16"
    assert claim(tmp_path / "b", None, claims=claims, proc=proc) == "127.102.0.0/16"


def test_a_cluster_trying_again_replaces_its_own_claim_and_release_drops_it(
    tmp_path: Path,
) -> None:
    proc, claims, mine = _proc(tmp_path), tmp_path / "claims", tmp_path / "mine"
    first = claim(mine, None, claims=claims, proc=proc)
    assert claim(mine, first, claims=claims, proc=proc) == first
    assert [p.name for p in claims.glob("127.*")] == [first.replace("/", "_")]
    release(first, claims=claims)
    assert list(claims.glob("127.*")) == []
