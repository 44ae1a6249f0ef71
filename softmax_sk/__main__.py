"""Demo: fit softmax-sk and scikit-learn's LogisticRegression side by side on digits.

    python -m softmax_sk            # or: softmax-sk-demo

Prints test accuracy, test log-loss, iterations and the median fit time of
each, on the same standardised train/test split of ``load_digits``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from . import SoftmaxRegressionClassifier


def _median_fit(make, X, y, repeats):
    times, model = [], None
    for _ in range(repeats):
        model = make()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        times.append(time.perf_counter() - start)
    return model, float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fits per model (median time)")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    print(
        f"load_digits: {X_train.shape[0]} train / {X_test.shape[0]} test samples, "
        f"{X.shape[1]} features, {np.unique(y).size} classes, C={args.C}"
    )

    models = {
        "softmax-sk (default)": lambda: SoftmaxRegressionClassifier(C=args.C),
        "scikit-learn LogisticRegression": lambda: LogisticRegression(C=args.C),
    }
    rows = []
    for name, make in models.items():
        model, seconds = _median_fit(make, X_train, y_train, args.repeats)
        rows.append(
            (
                name,
                accuracy_score(y_test, model.predict(X_test)),
                log_loss(y_test, model.predict_proba(X_test)),
                int(model.n_iter_[0]),
                seconds,
            )
        )
    print(f"{'model':34s} {'accuracy':>9s} {'log-loss':>9s} {'iters':>6s} {'fit [ms]':>9s}")
    for name, acc, ll, it, sec in rows:
        print(f"{name:34s} {acc:9.4f} {ll:9.4f} {it:6d} {1e3 * sec:9.1f}")
    print(
        f"fit time ratio softmax-sk / scikit-learn: {rows[0][4] / rows[1][4]:.2f} "
        f"(median of {args.repeats}, same process)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
