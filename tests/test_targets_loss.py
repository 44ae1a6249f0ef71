"""The data term with probability targets, label smoothing and offsets, against references.

Value against an explicit formula (scipy's logsumexp on explicit logits, and
the closed form of PyTorch's label-smoothed cross-entropy), gradient, Hessian
diagonal and Hessian-vector product against central finite differences; dense,
CSR and CSC X, weights, intercepts, two classes and more; many blocks, threads
and the numpy fallback against the default.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_hessp_matches_differences
from scipy.special import logsumexp as scipy_logsumexp
from sklearn.metrics import log_loss

import softmax_sk._softmax as softmax_module
from softmax_sk._layout import Layout
from softmax_sk._loss import SoftmaxLoss

CASES = [
    # n_classes, fit_intercept, weighted, matrix format, target kind, offset
    (2, True, True, "dense", "proba", True),
    (2, False, False, "csr", "smooth", True),
    (2, True, True, "dense", "smooth", False),
    (3, True, True, "csr", "proba", True),
    (3, False, True, "dense", "smooth", True),
    (4, True, False, "csc", "proba", False),
    (5, True, True, "csr", "smooth", False),
    (3, True, True, "dense", "labels", True),
]
EPS = 0.15


def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def _problem(n_classes, fit_intercept, weighted, fmt, kind, with_offset, n=400, d=5, seed=0):
    """``(loss, w, X, T, sw, offset)``: T the (n, K) targets the loss should be fitted to."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if fmt != "dense":
        X[rng.random(X.shape) < 0.6] = 0.0
        X = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    y = rng.integers(0, n_classes, size=n)
    onehot = np.eye(n_classes)[y]
    sw = rng.uniform(0.1, 3.0, size=n) if weighted else np.ones(n)
    offset = rng.normal(size=(n, n_classes)) if with_offset else None
    layout = Layout(d, n_classes, fit_intercept)
    if kind == "proba":
        T = rng.dirichlet(np.ones(n_classes), size=n)
        T[: n // 10] = onehot[: n // 10]  # some rows certain: zeros in the targets
        loss = SoftmaxLoss(X, T, sw, layout, offset=offset)
    elif kind == "smooth":
        T = (1 - EPS) * onehot + EPS / n_classes
        loss = SoftmaxLoss(X, y, sw, layout, offset=offset, label_smoothing=EPS)
    else:
        T = onehot
        loss = SoftmaxLoss(X, y, sw, layout, offset=offset)
    w = rng.normal(size=layout.size)
    return loss, w, X, T, sw, offset


def _reference_loss(X, T, sw, offset, w, layout):
    """``sum_i s_i sum_k t_ik (logsumexp(z_i) - z_ik) / sum_i s_i`` on explicit logits."""
    W = w.reshape(layout.n_dof, layout.k)
    z = _dense(X) @ W[: layout.n_features] + (W[-1] if layout.fit_intercept else 0.0)
    if layout.reference:
        z = np.column_stack([np.zeros(z.shape[0]), z])
    if offset is not None:
        z = z + offset
    ce = (T * (scipy_logsumexp(z, axis=1)[:, None] - z)).sum(axis=1)
    return float(np.sum(sw * ce) / np.sum(sw))


def _central(f, w, eps):
    out = []
    for j in range(w.size):
        e = np.zeros_like(w)
        e[j] = eps
        out.append((f(w + e) - f(w - e)) / (2 * eps))
    return np.array(out)


@pytest.mark.parametrize("case", CASES)
def test_loss_matches_explicit_cross_entropy(case):
    loss, w, X, T, sw, offset = _problem(*case)
    expected = _reference_loss(X, T, sw, offset, w, loss.layout)
    assert loss.loss(w) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradient_against_central_differences(case):
    loss, w, *_ = _problem(*case)
    _, g = loss.loss_gradient(w)
    np.testing.assert_allclose(g, _central(loss.loss, w, 1e-6), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", CASES)
def test_hessp_against_central_differences_of_gradient(case):
    loss, w, *_ = _problem(*case)
    assert_hessp_matches_differences(loss, w, directions=2)


@pytest.mark.parametrize("case", CASES)
def test_hessian_diagonal_at_zero_and_at_w(case):
    """With an offset the probabilities at 0 are not 1/K: the preconditioner must know."""
    loss, w, *_ = _problem(*case)
    for at, given in ((np.zeros_like(w), None), (w, w)):
        fd = _central(lambda v, at=at: loss.loss_gradient(v)[1], at, 1e-5)
        np.testing.assert_allclose(loss.hessian_diagonal(given), np.diag(fd), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_label_smoothing_equals_pytorch_closed_form(n_classes, weighted):
    """PyTorch documents CrossEntropyLoss(label_smoothing=eps) as the cross-entropy against
    ``(1 - eps) * onehot + eps / C`` (https://pytorch.org/docs/stable/generated/
    torch.nn.CrossEntropyLoss.html), i.e. per sample
    ``(1 - eps) * (-log p_y) + eps / C * sum_c (-log p_c)``; with reduction='sum' and
    sample weights folded in, divided by the total weight, it is our data term.
    """
    logits = np.array([[1.0, 2.0, -0.5], [0.3, -1.2, 2.2], [-2.0, 0.0, 0.7], [0.0, 0.0, 0.0]])
    logits = logits[:, :n_classes] if n_classes == 3 else logits[:, 1:2]
    y = np.array([2, 0, 1, 0]) % n_classes
    sw = np.array([1.0, 2.5, 0.5, 3.0]) if weighted else np.ones(4)
    eps = 0.2
    # X = identity and no intercept: the stored logits are the coefficients.
    X = np.eye(4)
    loss = SoftmaxLoss(X, y, sw, Layout(4, n_classes, False), label_smoothing=eps)
    z = logits if n_classes == 3 else np.column_stack([np.zeros(4), logits])  # reference: 0
    # the closed form, by hand: log p_c = z_c - log sum_j exp z_j
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    per_row = (1 - eps) * -log_p[np.arange(4), y] + eps / n_classes * -log_p.sum(axis=1)
    expected = np.sum(sw * per_row) / sw.sum()
    assert loss.loss(logits.ravel()) == pytest.approx(expected, rel=1e-13)
    torch = pytest.importorskip("torch")
    value = torch.nn.functional.cross_entropy(
        torch.tensor(z), torch.tensor(y), label_smoothing=eps, reduction="none"
    ).numpy()
    assert loss.loss(logits.ravel()) == pytest.approx(np.sum(sw * value) / sw.sum(), rel=1e-12)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_one_hot_targets_give_scikit_learns_log_loss(n_classes):
    """One-hot ``y_proba`` rows: the value is log-loss, the same as with labels (not KL)."""
    loss, w, X, T, sw, _ = _problem(n_classes, True, True, "dense", "labels", False)
    onehot = SoftmaxLoss(X, T, sw, loss.layout)
    W = w.reshape(loss.layout.n_dof, loss.layout.k)
    z = X @ W[:-1] + W[-1]
    if n_classes == 2:
        z = np.column_stack([np.zeros(len(z)), z])
    p = np.exp(z - scipy_logsumexp(z, axis=1, keepdims=True))
    expected = log_loss(T.argmax(axis=1), p, sample_weight=sw, labels=np.arange(n_classes))
    assert onehot.loss(w) == pytest.approx(expected, rel=1e-12)
    assert onehot.loss(w) == pytest.approx(loss.loss(w), rel=1e-14)
    np.testing.assert_allclose(onehot.loss_gradient(w)[1], loss.loss_gradient(w)[1], atol=1e-15)


@pytest.mark.parametrize("kind", ["proba", "smooth"])
def test_blocks_threads_and_numpy_fallback_agree(monkeypatch, kind):
    """Small blocks on two threads, and the numpy softmax, give the one-block sums."""
    import softmax_sk._loss as mod

    loss, w, X, T, sw, offset = _problem(4, True, True, "csr", kind, True, n=1500)
    v = np.random.default_rng(5).normal(size=w.size)
    f1, g1, hessp1 = loss.gradient_hessp(w)
    y = T if kind == "proba" else T.argmax(axis=1)
    smoothing = EPS if kind == "smooth" else 0.0
    monkeypatch.setattr(mod, "_BLOCK_BYTES", 64)
    monkeypatch.setattr(mod, "_MIN_BLOCK_ROWS", 3)
    small = SoftmaxLoss(
        X, y, sw, loss.layout, n_threads=2, offset=offset, label_smoothing=smoothing
    )
    assert len(small.blocks) > 20 and small.engine.n_workers == 2
    f2, g2, hessp2 = small.gradient_hessp(w)
    assert f2 == pytest.approx(f1, rel=1e-13)
    np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hessp2(v), hessp1(v), rtol=1e-12, atol=1e-15)
    monkeypatch.setattr(softmax_module, "_kernels", None)
    f3, g3, hessp3 = loss.gradient_hessp(w)
    assert f3 == pytest.approx(f1, rel=1e-13)
    np.testing.assert_allclose(g3, g1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hessp3(v), hessp1(v), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(loss.hessian_diagonal(None), small.hessian_diagonal(None))


def test_float32_targets_and_offsets_stay_float32():
    loss, w, X, T, sw, offset = _problem(3, True, True, "dense", "proba", True)
    X32 = X.astype(np.float32)
    loss32 = SoftmaxLoss(X32, T, sw, loss.layout, offset=offset)
    block = loss32.blocks[0]
    assert block.targets.dtype == block.offset.dtype == np.float32
    f32, g32 = loss32.loss_gradient(w)
    f64, g64 = loss.loss_gradient(w)
    assert f32 == pytest.approx(f64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_minibatch_gradient_difference_from_the_anchors_probabilities(case):
    """SVRG's correction as ``_stochastic`` takes it: the anchor's kept probabilities,
    rescaled to a minibatch's weights, give ``grad_B(w) - grad_B(v)`` of the minibatch's
    mean cross-entropy (central differences of the explicit loss on those rows)."""
    from softmax_sk._blocks import Block, gradient_difference
    from softmax_sk._loss import stored_offset

    loss, w, X, T, sw, offset = _problem(*case)
    layout = loss.layout
    v = w + np.random.default_rng(1).normal(scale=0.3, size=w.size)
    _, _, kept_v = loss.loss_gradient_probabilities(v)
    rows = np.sort(np.random.default_rng(2).choice(X.shape[0], 50, replace=False))
    X_rows = sp.csr_matrix(X)[rows] if sp.issparse(X) else X[rows]
    s = sw[rows]
    offset_rows = None if offset is None else offset[rows]
    block = Block(X_rows, None, s / s.sum(), None, offset=stored_offset(offset_rows, layout, float))
    kept = kept_v[rows] * (sw.sum() / s.sum())
    (diff,) = gradient_difference(block, *layout.split(w), kept, layout.reference)

    def rows_loss(u):
        return _reference_loss(X_rows, T[rows], s, offset_rows, u, layout)

    expected = _central(rows_loss, w, 1e-6) - _central(rows_loss, v, 1e-6)
    np.testing.assert_allclose(diff.ravel(), expected, rtol=1e-6, atol=1e-8)
