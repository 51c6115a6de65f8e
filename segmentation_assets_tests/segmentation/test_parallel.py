"""Fits run side by side: same results, in order, with the caller's native thread cap."""

from __future__ import annotations

import threading
import warnings

import pytest
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from segmentation_assets.robustness import native_thread_limit
from segmentation_assets.segmentation.features import SegmentationError
from segmentation_assets.segmentation.parallel import map_fits, run_beside


def test_results_come_back_in_input_order_from_several_threads() -> None:
    barrier = threading.Barrier(2, timeout=10)

    def square(x: int) -> tuple[int, int]:
        if x < 2:
            barrier.wait()  # the first two items must be running at the same time
        return x * x, threading.get_ident()

    results = map_fits(square, range(6), workers=2)
    assert [value for value, _ in results] == [0, 1, 4, 9, 16, 25]
    assert len({thread for _, thread in results[:2]}) == 2


def test_one_worker_runs_in_the_calling_thread() -> None:
    caller = threading.get_ident()
    assert map_fits(lambda _: threading.get_ident(), range(3), workers=1) == [caller] * 3


def test_workers_fit_with_the_callers_openmp_cap() -> None:
    # A new thread starts with the OpenMP default (every core), whatever the caller set.
    with native_thread_limit(1):
        assert map_fits(lambda _: _openmp_effective_n_threads(), range(4), workers=2) == [1] * 4


def test_errors_propagate_and_warning_filters_are_restored() -> None:
    before = list(warnings.filters)

    def fail(x: int) -> int:
        if x == 3:
            raise SegmentationError("refit 3 failed")
        return x

    with pytest.raises(SegmentationError, match="refit 3 failed"):
        map_fits(fail, range(5), workers=2)
    assert map_fits(fail, range(3), workers=2) == [0, 1, 2]
    assert warnings.filters == before
    with pytest.raises(SegmentationError, match="workers must be >= 1"):
        map_fits(fail, range(3), workers=0)


def test_fits_not_started_are_dropped_after_a_failure() -> None:
    started: list[int] = []

    def fit(x: int) -> int:
        started.append(x)
        if x == 0:
            raise SegmentationError("first fit failed")
        threading.Event().wait(0.01)
        return x

    with pytest.raises(SegmentationError, match="first fit failed"):
        map_fits(fit, range(200), workers=2)
    assert len(started) < 100  # the fits not yet started are cancelled, not run to the end


def test_run_beside_runs_both_at_once_and_returns_both_results() -> None:
    barrier = threading.Barrier(2, timeout=10)  # each side must be running while the other is

    def side(name: str) -> tuple[str, int]:
        barrier.wait()
        return name, threading.get_ident()

    (first, first_thread), (second, second_thread) = run_beside(
        lambda: side("background"), lambda: side("foreground")
    )
    assert (first, second) == ("background", "foreground")
    assert second_thread == threading.get_ident() != first_thread


def test_run_beside_gives_the_background_the_callers_openmp_cap() -> None:
    with native_thread_limit(1):
        assert run_beside(_openmp_effective_n_threads, _openmp_effective_n_threads) == (1, 1)


def test_run_beside_waits_for_both_before_raising() -> None:
    background_done = threading.Event()

    def slow_background() -> int:
        threading.Event().wait(0.2)
        background_done.set()
        return 1

    def failing_foreground() -> int:
        raise SegmentationError("window profiles failed")

    with pytest.raises(SegmentationError, match="window profiles failed"):
        run_beside(slow_background, failing_foreground)
    assert background_done.is_set()  # nothing still runs once the call has returned

    def failing_background() -> int:
        raise SegmentationError("refit failed")

    with pytest.raises(SegmentationError, match="refit failed"):
        run_beside(failing_background, lambda: 2)
