"""partial_fit on a stream: softmax-sk (multinomial) against SGDClassifier(loss="log_loss") (OvR).

    python benchmarks/bench_stream.py
    python benchmarks/bench_stream.py --n 100000 --epochs 10 --chunk 2000

The same stream for both: every epoch, the training rows in a fresh shuffled
order (one generator, shared), cut into chunks of ``--chunk`` rows, each fed to
``partial_fit``. The data: ``bench_fit.py``'s ``dense_100k_100`` (Gaussian
features, labels from a random softmax teacher, 10 classes), 80% train, 20%
test. The penalties match: softmax-sk's ``C=1`` read per weight seen
(``partial_fit``) and scikit-learn's ``alpha = 1 / n_train`` per sample,
both ``1 / (C n)`` after one epoch. Reported per epoch: test log-loss, test
accuracy and cumulative time; and the batch optimum's test log-loss and
accuracy (softmax-sk, ``tol=1e-8``), the floor for the multinomial model.
Writes ``<out>/stream.json`` and ``stream.md``.
"""

import argparse
import time
import warnings

import numpy as np
from bench_fit import (
    add_out_argument,
    make_dataset,
    output_folder,
    run_meta,
    shared_machine_header,
    write_results,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss

from softmax_sk import SoftmaxRegressionClassifier


def run(n, epochs, chunk, seed=0):
    X, y = make_dataset("dense_100k_100", n / 100_000, seed=seed)
    cut = int(0.8 * len(y))
    X, y, X_test, y_test = X[:cut], y[:cut], X[cut:], y[cut:]
    classes = np.unique(y)
    models = {
        "softmax-sk partial_fit (multinomial)": SoftmaxRegressionClassifier(
            C=1.0, random_state=seed
        ),
        "SGDClassifier(loss='log_loss') partial_fit (OvR)": SGDClassifier(
            loss="log_loss", alpha=1.0 / len(y), random_state=seed
        ),
    }
    curves = {name: {"log_loss": [], "accuracy": [], "time": []} for name in models}
    clock = dict.fromkeys(models, 0.0)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for a in range(0, len(y), chunk):
            rows = order[a : a + chunk]
            for name, model in models.items():
                start = time.perf_counter()
                model.partial_fit(X[rows], y[rows], classes=classes)
                clock[name] += time.perf_counter() - start
        for name, model in models.items():
            curves[name]["log_loss"].append(float(log_loss(y_test, model.predict_proba(X_test))))
            curves[name]["accuracy"].append(float(model.score(X_test, y_test)))
            curves[name]["time"].append(clock[name])
    best = SoftmaxRegressionClassifier(C=1.0, tol=1e-8, max_iter=10_000).fit(X, y)
    return {
        "n_train": int(len(y)),
        "chunk": chunk,
        "curves": curves,
        "batch_optimum": {
            "log_loss": float(log_loss(y_test, best.predict_proba(X_test))),
            "accuracy": float(best.score(X_test, y_test)),
        },
    }


def markdown(results, meta):
    r = results[0]
    names = list(r["curves"])
    lines = [
        *shared_machine_header(meta),
        f"dense_100k_100, {r['n_train']} training rows in chunks of {r['chunk']}, the same "
        f"shuffled stream for both. Batch optimum (softmax-sk, tol=1e-8): test log-loss "
        f"{r['batch_optimum']['log_loss']:.4f}, accuracy {r['batch_optimum']['accuracy']:.4f}.",
        "",
        "| epoch | " + " | ".join(f"{n}: log-loss / acc / time [s]" for n in names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for e in range(len(r["curves"][names[0]]["log_loss"])):
        cells = [
            f"{c['log_loss'][e]:.4f} / {c['accuracy'][e]:.4f} / {c['time'][e]:.2f}"
            for c in (r["curves"][n] for n in names)
        ]
        lines.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="rows (train + test)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=2000, help="rows per partial_fit call")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    meta = run_meta(argv)
    with output_folder(args.out, "stream") as out, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = [run(args.n, args.epochs, args.chunk)]
        write_results(out, "stream", meta, results, markdown, None)
        print(markdown(results, meta))
    return results


if __name__ == "__main__":
    main()
