"""The data term's gradient and Hessian-vector product against central finite differences."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_hessp_matches_differences
from scipy.special import logsumexp as scipy_logsumexp

from softmax_sk import _blocks
from softmax_sk._layout import Layout
from softmax_sk._loss import SoftmaxLoss

CASES = [
    # n_classes, fit_intercept, weighted, matrix format
    (2, True, False, "dense"),
    (2, False, True, "dense"),
    (3, True, True, "dense"),
    (3, False, False, "fortran"),
    (5, True, True, "csr"),
    (4, False, True, "csc"),
    (3, True, False, "csr"),
]


def _problem(n_classes, fit_intercept, weighted, fmt, n=700, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if fmt in ("csr", "csc"):
        X[rng.random(X.shape) < 0.6] = 0.0
        X = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    elif fmt == "fortran":
        X = np.asfortranarray(X)
    y = rng.integers(0, n_classes, size=n)
    sw = rng.uniform(0.1, 3.0, size=n) if weighted else np.ones(n)
    loss = SoftmaxLoss(X, y, sw, Layout(d, n_classes, fit_intercept))
    w = rng.normal(size=loss.layout.size)
    return loss, w, X, y, sw


def _reference_loss(X, y, sw, w, loss):
    """Independent mean cross-entropy from scipy's logsumexp on explicit logits."""
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
    layout = loss.layout
    W = w.reshape(layout.n_dof, layout.k)
    z = Xd @ W[: layout.n_features] + (W[-1] if layout.fit_intercept else 0.0)
    if layout.reference:
        z = np.column_stack([np.zeros(len(y)), z])
    ce = scipy_logsumexp(z, axis=1) - z[np.arange(len(y)), y]
    return float(np.sum(sw * ce) / np.sum(sw))


@pytest.mark.parametrize("case", CASES)
def test_loss_matches_independent_formula(case):
    loss, w, X, y, sw = _problem(*case)
    np.testing.assert_allclose(loss.loss(w), _reference_loss(X, y, sw, w, loss), rtol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradient_against_central_differences(case):
    loss, w, *_ = _problem(*case)
    _, g = loss.loss_gradient(w)
    eps = 1e-6
    fd = np.empty_like(w)
    for j in range(w.size):
        e = np.zeros_like(w)
        e[j] = eps
        fd[j] = (loss.loss(w + e) - loss.loss(w - e)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("at_zero", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_hessian_diagonal_against_central_differences(case, at_zero, monkeypatch):
    """The preconditioner: d/dw_j of the gradient's entry j, by differences, at 0 and at w."""
    # Dense blocks square their rows a few at a time: make that more than one chunk.
    monkeypatch.setattr(_blocks, "SQUARE_BYTES", 2**10)
    loss, w, *_ = _problem(*case)
    at = np.zeros_like(w) if at_zero else w
    eps = 1e-5
    fd = np.empty_like(w)
    for j in range(w.size):
        e = np.zeros_like(w)
        e[j] = eps
        fd[j] = (loss.loss_gradient(at + e)[1][j] - loss.loss_gradient(at - e)[1][j]) / (2 * eps)
    np.testing.assert_allclose(loss.hessian_diagonal(at), fd, rtol=1e-6, atol=1e-10)
    if at_zero:
        np.testing.assert_allclose(loss.hessian_diagonal(None), fd, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_hessp_against_central_differences_of_gradient(case):
    loss, w, *_ = _problem(*case)
    assert_hessp_matches_differences(loss, w)


def test_blocks_do_not_change_the_result(monkeypatch):
    """Many small row blocks give the same sums and products as a single block."""
    import softmax_sk._loss as mod

    loss, w, X, y, sw = _problem(4, True, True, "csr", n=1000)
    v = np.random.default_rng(5).normal(size=w.size)
    f1, g1, hessp1 = loss.gradient_hessp(w)
    monkeypatch.setattr(mod, "_BLOCK_BYTES", 64)
    monkeypatch.setattr(mod, "_MIN_BLOCK_ROWS", 3)
    small = SoftmaxLoss(X, y, sw, loss.layout)
    assert len(small.blocks) > 50  # CSR blocks keep >= n_features * k / (nnz per row) rows
    f2, g2, hessp2 = small.gradient_hessp(w)
    assert f1 == pytest.approx(f2, rel=1e-13)
    assert small.loss(w) == pytest.approx(f1, rel=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hessp1(v), hessp2(v), rtol=1e-12, atol=1e-15)


def test_float32_data_is_computed_in_float32_without_copy():
    loss, w, X, y, sw = _problem(3, True, True, "dense")
    X32 = np.asarray(X, dtype=np.float32)
    loss32 = SoftmaxLoss(X32, y, sw, loss.layout)
    assert all(np.shares_memory(block.X, X32) for block in loss32.blocks)
    f64, g64 = loss.loss_gradient(w)
    f32, g32 = loss32.loss_gradient(w)
    assert f32 == pytest.approx(f64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_threads_give_the_same_sums_as_one_thread(monkeypatch, fmt):
    import softmax_sk._loss as mod

    monkeypatch.setattr(mod, "_BLOCK_BYTES", 512)
    loss, w, X, y, sw = _problem(3, True, True, fmt, n=2000)
    threaded = SoftmaxLoss(X, y, sw, loss.layout, n_threads=2)
    assert loss.engine.n_workers == 1 and threaded.engine.n_workers == 2
    assert len(loss.blocks) > 4
    v = np.random.default_rng(6).normal(size=w.size)
    f1, g1, h1 = loss.gradient_hessp(w)
    with threaded.running():
        f2, g2, h2 = threaded.gradient_hessp(w)
        assert threaded.loss(w) == pytest.approx(f1, rel=1e-13)
        np.testing.assert_allclose(threaded.loss_gradient(w)[1], g1, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(h2(v), h1(v), rtol=1e-12, atol=1e-15)
    assert f2 == pytest.approx(f1, rel=1e-13)
    np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)


def test_threads_share_the_rows_evenly(monkeypatch):
    """Each thread gets a contiguous share of the rows of (almost) equal size."""
    import softmax_sk._loss as mod

    monkeypatch.setattr(mod, "_BLOCK_BYTES", 8 * 3 * 300)  # 300 rows a block at k=3
    monkeypatch.setattr(mod, "_MIN_BLOCK_ROWS", 1)
    _, _, X, y, sw = _problem(3, True, True, "dense", n=1000)
    loss = SoftmaxLoss(X, y, sw, Layout(X.shape[1], 3, True), n_threads=2)
    rows = [block.X.shape[0] for block in loss.blocks]  # the engine halves the list
    assert len(rows) % 2 == 0 and sum(rows[: len(rows) // 2]) == 500 and sum(rows) == 1000
    assert max(rows) <= 300 and max(rows) - min(rows) <= 1


def _sparse_rows(n, d, k, per_row, rng):
    """CSR rows of ``per_row`` ones each in ``d`` columns, and labels of ``k`` classes."""
    cols = rng.integers(0, d, size=n * per_row)
    X = sp.csr_matrix((np.ones(n * per_row), cols, np.arange(0, n * per_row + 1, per_row)), (n, d))
    return X, rng.integers(0, k, size=n)


def test_sparse_blocks_outweigh_their_dense_gradient_term():
    """A CSR block adds a dense n_features x k array to the gradient: it must hold enough
    non-zeros (at least n_features * k) to be worth that."""
    n, d, k = 60_000, 1_000, 20
    X, y = _sparse_rows(n, d, k, 10, np.random.default_rng(0))
    loss = SoftmaxLoss(X, y, np.ones(n), Layout(d, k, True))
    assert len(loss.blocks) >= 3  # else the check below ranges over nothing
    assert all(block.X.nnz >= 0.9 * d * k for block in loss.blocks)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_blocks_at_many_classes_are_capped(monkeypatch, fmt):
    """At many classes the rule above can ask for every row in one block (here 2,000
    features x 100 classes / 3 non-zeros a row = 66,667 rows): blocks stop at
    ``_MAX_SPARSE_BLOCK_BYTES`` of logits (patched to 1,000 rows' worth here), with the
    same loss and gradient. CSC rows are taken from a CSR copy, smaller than one block's
    logits here."""
    import softmax_sk._loss as mod

    rng = np.random.default_rng(0)
    n, d, k = 4000, 2000, 100
    X, y = _sparse_rows(n, d, k, 3, rng)
    whole = SoftmaxLoss(X, y, np.ones(n), Layout(d, k, True))
    assert len(whole.blocks) == 1
    monkeypatch.setattr(mod, "_MAX_SPARSE_BLOCK_BYTES", 8 * k * 1000)
    capped = SoftmaxLoss(X.asformat(fmt), y, np.ones(n), Layout(d, k, True))
    assert [block.X.shape[0] for block in capped.blocks] == [1000] * 4
    assert all(block.X.format == "csr" for block in capped.blocks)
    w = rng.normal(size=whole.layout.size) * 0.1
    f1, g1 = whole.loss_gradient(w)
    f2, g2 = capped.loss_gradient(w)
    assert f2 == pytest.approx(f1, rel=1e-13)
    np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)


def test_csc_rows_stay_one_block_where_a_copy_would_outweigh_it(monkeypatch):
    """Two classes (one stored column of logits), 3 non-zeros a row: a CSR copy (12 bytes
    a non-zero) would take more than the 8 bytes a row of one block's logits, so CSC X is
    one block where CSR X is cut (``_BLOCK_BYTES`` patched to 256 rows' worth)."""
    import softmax_sk._loss as mod

    monkeypatch.setattr(mod, "_BLOCK_BYTES", 8 * 256)
    n, d = 4000, 2000
    X, y = _sparse_rows(n, d, 2, 3, np.random.default_rng(0))
    assert len(SoftmaxLoss(X, y, np.ones(n), Layout(d, 2, True)).blocks) > 1
    (block,) = SoftmaxLoss(X.tocsc(), y, np.ones(n), Layout(d, 2, True)).blocks
    assert block.X.format == "csc"


@pytest.mark.parametrize("method", ["loss", "loss_gradient", "gradient_hessp", "hessp"])
def test_one_block_of_logits_is_alive_at_a_time(method):
    # With many classes the logits of a block dwarf everything else an evaluation
    # holds: 256 rows x 512 classes in float64 is 1 MiB, the coefficients 84 KiB.
    import tracemalloc

    rng = np.random.default_rng(0)
    n, d, k = 2048, 20, 512
    X, y = rng.normal(size=(n, d)), rng.integers(0, k, size=n)
    loss = SoftmaxLoss(X, y, np.ones(n), Layout(d, k, True))
    block = 8 * k * loss.blocks[0].X.shape[0]
    assert len(loss.blocks) > 2 and block >= 2**20
    w = rng.normal(size=loss.layout.size) * 0.01
    kept = loss.gradient_hessp(w)[2] if method == "hessp" else None  # keeps s p, n x k
    call = {
        "loss": lambda: loss.loss(w),
        "loss_gradient": lambda: loss.loss_gradient(w),
        "gradient_hessp": lambda: loss.gradient_hessp(w),
        "hessp": lambda: kept(w),
    }[method]
    tracemalloc.start()
    try:
        held = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    # What the result keeps (gradient_hessp: the weighted probabilities, n x k) is
    # not working memory; what remains is at most one block and coefficient-sized
    # buffers, well under two blocks.
    result_bytes = 8 * n * k if method == "gradient_hessp" else 0
    assert result is not None
    assert peak - result_bytes < 1.5 * block


@pytest.mark.parametrize("case", CASES)
def test_block_functions_over_chunks_from_outside_give_the_whole(case):
    """A worker that holds only its own chunk of rows (its X, labels and weights,
    normalised by the whole data's total) runs the pure block functions; the
    partial sums added up are the whole data's loss, gradient and Hessian-vector
    product, to 1e-12."""
    loss, w, X, y, sw = _problem(*case)
    layout = loss.layout
    rng = np.random.default_rng(7)
    v = rng.normal(size=w.size)
    cuts = np.r_[0, np.sort(rng.choice(np.arange(1, y.size), size=4, replace=False)), y.size]
    Xr = X.tocsr() if sp.issparse(X) else X  # a worker's chunk of CSC rows arrives as CSR
    s = sw / sw.sum()
    chunks = [
        _blocks.Block(Xr[a:b], (y[a:b] - layout.reference).astype(np.intp), s[a:b], 1.0 / s[a:b])
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    coef, intercept = layout.split(w)
    v_coef, v_intercept = layout.split(v)
    f = g = hv = 0.0
    for chunk in chunks:
        (value, grad), kept = _blocks.loss_gradient_kept(chunk, coef, intercept, layout.reference)
        f, g = f + value, g + grad.ravel()
        hv = hv + _blocks.hessp(chunk, kept, v_coef, v_intercept)[0].ravel()
    f_whole, g_whole, hessp = loss.gradient_hessp(w)
    assert f == pytest.approx(f_whole, rel=1e-12)
    assert f == pytest.approx(_reference_loss(X, y, sw, w, loss), rel=1e-12)
    np.testing.assert_allclose(g, g_whole, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hv, hessp(v), rtol=1e-12, atol=1e-14)
