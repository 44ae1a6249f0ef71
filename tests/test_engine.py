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
