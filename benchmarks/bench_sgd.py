"""solver="sgd" against the batch optimum: relative objective gap per epoch, test accuracy.

    python benchmarks/bench_sgd.py --scale 0.2
    python benchmarks/bench_sgd.py --datasets digits,dense_100k_100 --epochs 20

For each problem of ``bench_fit.py``'s registry (80% train, 20% test): the
batch optimum (softmax-sk's default solver at ``tol=1e-8``) and one
``fit(solver="sgd", max_iter=--epochs, tol=0)``, whose per-epoch objective is
read from its ``verbose`` lines (the scaled objective, times ``C * n``; an
undone epoch keeps the best so far). Reports the relative gap
``(F - F*) / F*`` after 5, 10 and 20 epochs, the first epoch at which it is at
most 1e-3, both test accuracies, the times, and the data passes per epoch
(full-data objective and gradient evaluations and Hessian diagonals, plus the
minibatch steps' rows over n, and half that again where a step computes its rows'
probabilities at the anchor, which keeps none beyond ``_stochastic.KEEP_BYTES``; counted
by wrapping ``_stochastic``'s ``anchor``, ``gradient_difference`` and
``weighted_probabilities``). The issue's target: a gap of at most 1e-3 within
20 epochs and test accuracy within 0.5 points. Writes ``<out>/sgd.json`` and
``sgd.md``.
"""

import argparse
import contextlib
import io
import re
import time
import warnings

import numpy as np
from bench_fit import (
    DATASETS,
    add_out_argument,
    make_dataset,
    objective,
    output_folder,
    run_meta,
    shared_machine_header,
    write_results,
)
from sklearn.exceptions import ConvergenceWarning

from softmax_sk import SoftmaxRegressionClassifier, _stochastic

TARGET = 1e-3
EPOCH_LINE = re.compile(r"\[sgd\] epoch\s+(\d+)\s+objective\s+(\S+)")


def split(X, y, seed=0):
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.8 * len(y))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]


@contextlib.contextmanager
def counting_passes(n_rows):
    """Counts the data passes of ``fit(solver="sgd")`` into the yielded list's one entry:
    each anchor's objective and gradient (and Hessian diagonal when it takes one), and
    each minibatch's rows (its gradient difference: one product each way) over n, and
    half that for rows whose probabilities at the anchor it computes (one product)."""
    count = [0.0]
    anchor, difference = _stochastic.anchor, _stochastic.gradient_difference
    probabilities = _stochastic.weighted_probabilities

    def counted_anchor(obj, w, floor, curvature=None, keep=True):
        count[0] += 1 + (curvature is None)
        return anchor(obj, w, floor, curvature, keep)

    def counted_difference(block, *args):
        count[0] += block.X.shape[0] / n_rows
        return difference(block, *args)

    def counted_probabilities(block, *args):
        count[0] += 0.5 * block.X.shape[0] / n_rows
        return probabilities(block, *args)

    originals = (anchor, difference, probabilities)
    (
        _stochastic.anchor,
        _stochastic.gradient_difference,
        _stochastic.weighted_probabilities,
    ) = counted_anchor, counted_difference, counted_probabilities
    try:
        yield count
    finally:
        (
            _stochastic.anchor,
            _stochastic.gradient_difference,
            _stochastic.weighted_probabilities,
        ) = originals


def _objective(model, X, y, C, l1_ratio):
    """bench_fit's L2 objective, with the elastic net's terms when ``l1_ratio > 0``."""
    W = np.asarray(model.coef_, dtype=np.float64)
    l1 = l1_ratio * (np.abs(W).sum() - 0.5 * np.sum(W**2))
    return objective(model, X, y, C) + l1


def bench_dataset(name, scale, epochs, C=1.0, l1_ratio=0.0):
    X, y, X_test, y_test = split(*make_dataset(name, scale))
    start = time.perf_counter()
    kw = {"C": C, "l1_ratio": l1_ratio}
    ref = SoftmaxRegressionClassifier(tol=1e-8, max_iter=10_000, **kw).fit(X, y)
    t_ref = time.perf_counter() - start
    f_star = _objective(ref, X, y, C, l1_ratio)
    sgd = SoftmaxRegressionClassifier(
        solver="sgd", max_iter=epochs, tol=0, verbose=1, random_state=0, **kw
    )
    lines = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(lines), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with counting_passes(X.shape[0]) as passes:
            sgd.fit(X, y)
    t_sgd = time.perf_counter() - start
    per_epoch = [float(v) * C * X.shape[0] for _, v in EPOCH_LINE.findall(lines.getvalue())]
    gaps = list((np.minimum.accumulate(per_epoch) - f_star) / f_star)
    final_gap = (_objective(sgd, X, y, C, l1_ratio) - f_star) / f_star
    reached = [e + 1 for e, gap in enumerate(gaps) if gap <= TARGET]
    return {
        "dataset": name,
        "shape": list(X.shape),
        "n_classes": int(np.unique(y).size),
        "f_star": f_star,
        "gap_per_epoch": gaps,
        "final_gap": final_gap,
        "epoch_reaching_target": reached[0] if reached else None,
        "acc_batch": float(ref.score(X_test, y_test)),
        "acc_sgd": float(sgd.score(X_test, y_test)),
        "time_batch": t_ref,
        "time_sgd": t_sgd,
        "passes_per_epoch": passes[0] / max(1, sgd.n_iter_[0]),
        "batch_solver": ref.solver_,
    }


def markdown(results, meta):
    lines = [
        *shared_machine_header(meta),
        f"Relative objective gap `(F - F*) / F*` of `fit(solver='sgd')` after E epochs (target: "
        f"<= {TARGET:g} within 20), test accuracy against the batch optimum's (target: within "
        "0.5 points)."
        + (f" Elastic net: l1_ratio={meta['l1_ratio']:g}." if meta.get("l1_ratio") else ""),
        "",
        "| problem | n x d, K | gap E=5 | gap E=10 | gap E=20 | first epoch <= 1e-3 "
        "| acc batch | acc sgd | time batch [s] | time sgd [s] | passes / epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        gaps = r["gap_per_epoch"]
        at = [f"{gaps[e - 1]:.1e}" if len(gaps) >= e else "" for e in (5, 10, 20)]
        lines.append(
            f"| {r['dataset']} | {r['shape'][0]} x {r['shape'][1]}, {r['n_classes']} | "
            + " | ".join(at)
            + f" | {r['epoch_reaching_target'] or 'no'} | {r['acc_batch']:.4f} | "
            f"{r['acc_sgd']:.4f} | {r['time_batch']:.2f} ({r['batch_solver']}) | "
            f"{r['time_sgd']:.2f} | {r['passes_per_epoch']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=DATASETS)
    parser.add_argument("--scale", type=float, default=0.2, help="fraction of each problem's n")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--l1-ratio", type=float, default=0.0, help="elastic-net mixing")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    meta = run_meta(argv, scale=args.scale, epochs=args.epochs, l1_ratio=args.l1_ratio)
    results = []
    with output_folder(args.out, "sgd") as out:
        for name in args.datasets.split(","):
            results.append(bench_dataset(name, args.scale, args.epochs, l1_ratio=args.l1_ratio))
            r = results[-1]
            print(
                f"{name}: gap after {len(r['gap_per_epoch'])} epochs {r['final_gap']:.2e}, "
                f"acc {r['acc_sgd']:.4f} vs {r['acc_batch']:.4f}",
                flush=True,
            )
            write_results(out, "sgd", meta, results, markdown, None)
    return results


if __name__ == "__main__":
    main()
