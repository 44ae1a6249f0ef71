"""One fold's regularisation path, warm-started as SoftmaxRegressionCV fits it, against cold fits.

    python benchmarks/probe_cv_path.py --datasets dense_100k_100,digits --solvers lbfgs,newton-cg

For the first of ``--folds`` stratified folds of each dataset (``bench_fit.make_dataset``)
and each solver, fits ``np.logspace(-4, 4, --n-Cs)`` smallest C first, once warm-started
(as the path) and once from zero (as ``GridSearchCV``), at ``--tol``, and prints per C the
data passes, the true relative suboptimality ``(F - F*) / F*`` (F* from Newton-CG at tol
1e-10; F computed by ``bench_fit.objective``) and the test log-loss's distance from the
optimum's; then the totals. Data passes do not depend on the machine's load, unlike time.
Prints only (the figures quoted in benchmarks/results/cv_path.md).
"""

import argparse
import warnings

import numpy as np
from bench_fit import make_dataset, objective
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from softmax_sk import SoftmaxRegressionClassifier


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def probe(name, scale, solvers, n_Cs, n_folds, tol):
    X, y = make_dataset(name, scale)
    train, test = next(StratifiedKFold(n_folds).split(X, y))
    Xt, yt, Xs, ys = X[train], y[train], X[test], y[test]
    Cs = np.logspace(-4, 4, n_Cs)
    best = {}
    for C in Cs:
        ref = _fit(
            SoftmaxRegressionClassifier(C=C, solver="newton-cg", tol=1e-10, max_iter=10_000), Xt, yt
        )
        best[C] = objective(ref, Xt, yt, C), log_loss(ys, ref.predict_proba(Xs))
    print(f"## {name} {Xt.shape[0]}x{Xt.shape[1]} (training fold), tol {tol:g}")
    print("per C: passes / relative suboptimality / |test log-loss - optimum's|")
    for solver in solvers:
        warm = SoftmaxRegressionClassifier(solver=solver, tol=tol, max_iter=1000, warm_start=True)
        for mode in ("warm", "cold"):
            cells, passes, worst = [], 0, (0.0, 0.0)
            for C in Cs:
                model = (
                    warm
                    if mode == "warm"
                    else SoftmaxRegressionClassifier(solver=solver, tol=tol, max_iter=1000)
                )
                _fit(model.set_params(C=C), Xt, yt)
                sub = (objective(model, Xt, yt, C) - best[C][0]) / abs(best[C][0])
                gap = abs(log_loss(ys, model.predict_proba(Xs)) - best[C][1])
                passes += model._n_passes
                worst = (max(worst[0], sub), max(worst[1], gap))
                cells.append(f"{model._n_passes}/{sub:.0e}/{gap:.0e}")
            print(
                f"- {solver} {mode}: {passes} passes, worst suboptimality {worst[0]:.1e}, "
                f"worst score gap {worst[1]:.1e}"
            )
            print("  " + " ".join(cells))
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="dense_100k_100,digits")
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--solvers", default="lbfgs,newton-cg")
    parser.add_argument("--n-Cs", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args(argv)
    for name in args.datasets.split(","):
        probe(name, args.scale, args.solvers.split(","), args.n_Cs, args.folds, args.tol)


if __name__ == "__main__":
    main()
