"""Probe: partial_fit against fit(solver="sgd") and on small calls (prints tables).

    python benchmarks/probe_stream.py
    python benchmarks/probe_stream.py --set MEMORY_DECAY=0 --set PRECONDITIONER_ROWS=1

Two tables. "distribution": the problem of ``tests/test_stochastic.py``'s distribution test
(``make_classification``, 4,000 training and 2,000 test rows, 10 features, 3 classes;
``C=10``, ``batch_size=100``, ``learning_rate="constant"``): test log-loss over ``--seeds``
seeds of ``fit(solver="sgd", max_iter=epochs)`` and of ``partial_fit`` over the same rows in
shuffled chunks, for each ``--settings`` pair ``epochs:chunks``; their means, standard
deviations, Welch's t-test and the Kolmogorov-Smirnov test; and the mean relative gap of
each one's training objective (``C`` times the summed cross-entropy plus half the squared
coefficients, computed here in numpy) to the batch optimum's. "small calls": 3 epochs over
1,000 rows of ``make_classification`` (3 classes) in calls of ``--sizes`` rows, softmax-sk
against ``SGDClassifier(loss="log_loss")``, test log-loss and accuracy. ``--set NAME=VALUE``
replaces a constant of ``softmax_sk._stochastic`` (``MEMORY_DECAY``, ``OUTLIER``,
``PRECONDITIONER_ROWS``, ``PAIR_MIN_ROWS``, ``CALL_STEPS``, ...). The figures of these
constants' comments and of ``benchmarks/results/notes.md`` (partial_fit, 0.5.0) came from this
script's two tables or from ``bench_stream.py``.
"""

import argparse
import warnings

import numpy as np
from scipy import special, stats
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss

from softmax_sk import SoftmaxRegressionClassifier, _stochastic


def _chunks(n, epochs, n_chunks, seed):
    rng = np.random.default_rng(seed)
    return [c for _ in range(epochs) for c in np.array_split(rng.permutation(n), n_chunks)]


def distribution(settings, n_seeds):
    # tests/conftest.py's make_problem(3, n_samples=6000, n_features=10, seed=1)
    X, y = make_classification(
        6000, 10, n_informative=6, n_redundant=1, n_classes=3, n_clusters_per_class=1,
        flip_y=0.15, class_sep=0.8, random_state=1,
    )  # fmt: skip
    X_test, y_test, X, y = X[4000:], y[4000:], X[:4000], y[:4000]
    kw = {"C": 10.0, "solver": "sgd", "batch_size": 100, "learning_rate": "constant"}

    def objective(model):
        logits = X @ model.coef_.T + model.intercept_
        picked = logits[np.arange(len(y)), y]
        return kw["C"] * np.sum(special.logsumexp(logits, axis=1) - picked) + 0.5 * np.sum(
            model.coef_**2
        )

    best = SoftmaxRegressionClassifier(C=10.0, tol=1e-10).fit(X, y)
    print(
        f"distribution (batch optimum's test log-loss "
        f"{log_loss(y_test, best.predict_proba(X_test)):.5f})"
    )
    print(
        "| epochs | chunks | fit mean (sd) | stream mean (sd) | Welch p | KS p "
        "| objective gap fit / stream |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for epochs, n_chunks in settings:
        fits, streams, gaps = [], [], ([], [])
        for seed in range(n_seeds):
            fit = SoftmaxRegressionClassifier(max_iter=epochs, tol=0, random_state=seed, **kw)
            stream = SoftmaxRegressionClassifier(random_state=seed, **kw)
            for rows in _chunks(len(y), epochs, n_chunks, seed):
                stream.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
            for model, scores, gap in [(fit.fit(X, y), fits, gaps[0]), (stream, streams, gaps[1])]:
                scores.append(log_loss(y_test, model.predict_proba(X_test)))
                gap.append(objective(model) / objective(best) - 1)
        welch = stats.ttest_ind(streams, fits, equal_var=False).pvalue
        ks = stats.ks_2samp(streams, fits).pvalue
        print(
            f"| {epochs} | {n_chunks} | {np.mean(fits):.5f} ({np.std(fits, ddof=1):.5f}) | "
            f"{np.mean(streams):.5f} ({np.std(streams, ddof=1):.5f}) | {welch:.3f} | {ks:.3f} "
            f"| {np.mean(gaps[0]):.1e} / {np.mean(gaps[1]):.1e} |"
        )


def small_calls(sizes):
    X, y = make_classification(
        1500, 10, n_informative=6, n_redundant=0, n_classes=3, random_state=0
    )
    X_test, y_test, X, y = X[1000:], y[1000:], X[:1000], y[:1000]
    best = SoftmaxRegressionClassifier().fit(X, y).predict_proba(X_test)
    print(f"\nsmall calls (batch optimum's test log-loss {log_loss(y_test, best):.4f})")
    print("| rows a call | softmax-sk log-loss / acc | SGDClassifier log-loss / acc |")
    print("| --- | --- | --- |")
    for size in sizes:
        models = [
            SoftmaxRegressionClassifier(random_state=0),
            SGDClassifier(loss="log_loss", random_state=0),
        ]
        for epoch in range(3):
            order = np.random.default_rng(epoch).permutation(len(y))
            for a in range(0, len(y), size):
                for model in models:
                    model.partial_fit(
                        X[order[a : a + size]], y[order[a : a + size]], classes=[0, 1, 2]
                    )
        cells = [
            f"{log_loss(y_test, m.predict_proba(X_test)):.4f} / {m.score(X_test, y_test):.3f}"
            for m in models
        ]
        print(f"| {size} | {cells[0]} | {cells[1]} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--settings", default="2:4,2:8,3:4", help="epochs:chunks,...")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--sizes", default="1,2,5,20", help="rows a call in the small calls")
    args = parser.parse_args(argv)
    saved = {}
    for item in args.set:
        name, value = item.split("=")
        if not hasattr(_stochastic, name):
            raise SystemExit(f"softmax_sk._stochastic has no constant {name}")
        saved.setdefault(name, getattr(_stochastic, name))
        setattr(_stochastic, name, type(saved[name])(float(value)))
    settings = [tuple(int(v) for v in s.split(":")) for s in args.settings.split(",")]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sgd's ConvergenceWarning at max_iter, tol=0
            distribution(settings, args.seeds)
            if args.sizes:  # --sizes "": the distribution table alone
                small_calls([int(v) for v in args.sizes.split(",")])
    finally:
        for name, value in saved.items():
            setattr(_stochastic, name, value)


if __name__ == "__main__":
    main()
