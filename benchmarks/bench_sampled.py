"""Sampled softmax against the full softmax (both solver="sgd"): time per epoch, top-1 accuracy.

    python benchmarks/bench_sampled.py --scale 0.05 --classes 10000,100000
    python benchmarks/bench_sampled.py --scale 1   # the issue's size: n=200k, d=128

Synthetic data with Zipf-distributed class frequencies (class c has frequency
proportional to 1 / (c + 1), classes indexed by decreasing frequency, as the
``log_uniform`` sampler assumes): each class has a random centre in d=128
dimensions, and a row is its class's centre plus unit Gaussian noise. For
each K: ``SoftmaxRegressionClassifier(solver="sgd")`` with the full softmax and
with ``n_sampled_classes=--sampled`` and ``sampler=--sampler`` (default ``"uniform"``), the same
``batch_size`` and ``random_state``, both predicting with the full softmax.

Reported: seconds per epoch (sampled: the median over ``--epochs`` epochs;
full: the median over its ``--full-epochs``, which may be fewer at large K),
top-1 test accuracy after the same number of epochs, and the sampled
model's accuracy after the full one's wall time. The full softmax's epoch is
proximal SVRG (an anchor pass with the Hessian diagonal, then two minibatch
gradients per step: about four passes over the K columns), which is what
``solver="sgd"`` runs. The issue's targets: an epoch >= 5x faster at K=10,000,
>= 30x at K=100,000; accuracy within 1 point at equal epochs. Writes
``<out>/sampled.json`` and ``sampled.md``.
"""

import argparse
import time
import warnings

import numpy as np
from bench_fit import (
    add_out_argument,
    output_folder,
    run_meta,
    shared_machine_header,
    write_results,
)
from sklearn.exceptions import ConvergenceWarning

from softmax_sk import SoftmaxRegressionClassifier

D = 128
N = 200_000


def make_data(n, K, seed=0, separation=1.5):
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, K + 1)
    y = rng.choice(K, size=n, p=freq / freq.sum())
    centres = rng.normal(size=(K, D)).astype(np.float32) * separation / np.sqrt(D) * 4
    X = centres[y] + rng.normal(size=(n, D)).astype(np.float32)
    cut = int(0.8 * n)
    return X[:cut], y[:cut], X[cut:], y[cut:]


def epochs_of(model_kwargs, X, y, X_test, y_test, epochs, classes):
    """Per-epoch times and test accuracies; an epoch is one ``partial_fit`` call over all
    the training rows (with ``C=1e4`` the penalty, read per weight seen, hardly matters).
    For the full softmax such a call moves ``_stochastic.CALL_STEPS`` steps' worth, less
    than an epoch of ``fit(solver="sgd")`` (``benchmarks/results/notes.md``)."""
    model = SoftmaxRegressionClassifier(**model_kwargs)
    times, accs = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        model.partial_fit(X, y, classes=classes)
        times.append(time.perf_counter() - start)
        accs.append(float(model.score(X_test, y_test)))
    return times, accs


def bench_k(K, scale, sampled, sampler, epochs, full_epochs, batch_size, seed=0):
    n = max(1000, int(N * scale))
    X, y, X_test, y_test = make_data(n, K, seed)
    classes = np.arange(K)
    common = {"solver": "sgd", "batch_size": batch_size, "random_state": seed, "C": 1e4}
    t_s, acc_s = epochs_of(
        {**common, "n_sampled_classes": sampled, "sampler": sampler},
        X,
        y,
        X_test,
        y_test,
        epochs,
        classes,
    )
    t_f, acc_f = epochs_of(common, X, y, X_test, y_test, full_epochs, classes)
    full_time = float(np.sum(t_f))
    within = np.cumsum(t_s) <= full_time
    acc_same_time = acc_s[int(np.flatnonzero(within)[-1])] if within.any() else None
    same = min(epochs, full_epochs)
    return {
        "K": K,
        "n_train": int(X.shape[0]),
        "n_sampled_classes": sampled,
        "sampler": sampler,
        "epoch_time_sampled": float(np.median(t_s)),
        "epoch_time_full": float(np.median(t_f)),
        "speedup": float(np.median(t_f) / np.median(t_s)),
        "epochs_compared": same,
        "acc_sampled_same_epochs": acc_s[same - 1],
        "acc_full_same_epochs": acc_f[same - 1],
        "acc_sampled_per_epoch": acc_s,
        "acc_full_per_epoch": acc_f,
        "full_wall_time": full_time,
        "acc_sampled_same_time": acc_same_time,
        "majority_class_acc": float(np.mean(y_test == 0)),
    }


def markdown(results, meta):
    lines = [
        *shared_machine_header(meta),
        f"Synthetic Zipf classes, d={D}, n={meta['n']} (80% train), batch_size "
        f"{meta['batch_size']}. Epochs are `partial_fit` passes over the training rows.",
        "",
        "| K | sampled | epoch full [s] | epoch sampled [s] | speedup | epochs | acc full "
        "| acc sampled | acc sampled at full's wall time | majority class |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        same_time = r["acc_sampled_same_time"]
        lines.append(
            f"| {r['K']} | {r['n_sampled_classes']} ({r['sampler']}) | "
            f"{r['epoch_time_full']:.2f} | "
            f"{r['epoch_time_sampled']:.3f} | {r['speedup']:.1f}x | {r['epochs_compared']} | "
            f"{r['acc_full_same_epochs']:.4f} | {r['acc_sampled_same_epochs']:.4f} | "
            + (f"{same_time:.4f}" if same_time is not None else "n/a")
            + f" | {r['majority_class_acc']:.4f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="fraction of n=200,000")
    parser.add_argument("--classes", default="10000,100000")
    parser.add_argument("--sampled", type=int, default=256, help="n_sampled_classes")
    parser.add_argument("--sampler", default="uniform", help="the sampled softmax's sampler")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--full-epochs",
        default="5",
        help="epochs of the full softmax, one number or one per --classes entry",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    add_out_argument(parser)
    args = parser.parse_args(argv)
    n = max(1000, int(N * args.scale))
    meta = run_meta(argv, n=n, batch_size=args.batch_size)
    results = []
    with output_folder(args.out, "sampled") as out, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Ks = [int(k) for k in args.classes.split(",")]
        full_epochs = [int(e) for e in args.full_epochs.split(",")]
        if len(full_epochs) == 1:
            full_epochs = full_epochs * len(Ks)
        for K, full in zip(Ks, full_epochs, strict=True):
            results.append(
                bench_k(
                    K, args.scale, args.sampled, args.sampler, args.epochs, full, args.batch_size
                )
            )
            r = results[-1]
            print(
                f"K={K}: epoch {r['epoch_time_full']:.2f}s full, {r['epoch_time_sampled']:.3f}s "
                f"sampled ({r['speedup']:.1f}x); acc {r['acc_full_same_epochs']:.4f} full, "
                f"{r['acc_sampled_same_epochs']:.4f} sampled",
                flush=True,
            )
            write_results(out, "sampled", meta, results, markdown, None)
    return results


if __name__ == "__main__":
    main()
