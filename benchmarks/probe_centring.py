"""Probe: the solvers with and without centred steps (prints two tables).

    python benchmarks/probe_centring.py

Features as they come (breast cancer, digits 0-16, wine, iris) and ``make_classification``
(3,000 rows, 3 classes) with its features scaled by 1e-2..1e2 and shifted by -300..300,
``C=1``: the relative objective gap ``(F - F*) / F*`` of ``fit(solver="sgd")`` after 20
and 50 epochs (``F*`` from ``newton-cg`` at ``tol=1e-10``), and of 2 epochs of
``partial_fit`` over 4 shuffled chunks (its gap to ``F*`` of twice ``C``: a stream reads
``C`` per weight seen, so the second pass aims there). The second table: iterations and
data passes of ``lbfgs`` and ``newton-cg`` at the default ``tol`` (at most 3,000
iterations). "plain" replaces ``feature_mean`` by one that never centres: the steps of
0.5.1. Figures quoted in ``benchmarks/results/notes.md``.
"""

import contextlib
import warnings

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)

from softmax_sk import SoftmaxRegressionClassifier, _estimator, _stochastic


def _problems():
    X, y = make_classification(3000, 20, n_informative=10, n_classes=3, random_state=0)
    scales = np.logspace(-2, 2, X.shape[1])
    yield "shifted_3000_20", X * scales + np.linspace(-300, 300, X.shape[1]), y
    for name, load in (
        ("breast_cancer", load_breast_cancer),
        ("digits", load_digits),
        ("wine", load_wine),
        ("iris", load_iris),
    ):
        yield name, *load(return_X_y=True)


def _objective(model, X, y, C):
    p = model.predict_proba(X)[np.arange(len(y)), np.searchsorted(model.classes_, y)]
    return -C * np.sum(np.log(p)) + 0.5 * np.sum(model.coef_**2)


def _optimum(X, y, C):
    model = SoftmaxRegressionClassifier(C=C, solver="newton-cg", tol=1e-10, max_iter=1000)
    return _objective(model.fit(X, y), X, y, C)


@contextlib.contextmanager
def _plain():
    modules = (_stochastic, _estimator)
    saved = [module.feature_mean for module in modules]
    for module in modules:
        module.feature_mean = lambda *args: None
    try:
        yield
    finally:
        for module, centring in zip(modules, saved, strict=True):
            module.feature_mean = centring


def _gaps(X, y, optima):
    out = []
    for epochs in (20, 50):
        model = SoftmaxRegressionClassifier(solver="sgd", max_iter=epochs, random_state=0)
        model.fit(X, y)
        out.append((_objective(model, X, y, 1.0) - optima[1]) / optima[1])
    model = SoftmaxRegressionClassifier(solver="sgd", random_state=0)
    rng = np.random.default_rng(0)
    for _ in range(2):
        for chunk in np.array_split(rng.permutation(len(y)), 4):
            model.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
    out.append((_objective(model, X, y, 2.0) - optima[2]) / optima[2])
    return out


def _batch(X, y):
    cells = []
    for solver in ("lbfgs", "newton-cg"):
        model = SoftmaxRegressionClassifier(solver=solver, max_iter=3000).fit(X, y)
        done = "" if model.convergence_["converged"] else " (not converged)"
        cells.append(f"{model.n_iter_[0]} / {model._n_passes}{done}")
    return cells


def _shape(X, y):
    return f"{X.shape[0]} x {X.shape[1]}, {np.unique(y).size}"


def main():
    warnings.simplefilter("ignore")  # the unconverged fits warn, as they should
    problems = list(_problems())
    print("| problem | n x d, K | max mean/sd | steps | fit E=20 | fit E=50 | stream 2 x 4 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, X, y in problems:
        sd = X.std(axis=0)
        ratio = np.max(np.abs(X.mean(axis=0))[sd > 0] / sd[sd > 0])
        optima = {C: _optimum(X, y, C) for C in (1.0, 2.0)}
        for label, context in (("plain", _plain), ("centred", contextlib.nullcontext)):
            with context():
                gaps = _gaps(X, y, optima)
            cells = " | ".join(f"{g:.1e}" for g in gaps)
            print(f"| {name} | {_shape(X, y)} | {ratio:.1f} | {label} | {cells} |", flush=True)
    print()
    print("| problem | n x d, K | steps | lbfgs iterations / passes | newton-cg |")
    print("| --- | --- | --- | --- | --- |")
    for name, X, y in problems:
        for label, context in (("plain", _plain), ("centred", contextlib.nullcontext)):
            with context():
                cells = " | ".join(_batch(X, y))
            print(f"| {name} | {_shape(X, y)} | {label} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
