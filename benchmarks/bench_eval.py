"""One objective+gradient evaluation against its two matrix products (the hardware floor).

    python benchmarks/bench_eval.py
    python benchmarks/bench_eval.py --n 20000 --repeats 5

For each shape, times (median of ``--repeats``, one process) softmax-sk's
``SoftmaxLoss.loss_gradient`` as a fit runs it by default (``n_jobs=None``:
one thread per core over row blocks, BLAS single-threaded in each, where
``resolve_threads`` finds that pays) and on one thread (BLAS left with its
threads), scikit-learn's ``LinearModelLoss.loss_gradient`` on
the same data and coefficients, and the two products ``X @ W`` and
``X.T @ G`` alone (BLAS with its default threads); where the compiled kernels
(``softmax_sk._kernels``: exp and the fused softmax rows) are built, also the
default evaluation with numpy's softmax instead. The ratio eval / products
is how far one pass is from the time its unavoidable BLAS work takes. Writes
``<out>/eval.json`` and ``eval.md``; ``<out>`` is a fresh
``benchmarks/runs/bench_eval-<UTC time>/`` unless ``--out`` names one.
"""

import argparse
import json
import time

import numpy as np
from bench_fit import add_out_argument, machine_line, output_folder, run_meta
from sklearn._loss.loss import HalfMultinomialLoss
from sklearn.linear_model._linear_loss import LinearModelLoss

from softmax_sk import _softmax
from softmax_sk._engine import resolve_threads
from softmax_sk._layout import Layout
from softmax_sk._loss import SoftmaxLoss


def median_time(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_shape(n, d, k, dtype, repeats):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(dtype)
    y = rng.integers(0, k, size=n)
    sw = np.ones(n)
    layout = Layout(d, k, True)
    ours = SoftmaxLoss(X, y, sw, layout)
    threaded = SoftmaxLoss(X, y, sw, layout, n_threads=resolve_threads(None, heavy=k > 32))
    w = rng.normal(size=layout.size) * 0.01
    W = w.reshape(d + 1, k)[:d].astype(dtype)
    G = rng.normal(size=(n, k)).astype(dtype)

    sk = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=k), fit_intercept=True)
    w_sk = np.asfortranarray(w.reshape(d + 1, k).T).astype(dtype)  # (k, d + 1)
    y_sk = y.astype(dtype)

    t_products = median_time(lambda: (X @ W, X.T @ G), repeats)
    t_ours = median_time(lambda: ours.loss_gradient(w), repeats)
    with threaded.running():
        t_threaded = median_time(lambda: threaded.loss_gradient(w), repeats)
    t_numpy = None  # the same, with numpy's softmax instead of the compiled kernels
    if _softmax._kernels is not None:
        compiled, _softmax._kernels = _softmax._kernels, None
        try:
            with threaded.running():
                t_numpy = median_time(lambda: threaded.loss_gradient(w), repeats)
        finally:
            _softmax._kernels = compiled
    t_sk = median_time(lambda: sk.loss_gradient(w_sk, X, y_sk, None, l2_reg_strength=0.0), repeats)
    return {
        "shape": [n, d, k],
        "dtype": np.dtype(dtype).name,
        "products_s": t_products,
        "softmax_sk_s": t_threaded,
        "softmax_sk_numpy_s": t_numpy,
        "softmax_sk_one_thread_s": t_ours,
        "sklearn_s": t_sk,
        "softmax_sk_over_products": t_threaded / t_products,
        "softmax_sk_one_thread_over_products": t_ours / t_products,
        "sklearn_over_products": t_sk / t_products,
        "softmax_sk_over_sklearn": t_threaded / t_sk,
    }


def markdown_table(rows):
    lines = [
        "| n x d, K | dtype | X@W + X.T@G [ms] | softmax-sk default [ms] "
        "| softmax-sk 1 thread [ms] | default, numpy softmax [ms] "
        "| sklearn [ms] | softmax-sk / products | 1 thread / products | numpy softmax / products "
        "| sklearn / products | softmax-sk / sklearn |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        n, d, k = r["shape"]
        numpy, numpy_ratio = "-", "-"  # no compiled kernels to compare with
        if r["softmax_sk_numpy_s"] is not None:
            numpy = f"{1e3 * r['softmax_sk_numpy_s']:.1f}"
            numpy_ratio = f"{r['softmax_sk_numpy_s'] / r['products_s']:.2f}"
        lines.append(
            f"| {n}x{d}, {k} | {r['dtype']} | {1e3 * r['products_s']:.1f} | "
            f"{1e3 * r['softmax_sk_s']:.1f} | {1e3 * r['softmax_sk_one_thread_s']:.1f} | "
            f"{numpy} | {1e3 * r['sklearn_s']:.1f} | {r['softmax_sk_over_products']:.2f} | "
            f"{r['softmax_sk_one_thread_over_products']:.2f} | {numpy_ratio} | "
            f"{r['sklearn_over_products']:.2f} | {r['softmax_sk_over_sklearn']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    add_out_argument(parser)
    args = parser.parse_args(argv)
    shapes = [(args.n, 100, 10), (args.n // 2, 784, 10), (args.n // 2, 100, 1000)]
    meta = run_meta(argv)
    with output_folder(args.out, "eval") as out:
        rows = [
            bench_shape(n, d, k, dt, args.repeats)
            for n, d, k in shapes
            for dt in (np.float64, np.float32)
        ]
        table = markdown_table(rows)
        print(table)
        (out / "eval.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        (out / "eval.md").write_text(
            f"Command: `{meta['command']}`\n\n{machine_line(meta)}\n\n{table}\n"
        )
    return rows


if __name__ == "__main__":
    main()
