import json
import os

# scikit-learn's array API dispatch (tests/test_array_api.py and its estimator checks)
# needs SciPy's array API support, which SciPy reads when it is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from sklearn.datasets import make_classification


def make_problem(n_classes, n_samples=400, n_features=8, seed=0, n_redundant=1):
    """A noisy (non-separable) classification problem with standardised-ish features."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=6,
        n_redundant=n_redundant,
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=0.15,
        class_sep=0.8,
        random_state=seed,
    )
    return X, y


def assert_hessp_matches_differences(loss, w, directions=3):
    """``gradient_hessp`` at ``w``: its value and gradient are ``loss_gradient``'s, and its
    Hessian-vector products central differences of the gradient along random directions."""
    f, g, hessp = loss.gradient_hessp(w)
    f2, g2 = loss.loss_gradient(w)
    assert f == pytest.approx(f2, rel=1e-14)
    np.testing.assert_allclose(g, g2, rtol=1e-13, atol=1e-15)
    rng = np.random.default_rng(1)
    eps = 1e-5
    for _ in range(directions):
        v = rng.normal(size=w.size)
        fd = (loss.loss_gradient(w + eps * v)[1] - loss.loss_gradient(w - eps * v)[1]) / (2 * eps)
        np.testing.assert_allclose(hessp(v), fd, rtol=1e-6, atol=1e-9)


def run_notebook(path, after_cell=None):
    """Run a notebook's code cells in order in one namespace and return it; the notebook
    must be committed without outputs. ``after_cell(i)``, if given, runs after cell ``i``."""
    nb = json.loads(path.read_text())
    assert nb["nbformat"] == 4
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert cells, f"{path.name} has no code"
    stale = [i for i, c in enumerate(cells) if c["outputs"] or c["execution_count"] is not None]
    assert not stale, f"{path.name}: code cells {stale} are committed with outputs; clear them"
    namespace = {"__name__": "__main__"}
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        try:
            exec(compile(source, f"{path.name} cell {i}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"code cell {i} failed:\n{source}") from error
        if after_cell is not None:
            after_cell(i)
    return namespace


def reference_objective(W, b, X, y, s, C, l1_ratio, grouped=False):
    """scikit-learn's objective ``C sum_i s_i CE_i + (1 - r)/2 ||W||^2 + r P(W)``, from its
    definition (``P``: ``||W||_1``, or ``sum_j ||W[:, j]||_2`` when ``grouped``), and the
    gradient of its smooth part (all but ``r P``) in ``W`` and in ``b``.

    ``W`` has one row per free class; one row means two classes, class 0's logit fixed at 0.
    """
    from scipy.special import logsumexp
    from scipy.special import softmax as softmax_

    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=np.float64)
    Z = X @ W.T + b
    reference = W.shape[0] == 1
    if reference:
        Z = np.column_stack([np.zeros(len(X)), Z])
    n, K = Z.shape
    ce = logsumexp(Z, axis=1) - Z[np.arange(n), y]
    R = s[:, None] * (softmax_(Z, axis=1) - np.eye(K)[y])
    if reference:
        R = R[:, 1:]
    P = np.linalg.norm(W, axis=0).sum() if grouped else np.abs(W).sum()
    f = C * s @ ce + (1 - l1_ratio) / 2 * np.sum(W**2) + l1_ratio * P
    return f, C * R.T @ X + (1 - l1_ratio) * W, C * R.sum(axis=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_report_header(config):
    from softmax_sk import _softmax

    flags = [
        f"{name}={os.environ[name]}"
        for name in ("SOFTMAX_SK_NO_KERNELS", "SOFTMAX_SK_REQUIRE_KERNELS")
        if name in os.environ
    ]
    return f"softmax_sk compiled kernels: {_softmax._kernels_status()}" + (
        f" [{', '.join(flags)}]" if flags else ""
    )
