"""run_isolated: every way a child can end comes back as an outcome; the parent survives."""

from __future__ import annotations

import mmap
import os
import threading
import time

import numpy as np
import pytest

from sdpnets.solving.isolation import ChildOutcome, run_isolated

MiB = 2**20


def _children() -> list[str]:
    """Process ids whose parent is this process (running or zombie)."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.append(entry)
    return found


@pytest.fixture(autouse=True)
def no_leftover_children():
    before = set(_children())
    yield
    assert set(_children()) - before == set(), "a child was left running or unreaped"


def _value(n):
    return {"squares": np.arange(n) ** 2, "name": "done"}


def test_return_value_crosses_back():
    out = run_isolated(_value, 5)
    assert isinstance(out, ChildOutcome)
    assert out.status == "ok" and out.ok and out.exitcode == 0 and out.message == ""
    np.testing.assert_array_equal(out.value["squares"], np.arange(5) ** 2)
    assert out.value["name"] == "done"
    assert out.wall_time > 0 and out.peak_mib >= out.base_mib > 0


def test_keyword_arguments_reach_the_function():
    out = run_isolated(lambda a, *, b: a - b, 10, b=3)
    assert out.value == 7


def _raise():
    raise KeyError("no such thing")


def test_exception_comes_back_as_crashed_with_type_and_message():
    out = run_isolated(_raise)
    assert out.status == "crashed" and out.value is None
    assert out.message.startswith("KeyError") and "no such thing" in out.message
    assert "_raise" in out.traceback


def _abort():
    os.write(2, b"about to abort on purpose\n")
    os.abort()


def test_abort_is_reported_with_the_signal_and_parent_survives():
    out = run_isolated(_abort)
    assert out.status == "crashed"
    assert out.exitcode == -6
    assert "SIGABRT" in out.message and "about to abort on purpose" in out.message
    assert "about to abort on purpose" in out.stderr


def _segfault():
    import ctypes

    ctypes.string_at(0)


def test_segfault_is_reported_with_the_signal():
    out = run_isolated(_segfault)
    assert out.status == "crashed" and "SIGSEGV" in out.message and out.exitcode == -11


def _rust_like_allocation_failure():
    os.write(2, b"memory allocation of 16308180000 bytes failed\n")
    os.abort()


def test_native_allocation_failure_counts_as_memory_limit():
    out = run_isolated(_rust_like_allocation_failure)
    assert out.status == "memory_limit"
    assert "SIGABRT" in out.message and "16308180000" in out.message


def test_time_limit_kills_the_child():
    start = time.perf_counter()
    out = run_isolated(time.sleep, 30, time_limit=0.3)
    assert out.status == "time_limit" and out.value is None
    assert "time limit" in out.message and out.exitcode == -9
    assert time.perf_counter() - start < 10


def _grow(total, step=8 * MiB):
    """Touch ``total`` bytes of fresh anonymous memory, ``step`` at a time (mmap, so no
    free heap pages inherited from the parent are reused)."""
    chunks = []
    page = b"\1" * step
    for _ in range(total // step):
        m = mmap.mmap(-1, step)
        m.write(page)
        chunks.append(m)
        time.sleep(0.002)
    return len(chunks)


def test_memory_watcher_kills_a_growing_child():
    out = run_isolated(_grow, 2000 * MiB, memory_limit=64 * MiB)
    assert out.status == "memory_limit"
    assert "memory limit" in out.message
    # killed close to the limit, long before the 2000 MiB it asked for
    assert 64 <= out.added_mib < 1000


def _huge():
    return np.empty(200 * 2**30 // 8).sum()


def test_one_huge_allocation_fails_at_once_under_a_memory_limit():
    out = run_isolated(_huge, memory_limit=64 * MiB)
    assert out.status == "memory_limit" and "MemoryError" in out.message


def test_peak_memory_is_measured():
    out = run_isolated(_grow, 96 * MiB)
    assert out.status == "ok" and out.value == 12
    assert out.added_mib >= 0.9 * 96
    small = run_isolated(_value, 3)
    assert small.added_mib < out.added_mib


def test_within_limits_is_ok():
    out = run_isolated(_grow, 32 * MiB, time_limit=60, memory_limit=256 * MiB)
    assert out.status == "ok" and out.value == 4


def _unpicklable():
    return threading.Lock()


def test_unpicklable_result_is_a_crash_not_a_hang():
    out = run_isolated(_unpicklable)
    assert out.status == "crashed" and "could not be sent" in out.message


def _exit_quietly():
    os._exit(3)


def test_exit_without_result():
    out = run_isolated(_exit_quietly)
    assert out.status == "crashed" and out.exitcode == 3 and "code 3" in out.message


@pytest.mark.parametrize("kw", [{"time_limit": 0}, {"memory_limit": -1}, {"time_limit": "5"}])
def test_bad_limits_are_refused(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        run_isolated(_value, 1, **kw)


def _grow_in_a_child(total):
    """Fork a process (as a solve's workers are forked) that touches ``total`` bytes."""
    import multiprocessing

    worker = multiprocessing.get_context("fork").Process(target=_grow, args=(total,))
    worker.start()
    worker.join()
    return worker.exitcode


def test_memory_watcher_counts_the_childs_own_children():
    """Memory grown in a process the child forked counts against the limit: the whole
    process group is killed close to it."""
    start = time.perf_counter()
    out = run_isolated(_grow_in_a_child, 2000 * MiB, memory_limit=64 * MiB)
    assert out.status == "memory_limit", out.message
    assert out.added_mib >= 64
    assert time.perf_counter() - start < 30
