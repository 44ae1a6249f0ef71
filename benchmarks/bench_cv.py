"""Cross-validating C: SoftmaxRegressionCV against LogisticRegressionCV and GridSearchCV.

    python benchmarks/bench_cv.py --scale 0.05 --repeats 3 --max-iter 1000 --out benchmarks/results

For each dataset (``bench_fit.make_dataset``) and each ``--tols`` value, three
contenders choose C from the same grid (``np.logspace(-4, 4, --n-Cs)``) on the
same folds (``StratifiedKFold(--folds)``, split once and passed to all),
scored by ``neg_log_loss``, and refit at the best C:

- ``SoftmaxRegressionCV``: each fold's path over the grid, warm-started,
  smallest C first;
- ``LogisticRegressionCV`` (lbfgs, warm-started along its path the same way);
- ``GridSearchCV(SoftmaxRegressionClassifier())``: every (fold, C) fitted
  cold, so its ratio to the first is what the path's warm starts save.

All with ``tol`` as given, ``max_iter=--max-iter`` and ``n_jobs=--n-jobs``. The
fits are timed in rounds over the contenders (``--repeats`` each, after an
idle ``bench_fit.PAUSE_SECONDS``), and the median is reported with the ratio
time(contender) / time(SoftmaxRegressionCV). The tols do not mean the same
thing in both libraries, so every contender's per-fold scores are compared
with a reference: ``SoftmaxRegressionCV`` at tol 1e-10 on the same folds
("max |score - ref|"; newton-cg reaches that in seconds where lbfgs needs
thousands of iterations at C=1e4, and ``tests/test_cv.py`` checks it against
``LogisticRegressionCV`` at tight tol), with the C each one chose. Writes
``<out>/cv.json`` and ``cv.md``; ``<out>`` is a fresh
``benchmarks/runs/bench_cv-<UTC time>/`` unless ``--out`` names one.
"""

import argparse
import os
import time
import warnings

import bench_fit
import numpy as np
from bench_fit import (
    add_out_argument,
    machine_line,
    make_dataset,
    output_folder,
    run_meta,
    write_results,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

from softmax_sk import SoftmaxRegressionClassifier, SoftmaxRegressionCV

MAX_ITER = 10_000
REFERENCE_TOL = 1e-10
OURS = "SoftmaxRegressionCV"
# BLAS threads of every fit (None: the library's default). On a shared, loaded machine
# two BLAS threads made the same fit 3-15x slower at random, which swamped the contenders'
# difference; one thread each is the same footing for all three.
BLAS_THREADS = [1]


def contenders(Cs, folds, tol, n_jobs, max_iter):
    """name -> an unfitted estimator; fitted, ``scores_of`` reads its (n_folds, n_Cs) scores."""
    return {
        OURS: SoftmaxRegressionCV(Cs=Cs, cv=folds, tol=tol, max_iter=max_iter, n_jobs=n_jobs),
        "LogisticRegressionCV lbfgs": _sklearn_cv(Cs, folds, tol, n_jobs, max_iter),
        "GridSearchCV(SoftmaxRegressionClassifier)": GridSearchCV(
            SoftmaxRegressionClassifier(tol=tol, max_iter=max_iter),
            {"C": Cs},
            cv=folds,
            scoring="neg_log_loss",
            n_jobs=n_jobs,
        ),
    }


def _sklearn_cv(Cs, folds, tol, n_jobs, max_iter):
    return LogisticRegressionCV(
        Cs=Cs,
        cv=folds,
        scoring="neg_log_loss",
        tol=tol,
        max_iter=max_iter,
        n_jobs=n_jobs,
        l1_ratios=(0.0,),
        use_legacy_attributes=True,
    )


def scores_of(model, n_folds):
    """Per-fold test scores (n_folds, n_Cs) and the chosen C, whatever the contender."""
    if isinstance(model, GridSearchCV):
        scores = [model.cv_results_[f"split{k}_test_score"] for k in range(n_folds)]
        return np.array(scores, dtype=float), float(model.best_params_["C"])
    scores = next(iter(model.scores_.values()))
    return scores.reshape(n_folds, -1), float(model.C_[0])


def fit_timed(model, X, y):
    with warnings.catch_warnings(), threadpool_limits(limits=BLAS_THREADS[0], user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start


def bench_dataset(name, scale, tols, n_Cs, n_folds, repeats, n_jobs, max_iter):
    X, y = make_dataset(name, scale)
    Cs = np.logspace(-4, 4, n_Cs)
    folds = list(StratifiedKFold(n_folds).split(X, y))
    reference = SoftmaxRegressionCV(Cs=Cs, cv=folds, tol=REFERENCE_TOL, max_iter=MAX_ITER)
    fit_timed(reference, X, y)
    ref_scores, ref_C = scores_of(reference, n_folds)

    sweeps = []
    for tol in tols:
        times = {label: [] for label in contenders(Cs, folds, tol, n_jobs, max_iter)}
        fitted = {}
        for _ in range(repeats):  # rounds: a burst of load slows every contender alike
            for label, model in contenders(Cs, folds, tol, n_jobs, max_iter).items():
                time.sleep(bench_fit.PAUSE_SECONDS)
                times[label].append(fit_timed(model, X, y))
                fitted[label] = model
        ours = float(np.median(times[OURS]))
        rows = []
        for label, model in fitted.items():
            scores, C = scores_of(model, n_folds)
            seconds = float(np.median(times[label]))
            rows.append(
                {
                    "contender": label,
                    "seconds": seconds,
                    "times": times[label],
                    "ratio_to_ours": seconds / ours,
                    "C": C,
                    "max_score_diff": float(np.abs(scores - ref_scores).max()),
                }
            )
        sweeps.append({"tol": tol, "rows": rows})
    return {
        "dataset": name,
        "shape": list(X.shape),
        "n_classes": int(np.unique(y).size),
        "Cs": Cs.tolist(),
        "n_folds": n_folds,
        "reference_C": ref_C,
        "sweeps": sweeps,
    }


def markdown(results, meta=None):
    lines = [f"Command: `{meta['command']}`", "", machine_line(meta), ""] if meta else []
    if meta and "load_average" in meta:
        lines += [
            f"A shared machine, loaded (load average {meta['load_average']:.1f} at the start); "
            f"BLAS threads of every fit: {meta['blas_threads'] or 'default'}.",
            "",
        ]
    for res in results:
        lines += [
            f"### {res['dataset']} {res['shape'][0]}x{res['shape'][1]}, K={res['n_classes']}: "
            f"{len(res['Cs'])} Cs x {res['n_folds']} folds",
            "",
            f"Reference (SoftmaxRegressionCV, tol {REFERENCE_TOL:g}) chooses C = "
            f"{res['reference_C']:.3g}.",
            "",
            "| tol | contender | time [s] (median) | time / SoftmaxRegressionCV | chosen C "
            "| max \\|score - ref\\| |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for sweep in res["sweeps"]:
            for r in sweep["rows"]:
                ratio = f"**{r['ratio_to_ours']:.2f}**" if r["contender"] != OURS else "1"
                lines.append(
                    f"| {sweep['tol']:g} | {r['contender']} | {r['seconds']:.3f} | {ratio} "
                    f"| {r['C']:.3g} | {r['max_score_diff']:.1e} |"
                )
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,dense_100k_100")
    parser.add_argument("--scale", type=float, default=0.05, help="fraction of the full n")
    parser.add_argument("--tols", default="1e-4", help="comma-separated")
    parser.add_argument("--n-Cs", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument(
        "--blas-threads", type=int, default=1, help="BLAS threads of every fit; 0: the default"
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=MAX_ITER,
        help="of every fit; lbfgs may need thousands at C=1e4 on near-separable data",
    )
    add_out_argument(parser)
    args = parser.parse_args(argv)

    tols = [float(t) for t in args.tols.split(",")]
    BLAS_THREADS[0] = args.blas_threads or None
    meta = run_meta(
        argv,
        reference_tol=REFERENCE_TOL,
        max_iter=args.max_iter,
        n_jobs=args.n_jobs,
        blas_threads=BLAS_THREADS[0],
        load_average=os.getloadavg()[0],
    )
    results = []
    with output_folder(args.out, "cv") as out:
        for name in args.datasets.split(","):
            res = bench_dataset(
                name,
                args.scale,
                tols,
                args.n_Cs,
                args.folds,
                args.repeats,
                args.n_jobs,
                args.max_iter,
            )
            results.append(res)
            print(markdown([res]), flush=True)
            write_results(out, "cv", meta, results, markdown, None)
    return results


if __name__ == "__main__":
    main()
