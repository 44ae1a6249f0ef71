"""``n_jobs``: one thread per core against one, for fits alone and inside cross-validation.

    python benchmarks/bench_threads.py --scale 0.2

For each dataset (those of ``bench_fit.py``) and dtype, softmax-sk's default
fit is timed with ``n_jobs=1`` (one thread; BLAS with its own threads) and
``n_jobs=-1`` (one thread per core over row blocks; BLAS single-threaded in
each), in two patterns:

* back to back: fits one after the other;
* after predict: each fit follows a ``predict_proba`` on X, as the scoring
  step of cross-validation or a grid search puts one before every fit. That
  product wakes OpenBLAS's threads, which keep spinning for a while after it
  (about 0.1-0.5 s here) and compete with the fit's own threads for the cores.

Each setting runs as a block of ``--repeats`` fits (median), in both orders,
all in this one process; the ratio is n_jobs=-1 / n_jobs=1 (below 1: the
threads pay). Also recorded: what ``n_jobs=None`` resolves to. Writes
``<out>/threads.json`` and ``threads.md``; ``<out>`` is a fresh
``benchmarks/runs/bench_threads-<UTC time>/`` unless ``--out`` names one.
"""

import argparse
import time

import numpy as np
import scipy.sparse as sp
from bench_fit import (
    DATASETS,
    add_out_argument,
    machine_line,
    make_dataset,
    output_folder,
    run_meta,
    write_results,
)

from softmax_sk import SoftmaxRegressionClassifier
from softmax_sk._engine import resolve_threads

PATTERNS = ["back to back", "after predict"]


def time_block(X, y, n_jobs, pattern, repeats):
    model = SoftmaxRegressionClassifier(n_jobs=n_jobs).fit(X, y)  # warm-up
    times = []
    for _ in range(repeats):
        if pattern == "after predict":
            model.predict_proba(X)
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_dataset(name, dtype, scale, repeats):
    X, y = make_dataset(name, scale)
    X = X.astype(dtype)
    n_classes = np.unique(y).size
    row = {
        "dataset": name,
        "dtype": np.dtype(dtype).name,
        "shape": list(X.shape),
        "sparse": sp.issparse(X),
        "n_classes": int(n_classes),
        "default_threads": resolve_threads(None, heavy=sp.issparse(X) or n_classes > 32),
    }
    for pattern in PATTERNS:
        one, all_cores = [], []
        for n_jobs in (1, -1, -1, 1):  # both orders
            (one if n_jobs == 1 else all_cores).append(time_block(X, y, n_jobs, pattern, repeats))
        row[pattern] = {
            "one_thread_s": float(np.median(one)),
            "all_cores_s": float(np.median(all_cores)),
            "ratio": float(np.median(all_cores) / np.median(one)),
        }
    return row


def markdown(results, meta=None):
    lines = [f"Command: `{meta['command']}`", "", machine_line(meta), ""] if meta else []
    lines += [
        "| dataset | dtype | n x d, K | n_jobs=None uses | "
        + " | ".join(f"{p}: 1 thread [s] | {p}: all cores [s] | {p}: ratio" for p in PATTERNS)
        + " |",
        "| --- " * (4 + 3 * len(PATTERNS)) + "|",
    ]
    for r in results:
        cells = [
            r["dataset"],
            r["dtype"],
            f"{r['shape'][0]}x{r['shape'][1]}{' CSR' if r['sparse'] else ''}, {r['n_classes']}",
            f"{r['default_threads']} thread{'s' if r['default_threads'] > 1 else ''}",
        ]
        for p in PATTERNS:
            cells += [
                f"{r[p]['one_thread_s']:.4f}",
                f"{r[p]['all_cores_s']:.4f}",
                f"{r[p]['ratio']:.2f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=DATASETS)
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--scale", type=float, default=0.2, help="fraction of the full n")
    parser.add_argument("--repeats", type=int, default=7)
    add_out_argument(parser)
    args = parser.parse_args(argv)

    meta = run_meta(argv)
    results = []
    with output_folder(args.out, "threads") as out:
        for name in args.datasets.split(","):
            for dtype in args.dtypes.split(","):
                results.append(bench_dataset(name, np.dtype(dtype), args.scale, args.repeats))
                print(markdown(results[-1:]), flush=True)
                write_results(out, "threads", meta, results, markdown, None)
    return results


if __name__ == "__main__":
    main()
