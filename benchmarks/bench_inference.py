"""Standard errors: softmax-sk's ``inference()`` against statsmodels' ``MNLogit`` on the same data.

    python benchmarks/bench_inference.py
    python benchmarks/bench_inference.py --sizes 10000x10x3,100000x20x5 --repeats 3

For each size ``n x d x K`` (rows, features, classes; data drawn from a softmax
model, so the classes overlap and the maximum-likelihood estimate exists),
times in rounds, one of each in turn, the median of ``--repeats``:

* softmax-sk ``inference()`` (nonrobust) on a model fitted at ``C=np.inf,
  tol=1e-8`` (fitting is timed apart: a model is usually fitted anyway);
* softmax-sk's fit plus ``inference()``;
* statsmodels ``MNLogit(y, add_constant(X)).fit(method="newton")``, whose
  result carries the same covariance (statsmodels has no separate step);

and records the largest relative difference of the standard errors. Writes
``<out>/inference.json`` and ``inference.md``; ``--out`` defaults to a fresh
folder under ``benchmarks/runs/`` (git-ignored).
"""

import argparse
import time
import warnings

import numpy as np
from bench_fit import add_out_argument, machine_line, output_folder, run_meta, write_results

from softmax_sk import SoftmaxRegressionClassifier

SIZES = "10000x10x3,10000x20x10,100000x10x3,100000x20x5"
PAUSE_SECONDS = 0.2


def make_data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(scale=0.5 / np.sqrt(d), size=(d, k))
    z = X @ W
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
    return X, y


def median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        time.sleep(PAUSE_SECONDS)
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def bench_size(n, d, k, repeats):
    import statsmodels.api as sm

    X, y = make_data(n, d, k)
    exog = sm.add_constant(X, prepend=False)

    def fit():
        return SoftmaxRegressionClassifier(C=np.inf, tol=1e-8, max_iter=1000).fit(X, y)

    clf = fit()

    def statsmodels_fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.MNLogit(y, exog).fit(method="newton", disp=False, maxiter=100)
        _ = res.bse  # the covariance, computed lazily
        return res

    contenders = {
        "inference": lambda: clf.inference(X, y),
        "fit_inference": lambda: fit().inference(X, y),
        "statsmodels": statsmodels_fit,
    }
    times = {name: [] for name in contenders}
    outputs = {}
    for _ in range(repeats):  # rounds: one of each in turn
        for name, fn in contenders.items():
            t, outputs[name] = median_time(fn, 1)
            times[name].append(t)
    med = {name: float(np.median(v)) for name, v in times.items()}
    ours, theirs = outputs["inference"], outputs["statsmodels"]
    return {
        "n": n,
        "d": d,
        "k": k,
        "n_params": int(ours.params.size),
        "inference_s": med["inference"],
        "fit_inference_s": med["fit_inference"],
        "statsmodels_s": med["statsmodels"],
        "ratio_inference": med["inference"] / med["statsmodels"],
        "ratio_fit_inference": med["fit_inference"] / med["statsmodels"],
        "bse_max_rel_diff": float(np.max(np.abs(ours.bse / theirs.bse - 1))),
    }


def markdown(results, meta=None):
    lines = []
    if meta is not None:
        lines += [
            f"Command: `{meta['command']}`",
            "",
            f"Machine: {machine_line(meta)}; statsmodels {meta.get('statsmodels')}",
            "",
            "Median of the repeats (rounds, one of each in turn). `inference` is "
            "`SoftmaxRegressionClassifier.inference()` on a fitted model; `fit + inference` "
            "adds the fit (`C=np.inf, tol=1e-8`); statsmodels is `MNLogit.fit(method='newton')` "
            "with its covariance.",
            "",
        ]
    lines += [
        "| n | d | K | params | inference [s] | fit + inference [s] | statsmodels [s] "
        "| ratio inference | ratio fit + inference | max rel. diff. bse |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['n']} | {r['d']} | {r['k']} | {r['n_params']} | {r['inference_s']:.3g} "
            f"| {r['fit_inference_s']:.3g} | {r['statsmodels_s']:.3g} "
            f"| {r['ratio_inference']:.2f} | {r['ratio_fit_inference']:.2f} "
            f"| {r['bse_max_rel_diff']:.1e} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=SIZES, help="comma-separated n x d x K")
    parser.add_argument("--repeats", type=int, default=3)
    add_out_argument(parser)
    args = parser.parse_args(argv)
    import statsmodels

    meta = run_meta(argv, statsmodels=statsmodels.__version__)
    results = []
    with output_folder(args.out, "inference") as out:
        for size in args.sizes.split(","):
            n, d, k = (int(v) for v in size.split("x"))
            results.append(bench_size(n, d, k, args.repeats))
            print(markdown(results[-1:]), flush=True)
            write_results(out, "inference", meta, results, markdown, None)
    return results


if __name__ == "__main__":
    main()
