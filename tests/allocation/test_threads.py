"""Allocation from several threads (dask's threaded scenarios): the process stdout must survive."""
from __future__ import annotations

import contextlib
import os
import threading

import highspy
import pytest

from hydro.allocation import solver


def _hammer(n_threads: int = 8, per_thread: int = 25) -> None:
    barrier = threading.Barrier(n_threads)

    def work():
        barrier.wait()
        for _ in range(per_thread):
            solver._quiet_highs(highspy)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _fd1_identity() -> tuple[int, int]:
    st = os.fstat(1)
    return st.st_dev, st.st_ino


def test_concurrent_highs_construction_leaves_stdout_where_it_was():
    """Found 2026-12-06: examples/03_allocation_study.py (two scenarios on dask threads) printed nothing in about
    one run of eight, exit code 0 — two threads interleaved the save/redirect/restore of fd 1 around the HiGHS
    banner and left the process stdout on /dev/null."""
    before = _fd1_identity()
    _hammer()
    assert _fd1_identity() == before


def test_without_the_lock_the_race_shows(monkeypatch):
    """The hammering above does reproduce the race when the lock is taken away (else that test proves nothing);
    fd 1 is put back afterwards. Skipped if the race does not show in 20 rounds on this machine."""
    saved = os.dup(1)
    moved = False
    try:
        before = _fd1_identity()
        monkeypatch.setattr(solver, "_STDOUT_LOCK", contextlib.nullcontext())
        for _ in range(20):
            _hammer()
            if _fd1_identity() != before:
                moved = True
                break
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    if not moved:
        pytest.skip("the race did not show in 20 rounds on this machine")
