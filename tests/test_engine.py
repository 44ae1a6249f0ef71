"""The execution engines: the same totals wherever blocks run; threads bounded."""

import numpy as np
import pytest
from joblib import Parallel, delayed

from softmax_sk import _engine
from softmax_sk._engine import SERIAL, ThreadEngine, resolve_threads


def _partial(block, scale):
    return float(block.sum()) * scale, np.outer(block, block) * scale


def _partial_kept(block, scale):
    return _partial(block, scale), block.sum()


def _with_kept(block, kept, scale):
    return (kept * scale,)


@pytest.mark.parametrize("n_workers", [2, 3, 5])
def test_threads_give_the_serial_totals_and_keep_states_in_block_order(n_workers):
    rng = np.random.default_rng(0)
    blocks = [rng.normal(size=4) for _ in range(7)]
    f1, m1 = SERIAL.reduce(_partial, blocks, 2.0)
    engine = ThreadEngine(n_workers)
    f2, m2 = engine.reduce(_partial, blocks, 2.0)
    assert f2 == pytest.approx(f1, rel=1e-14)
    np.testing.assert_allclose(m2, m1, rtol=1e-14)
    assert m2.dtype == np.float64
    (totals, kept) = engine.reduce(_partial_kept, blocks, 2.0, keep=True)
    np.testing.assert_allclose(kept, [b.sum() for b in blocks])
    (again,) = engine.reduce(_with_kept, blocks, 3.0, kept=kept)
    assert again == pytest.approx(3.0 * sum(b.sum() for b in blocks))


def test_resolve_threads_follows_joblib_conventions_and_is_bounded(monkeypatch):
    monkeypatch.setattr(_engine, "available_cpus", lambda: 4)
    assert resolve_threads(None, heavy=True) == 4
    assert resolve_threads(None, heavy=False) == 1
    assert resolve_threads(-1, heavy=False) == 4
    assert resolve_threads(-2, heavy=False) == 3
    assert resolve_threads(-10, heavy=False) == 1
    assert resolve_threads(3, heavy=False) == 3
    assert resolve_threads(10**6, heavy=False) == 4


def test_inside_a_joblib_worker_the_default_is_one_thread(monkeypatch):
    monkeypatch.setattr(_engine, "available_cpus", lambda: 4)
    inner = Parallel(n_jobs=2, backend="threading")(
        delayed(resolve_threads)(None, True) for _ in range(2)
    )
    assert inner == [1, 1]


def test_omp_num_threads_caps_the_cpus(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _engine.available_cpus() == 1


_AFTER_A_THREADED_FIT = """
import json
import numpy as np
import threadpoolctl
from softmax_sk import SoftmaxRegressionClassifier

def blas():
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

rng = np.random.default_rng(0)
X, y = rng.normal(size=(30000, 5)), rng.integers(0, 3, 30000)
before = blas()
SoftmaxRegressionClassifier(n_jobs=2, max_iter=3).fit(X, y)
after = blas()
with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
    inside = blas()
print(json.dumps({"before": before, "after": after, "inside": inside, "restored": blas()}))
"""


def test_the_process_can_limit_blas_itself_after_a_threaded_fit():
    """The fit gives threadpoolctl's control of OpenBLAS back: a user's (or
    scikit-learn's) own limit still takes effect afterwards."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", _AFTER_A_THREADED_FIT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    if not seen["before"] or max(seen["before"]) < 2:
        pytest.skip(f"no BLAS with several threads to observe: {seen['before']}")
    assert seen["after"] == seen["before"] == seen["restored"]
    assert seen["inside"] == [1] * len(seen["before"])


def test_pool_threads_limit_per_thread_blas(monkeypatch):
    """OpenBLAS built with OpenMP takes limits per calling thread: each pool thread
    sets its own to one."""
    import threading

    calls = []

    class FakeLib:
        threading_layer = "openmp"

        def set_num_threads(self, n):
            calls.append((threading.current_thread().name, n))

    class FakeController:
        def select(self, **kwargs):
            assert kwargs == {"internal_api": "openblas"}
            return type("Selected", (), {"lib_controllers": [FakeLib()]})()

    monkeypatch.setattr(_engine, "ThreadpoolController", FakeController)
    monkeypatch.setitem(_engine._state, "pool", None)  # a fresh pool for this test
    try:
        ThreadEngine(2).reduce(_partial, [np.ones(3)] * 4, 1.0)
        assert calls and all(name.startswith("softmax_sk") and n == 1 for name, n in calls)
    finally:
        _engine._state["pool"].shutdown()
