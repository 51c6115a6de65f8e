"""Independent k-means fits run side by side in threads, with results that do not depend on how many.

The fits that choose k and the robustness refits are many small k-means fits of at most a few ten
thousand rows. One fit gains nothing from native threads (see
:func:`~segmentation_assets.robustness.native_thread_limit`), but two fits at once use two cores:
scikit-learn's k-means releases the GIL in its compiled loops. Every task gets its inputs and seed
before any runs, and each fit keeps the native thread count of the caller, so the results are the
same, bit for bit, with one worker or several.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

from segmentation_assets.segmentation.features import SegmentationError

Item = TypeVar("Item")
Result = TypeVar("Result")
Params = ParamSpec("Params")


def _caller_openmp_threads() -> int | None:
    """OpenMP threads a parallel region started from this thread would use (None: no OpenMP)."""
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "openmp"]
    return min(counts) if counts else None


def _with_callers_openmp_threads(fn: Callable[Params, Result]) -> Callable[Params, Result]:
    """``fn`` for another thread, with this thread's OpenMP thread count: OpenMP's count is a
    per-thread setting, and a new thread starts at the library default (every core)."""
    threads = _caller_openmp_threads()
    if threads is None:
        return fn

    def run(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with threadpool_limits(limits=threads, user_api="openmp"):
            return fn(*args, **kwargs)

    return run


def map_fits(fn: Callable[[Item], Result], items: Iterable[Item], workers: int = 1) -> list[Result]:
    """``[fn(item) for item in items]``, with up to ``workers`` calls running at once, in order.

    Each worker fits with the caller's OpenMP thread count (:func:`_with_callers_openmp_threads`),
    not the library default of every core. The BLAS limit is process-wide and holds in the workers as it is. The fits silence k-means'
    ConvergenceWarning with ``warnings.catch_warnings``, which is not thread-safe: concurrent ones
    can restore each other's filters. The pool silences it around all of them instead, and restores
    the caller's filters when they are done.
    """
    if workers < 1:
        raise SegmentationError(f"workers must be >= 1, got {workers}")
    tasks = list(items)
    if workers == 1 or len(tasks) <= 1:
        return [fn(item) for item in tasks]
    run = _with_callers_openmp_threads(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with ThreadPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            return list(pool.map(run, tasks))


First = TypeVar("First")
Second = TypeVar("Second")


def run_beside(
    background: Callable[[], First], foreground: Callable[[], Second]
) -> tuple[First, Second]:
    """``(background(), foreground())``: the first on a second thread, the second on this one.

    For work that leaves a core idle while other work waits for it: the robustness stage builds its
    window profiles (DuckDB and single-threaded Python) while its k-means refits run. The second
    thread takes this thread's OpenMP thread count, as :func:`map_fits`' workers do. Both always run
    to the end; an exception of either is raised once both are done (the foreground's if both fail).
    """
    run = _with_callers_openmp_threads(background)
    # Leaving the pool waits for the background, also when the foreground failed: no fit outlives
    # the call.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(run)
        second = foreground()
        return pending.result(), second
