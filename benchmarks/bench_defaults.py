"""How far from the optimum a default fit stops: the stopping rule before and after, next to
scikit-learn.

    python benchmarks/bench_defaults.py --scale 0.1 --repeats 3

For each benchmark problem of ``bench_fit.DATASETS`` (at ``--scale``) and each
kind of problem on which a gradient-only rule stops early (many classes, one
rare sample of a class, a weak penalty, unscaled features), in float64 and
float32: a tight reference optimum, then the default fit of softmax-sk with the
gradient-only rule of 0.1 ("before"), with the rule of this version ("after"),
and scikit-learn's default ``LogisticRegression()``. Each gets its relative
suboptimality ``(F - F*) / F*`` of the objective ``C sum CE + ||W||^2 / 2``,
held-out log-loss, iterations, data passes (softmax-sk) and time (median of
``--repeats`` fits, timed in rounds over the contenders in this one process),
and softmax-sk's own estimate of its suboptimality (``convergence_``).

The reference is the lower of softmax-sk's and scikit-learn's lbfgs float64
fits at tol=1e-10 (scikit-learn's only where it has at most 20,000
coefficients, as it is slow beyond), on the same float values of X; its
gradient max-norm is recorded as its certificate.

Writes ``<out>/defaults.json`` and ``<out>/defaults.md``.
"""

import argparse
import time
import warnings

import bench_fit
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from softmax_sk import SoftmaxRegressionClassifier

KINDS = "many_classes,rare_class,weak_penalty,unscaled"
PAUSE_SECONDS = 0.1


# -- the kinds ----------------------------------------------------------------------------
def make_kind(name, scale, seed=0):
    """``(X, y, C)`` for one kind of problem; ``scale`` shrinks n as in bench_fit."""
    rng = np.random.default_rng(seed)
    if name == "many_classes":
        # The 32,000 x 256, K=500 (64 samples per class), shrunk in n and d.
        n, K = max(2000, int(32_000 * scale)), 500
        n = max(n, 20 * K)
        X = rng.normal(size=(n, 64))
        return X, bench_fit._teacher(X, K, rng), 1.0
    if name == "rare_class":
        # One sample of a fourth class among 50,000 (at any scale): its gradient is
        # 1/n of the mean loss, below the default tol from the start.
        X = rng.normal(size=(62_500, 10))
        y = bench_fit._teacher(X, 3, rng)
        y[0] = 3
        return X, y, 1.0
    if name == "weak_penalty":
        # Near-separable labels (a sharp teacher) and a weak penalty (large C * sum(s)).
        n = max(2000, int(20_000 * scale))
        X = rng.normal(size=(n, 20))
        return X, bench_fit._teacher(X, 5, rng, temperature=10.0), 1e6
    if name == "unscaled":
        # Raw features: offsets and scales from 1e-2 to 1e2, as before any StandardScaler.
        n = max(2000, int(20_000 * scale))
        Z = rng.normal(size=(n, 20))
        y = bench_fit._teacher(Z, 5, rng)
        X = Z * np.logspace(-2, 2, 20) + rng.uniform(-5, 5, size=20) * np.logspace(-2, 2, 20)
        return X, y, 1.0
    raise ValueError(f"unknown kind {name!r}")


def problem(name, scale):
    if name in bench_fit.DATASETS.split(","):
        X, y = bench_fit.make_dataset(name, scale)
        return X, y, 1.0
    return make_kind(name, scale)


# -- measures ---------------------------------------------------------------------------------
def log_loss(model, X, y):
    """Mean held-out cross-entropy over the rows whose class the model knows."""
    known = np.isin(y, model.classes_)
    logp = model.predict_log_proba(X[known])
    return float(-np.mean(logp[np.arange(known.sum()), np.searchsorted(model.classes_, y[known])]))


def reference(X, y, C):
    X64 = X.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [SoftmaxRegressionClassifier(C=C, tol=1e-10, max_iter=10_000).fit(X64, y)]
        if (X.shape[1] + 1) * np.unique(y).size <= 20_000:
            fits.append(LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X64, y))
    values = [bench_fit.objective(m, X, y, C) for m in fits]
    return min(values), fits[0].convergence_["gradient_norm"], fits[0]


def make(contender, C):
    if contender == "sklearn default":
        return LogisticRegression(C=C)
    model = SoftmaxRegressionClassifier(C=C)
    if contender == "softmax-sk before":
        model._stopping = "gradient"  # the rule of 0.1: the gradient alone
    return model


def fit(contender, C, X, y):
    model = make(contender, C)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, seconds, warned


def bench(name, dtype, scale, repeats):
    X, y, C = problem(name, scale)
    X = X.astype(dtype)
    rng = np.random.default_rng(1)
    order = rng.permutation(X.shape[0])
    if name == "rare_class":  # keep the rare sample in the training split
        order = np.r_[0, order[order != 0]]
    n_train = int(0.8 * X.shape[0])
    train, test = order[:n_train], order[n_train:]
    X, X_test, y, y_test = X[train], X[test], y[train], y[test]
    f_star, ref_grad, ref_model = reference(X, y, C)
    contenders = ["softmax-sk before", "softmax-sk after", "sklearn default"]
    times = {c: [] for c in contenders}
    models = {}
    for _ in range(repeats):  # in rounds, so that a burst of load meets every contender
        for c in contenders:
            time.sleep(PAUSE_SECONDS)
            models[c], seconds, warned = fit(c, C, X, y)
            times[c].append(seconds)
            models[c]._warned = warned
    rows = []
    for c in contenders:
        m = models[c]
        conv = getattr(m, "convergence_", None)
        rows.append(
            {
                "contender": c,
                "suboptimality": float((bench_fit.objective(m, X, y, C) - f_star) / abs(f_star)),
                "estimate": None if conv is None else conv["suboptimality_estimate"],
                "test_log_loss": log_loss(m, X_test, y_test),
                "test_accuracy": float(np.mean(m.predict(X_test) == y_test)),
                "n_iter": int(np.max(m.n_iter_)),
                "passes": getattr(m, "_n_passes", None),
                "seconds": float(np.median(times[c])),
                "warned": m._warned,
                "solver": getattr(m, "solver_", "lbfgs"),
            }
        )
    if name == "rare_class":  # the rare sample's probability of its own class
        for row, c in zip(rows, contenders, strict=True):
            row["rare_proba"] = float(models[c].predict_proba(X[y == 3])[0, -1])
    extra = {}
    if name == "rare_class":
        extra["rare_proba_optimum"] = float(ref_model.predict_proba(X[y == 3])[0, -1])
    return {
        **extra,
        "problem": name,
        "dtype": np.dtype(dtype).name,
        "shape": list(X.shape),
        "n_classes": int(np.unique(y).size),
        "C": C,
        "f_star": f_star,
        "reference_gradient_norm": ref_grad,
        "rows": rows,
    }


def markdown(results, meta=None):
    lines = [f"Command: `{meta['command']}`", "", bench_fit.machine_line(meta), ""] if meta else []
    lines += [
        "Relative suboptimality `(F - F*) / F*` of the default fit (`F*`: float64 fits at "
        "tol=1e-10); `est.`: softmax-sk's own estimate (`convergence_`); time: median "
        "of the runs, in rounds; ratio: after / before.",
        "",
        "| problem | dtype | n x d, K | contender | subopt. | est. | test log-loss | test acc "
        "| iters | passes | time [s] | warns |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for res in results:
        shape = f"{res['shape'][0]}x{res['shape'][1]}, K={res['n_classes']}"
        if "rare_proba_optimum" in res:
            shape += f"; rare p at optimum {res['rare_proba_optimum']:.3g}"
        for r in res["rows"]:
            est = "" if r["estimate"] is None else f"{r['estimate']:.1e}"
            extra = f" (rare p={r['rare_proba']:.3g})" if "rare_proba" in r else ""
            lines.append(
                f"| {res['problem']} | {res['dtype']} | {shape} | {r['contender']}{extra} | "
                f"{r['suboptimality']:.1e} | {est} | {r['test_log_loss']:.4f} | "
                f"{r['test_accuracy']:.4f} | {r['n_iter']} | {r['passes'] or ''} | "
                f"{r['seconds']:.3f} | {'yes' if r['warned'] else 'no'} |"
            )
    lines += [
        "",
        "| problem | dtype | passes after/before | time after/before |",
        "| --- | --- | --- | --- |",
    ]
    for res in results:
        before, after = res["rows"][0], res["rows"][1]
        lines.append(
            f"| {res['problem']} | {res['dtype']} | {after['passes'] / before['passes']:.2f} | "
            f"{after['seconds'] / before['seconds']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=bench_fit.DATASETS + "," + KINDS)
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--scale", type=float, default=0.1, help="fraction of the full n")
    parser.add_argument("--repeats", type=int, default=3)
    bench_fit.add_out_argument(parser)
    args = parser.parse_args(argv)

    meta = bench_fit.run_meta(argv, scale=args.scale)
    results = []
    with bench_fit.output_folder(args.out, "defaults") as out:
        for name in args.problems.split(","):
            for dtype in args.dtypes.split(","):
                res = bench(name, np.dtype(dtype), args.scale, args.repeats)
                results.append(res)
                print(markdown([res]), flush=True)
                bench_fit.write_results(out, "defaults", meta, results, markdown, None)
    return results


if __name__ == "__main__":
    main()
