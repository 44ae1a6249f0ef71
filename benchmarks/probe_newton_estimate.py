"""How well Newton-CG's carried suboptimality estimate tracks the truth, iteration by iteration.

    python benchmarks/probe_newton_estimate.py --scale 0.1

For each problem of ``bench_defaults`` (float64), fits with ``max_iter=k`` for
k = 1, 2, ... and prints the true relative suboptimality ``(F - F*) / F*`` (F*
from ``bench_defaults.reference``), the estimate that ``_newton._after_step``
carried to the last iterate (relative, safety factor included; nan where it
was not trusted) and their ratio; then the default fit's passes. A ratio below
1 where the estimate is trusted is a stopping rule that can stop early.
Prints only (the figures quoted in benchmarks/results/notes.md).
"""

import argparse
import warnings

import bench_defaults
import bench_fit

from softmax_sk import SoftmaxRegressionClassifier
from softmax_sk._solvers import _newton

PROBLEMS = "digits,sparse_100k_50k,weak_penalty,rare_class,unscaled"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--problems", default=PROBLEMS)
    args = parser.parse_args(argv)
    carried = []
    original = _newton._after_step

    def spy(*a):
        carried.append(original(*a))
        return carried[-1]

    _newton._after_step = spy
    for name in args.problems.split(","):
        X, y, C = bench_defaults.problem(name, args.scale)
        f_star = bench_defaults.reference(X, y, C)[0]
        for k in range(1, 30):
            carried.clear()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = SoftmaxRegressionClassifier(C=C, solver="newton-cg", tol=1e-14, max_iter=k)
                model.fit(X, y)
            F = bench_fit.objective(model, X, y, C)
            true = (F - f_star) / f_star
            last = carried[-1] if carried and carried[-1] is not None else float("nan")
            estimate = last / (F / (C * len(y)))  # the solver's objective is divided by C * n
            print(
                f"{name:16s} k={k:2d} true {true:.2e} estimate {estimate:.2e} "
                f"ratio {estimate / max(true, 1e-300):.2f}"
            )
            if true < 1e-9:
                break
        model = SoftmaxRegressionClassifier(C=C, solver="newton-cg").fit(X, y)
        print(f"{name:16s} default fit: {model.n_iter_[0]} iterations, {model._n_passes} passes")


if __name__ == "__main__":
    main()
