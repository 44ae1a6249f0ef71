"""The grouped lasso's two solvers, timed in the same rounds, with the elementwise lasso beside.

    python benchmarks/bench_grouped.py --n 5000

For each dataset (``digits``, standardised; ``synthetic``: ``--n`` rows, 100
features of which 20 informative, 10 classes, standardised) and each ``C``,
``l1_type="grouped"`` with ``l1_ratio=1`` is fitted to ``--tol`` by
``proxnewton`` (proximal Newton) and ``proxqn`` (PANOC, proximal quasi-Newton),
and the elementwise lasso (``l1_ratio=1``, ``solver="auto"``) as a yardstick of
what an L1 fit of the same size costs. The fits run round-robin, ``--repeats``
rounds, so every contender meets the same load; the tables give median seconds,
the ratio proxqn / proxnewton, iterations, data passes (one per gradient or
Hessian-vector product) and the features kept. Writes ``<out>/grouped.json``
and ``grouped.md``; ``<out>`` is a fresh ``benchmarks/runs/bench_grouped-<UTC
time>/`` unless ``--out`` names one.
"""

import argparse
import time
import warnings

import numpy as np
from bench_fit import add_out_argument, machine_line, output_folder, run_meta, write_results
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from softmax_sk import SoftmaxRegressionClassifier

CONTENDERS = {
    "proxnewton": {"l1_type": "grouped", "solver": "proxnewton"},
    "proxqn": {"l1_type": "grouped", "solver": "proxqn"},
    "elementwise (auto)": {"l1_type": "elementwise", "solver": "auto"},
}


def make_dataset(name, n):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
    else:
        X, y = make_classification(
            n, 100, n_informative=20, n_classes=10, n_clusters_per_class=1, random_state=0
        )
    return StandardScaler().fit_transform(X), y


def bench_dataset(name, n, Cs, tol, repeats):
    X, y = make_dataset(name, n)
    rows = []
    for C in Cs:
        fits = {label: [] for label in CONTENDERS}
        for _ in range(repeats):
            for label, params in CONTENDERS.items():
                model = SoftmaxRegressionClassifier(C=C, l1_ratio=1.0, tol=tol, max_iter=5000)
                model.set_params(**params)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    start = time.perf_counter()
                    model.fit(X, y)
                    seconds = time.perf_counter() - start
                fits[label].append((seconds, model, bool(caught)))
        for label, runs in fits.items():
            model = runs[-1][1]
            rows.append(
                {
                    "dataset": name,
                    "shape": list(X.shape),
                    "n_classes": int(np.unique(y).size),
                    "C": C,
                    "contender": label,
                    "solver": model.solver_,
                    "seconds": float(np.median([s for s, _, _ in runs])),
                    "n_iter": int(model.n_iter_[0]),
                    "passes": int(model._n_passes),
                    "features_kept": int((model.coef_ != 0).any(axis=0).sum()),
                    "converged": not any(warned for _, _, warned in runs),
                }
            )
    return rows


def markdown(results, meta=None):
    lines = [f"Command: `{meta['command']}`", "", machine_line(meta), ""] if meta else []
    lines += [
        "The machine was shared with other jobs and loaded; compare contenders within a "
        "row group (timed in the same rounds), not across runs.",
        "",
        "| dataset | C | contender | solver | median s | vs proxnewton | iterations | passes "
        "| features kept | converged |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    by_group = {}
    for row in results:
        by_group.setdefault((row["dataset"], row["C"]), []).append(row)
    for (dataset, C), rows in by_group.items():
        base = next(r["seconds"] for r in rows if r["contender"] == "proxnewton")
        for r in rows:
            shape = "x".join(map(str, r["shape"]))
            lines.append(
                f"| {dataset} {shape}, K={r['n_classes']} | {C:g} | {r['contender']} "
                f"| {r['solver']} | {r['seconds']:.3f} | {r['seconds'] / base:.2f}x "
                f"| {r['n_iter']} | {r['passes']} | {r['features_kept']} "
                f"| {'yes' if r['converged'] else 'no'} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,synthetic")
    parser.add_argument("--n", type=int, default=5000, help="rows of the synthetic dataset")
    parser.add_argument("--Cs", default="0.01,0.1,1")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--repeats", type=int, default=3)
    add_out_argument(parser)
    args = parser.parse_args(argv)
    meta = run_meta(argv, tol=args.tol)
    Cs = [float(c) for c in args.Cs.split(",")]
    results = []
    with output_folder(args.out, "grouped") as out:
        for name in args.datasets.split(","):
            results += bench_dataset(name, args.n, Cs, args.tol, args.repeats)
            write_results(out, "grouped", meta, results, markdown, None)
        print(markdown(results), flush=True)
    return results


if __name__ == "__main__":
    main()
