"""Where blocks run and how their partial sums are added.

An engine runs a pure block function (``_blocks``) over a list of blocks and
returns the totals of its partial sums in float64: each worker adds its share's
blocks in order, then the shares are added in order, so the grouping (and the
last bits of the result) depends on the number of workers. The
serial engine runs them in the calling thread; the thread engine splits the
blocks into contiguous, equal shares, one per thread, with BLAS limited to one
thread while any threaded evaluation is running. Engines for other places
(Dask workers, an array-API device) are new classes with the same two methods.

Threads: one pool per process, never larger than the CPUs this process may use
(``available_cpus``), made on first use and made anew in a child after
``fork`` (the parent's worker threads do not exist there). The BLAS limit is
reference-counted across concurrent fits, so the last one to finish restores the
limits that were in place before the first started.
"""

import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from joblib import cpu_count, effective_n_jobs
from joblib.parallel import get_active_backend
from threadpoolctl import ThreadpoolController


def available_cpus():
    """CPUs this process may use: affinity and cgroup quotas (joblib's ``cpu_count``),
    and ``OMP_NUM_THREADS`` where set, as joblib sets it inside its worker processes."""
    n = cpu_count(only_physical_cores=False)
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        n = min(n, int(omp))
    return max(1, n)


def resolve_threads(n_jobs, heavy):
    """Threads for a fit, from ``n_jobs`` (joblib's conventions; ``-2``: all CPUs but one).

    ``None``: all available CPUs where threads were measured to pay (``heavy``:
    sparse X or many classes, ``benchmarks/results/threads.md``), else one; and
    one inside a joblib worker, whose siblings already use the other CPUs.
    Always at most ``available_cpus()``.
    """
    cpus = available_cpus()
    if n_jobs is None:
        nested = getattr(get_active_backend()[0], "nesting_level", 0) or 0
        return cpus if heavy and nested == 0 else 1
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return max(1, min(int(effective_n_jobs(n_jobs)), cpus))


def _add(acc, partials):
    """Add a block's partial sums into ``acc`` (float64, owned), or start it."""
    if acc is None:
        return [p if isinstance(p, float) else np.asarray(p, dtype=np.float64) for p in partials]
    for i, p in enumerate(partials):
        acc[i] += p
    return acc


def _run_share(fn, blocks, kept, args, keep, add=_add):
    acc, new_kept = None, []
    for i, block in enumerate(blocks):
        out = fn(block, *args) if kept is None else fn(block, kept[i], *args)
        if keep:
            out, state = out
            new_kept.append(state)
        acc = add(acc, out)
        del out  # one block's arrays alive at a time
    return acc, new_kept


class SerialEngine:
    """Every block in the calling thread."""

    n_workers = 1

    def reduce(self, fn, blocks, *args, kept=None, keep=False):
        """Totals of ``fn(block, *args)`` (or ``fn(block, kept[i], *args)``) over ``blocks``.

        With ``keep``, ``fn`` returns ``(partials, state)`` and the result is
        ``(totals, [state per block])``: what a later call needs of each block
        (the probabilities for Hessian-vector products) stays with the engine.
        """
        totals, states = _run_share(fn, blocks, kept, args, keep)
        return (tuple(totals), states) if keep else tuple(totals)

    def running(self):
        """Context for a fit; nothing to set up here."""
        return contextlib.nullcontext()


class ThreadEngine(SerialEngine):
    """Contiguous equal shares of the blocks, one per thread of the process's pool."""

    def __init__(self, n_workers):
        self.n_workers = int(n_workers)

    def reduce(self, fn, blocks, *args, kept=None, keep=False):
        bounds = np.linspace(0, len(blocks), self.n_workers + 1).astype(int)
        shares = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        futures = [
            _pool().submit(_run_share, fn, blocks[s], None if kept is None else kept[s], args, keep)
            for s in shares
            if s.stop > s.start
        ]
        parts = [f.result() for f in futures]
        totals = parts[0][0]
        for acc, _ in parts[1:]:
            totals = _add(totals, acc)
        if keep:
            return tuple(totals), [state for _, states in parts for state in states]
        return tuple(totals)

    def running(self):
        """BLAS limited to one thread for the fit (see the module docstring)."""
        return _single_threaded_blas()


def make_engine(n_workers):
    return SERIAL if n_workers <= 1 else ThreadEngine(n_workers)


SERIAL = SerialEngine()

# -- the process's thread pool and BLAS limit -------------------------------------------
_lock = threading.Lock()
_state = {"pool": None, "blas_thread": None, "blas_users": 0, "blas_limiter": None}
# threadpoolctl's view of the loaded BLAS libraries, and len(sys.modules) when it was
# taken: finding the libraries costs about 3 ms, limiting them through a kept view
# 0.02 ms (a partial_fit call limits BLAS once). An import since may have loaded
# another library, so a changed module count takes a new view.
_controller = {"view": None, "modules": -1}


def _pool():
    with _lock:
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(
                max_workers=available_cpus(),
                thread_name_prefix="softmax_sk",
                initializer=_one_blas_thread_here,
            )
        return _state["pool"]


def _one_blas_thread_here():
    """In a new pool thread: one thread for BLAS libraries whose limit is per calling
    thread (OpenBLAS built with OpenMP), which a process-wide limit does not reach."""
    for lib in ThreadpoolController().select(internal_api="openblas").lib_controllers:
        if getattr(lib, "threading_layer", None) == "openmp":
            lib.set_num_threads(1)


def _on_blas_thread(fn):
    """Run ``fn`` on the one thread that sets and restores BLAS limits (under ``_lock``).

    OpenBLAS's pool is process-wide, and threadpoolctl lets only the thread
    that set a limit change it again until that thread gives the limit back:
    limits set by one fit's thread and restored by another's would stay.
    """
    if _state["blas_thread"] is None:
        _state["blas_thread"] = ThreadPoolExecutor(1, thread_name_prefix="softmax_sk_blas")
    return _state["blas_thread"].submit(fn).result()


def _limit_blas():
    if _controller["modules"] != len(sys.modules):
        _controller.update(view=ThreadpoolController(), modules=len(sys.modules))
    limiter = _controller["view"].limit(limits=1, user_api="blas")
    limiter.__enter__()  # as a `with` block would: its exit hands control back
    return limiter


@contextlib.contextmanager
def _single_threaded_blas():
    with _lock:
        if _state["blas_users"] == 0:
            _state["blas_limiter"] = _on_blas_thread(_limit_blas)
        _state["blas_users"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["blas_users"] -= 1
            if _state["blas_users"] == 0:
                limiter, _state["blas_limiter"] = _state["blas_limiter"], None
                _on_blas_thread(lambda: limiter.__exit__(None, None, None))


def single_threaded_blas():
    """BLAS limited to one thread while the context is open (reference-counted, as
    under a threaded fit): for many small products in a row, such as minibatch
    steps, where BLAS's threads cost more than they give (``_stochastic``)."""
    return _single_threaded_blas()


def _after_fork_in_child():
    """The parent's pool threads and any fit in flight do not exist in the child."""
    global _lock
    _lock = threading.Lock()
    limiter = _state["blas_limiter"]
    _state.update(pool=None, blas_thread=None, blas_users=0, blas_limiter=None)
    if limiter is not None:  # forked during a threaded fit: BLAS as before it
        limiter.__exit__(None, None, None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
