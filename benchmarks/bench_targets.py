"""What probability targets, label smoothing and offsets cost per evaluation, against labels.

    python benchmarks/bench_targets.py
    python benchmarks/bench_targets.py --n 20000 --rounds 5 --baseline /path/to/other/checkout

Times, in one process and in rounds (each round runs every contender once, in
turn), one ``SoftmaxLoss.loss_gradient`` and one ``gradient_hessp`` followed by
one Hessian-vector product, on one thread, for the same dense data and
coefficients fitted to: integer labels (the common path), labels with
``label_smoothing`` (no dense target array), ``(n, K)`` probability targets,
and labels with an ``(n, K)`` offset (BLAS limited to one thread, which
makes the rounds less sensitive to a loaded machine). With ``--baseline`` (the root of another
checkout of softmax-sk, built in place), that checkout's labels path is timed
in the same rounds under another module name: the check that the labels path
did not slow down. Reports medians and ratios to this tree's labels path.
Writes ``<out>/targets.json`` and ``targets.md``; ``<out>`` is a fresh
``benchmarks/runs/bench_targets-<UTC time>/`` unless ``--out`` names one.
"""

import argparse
import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
from bench_fit import add_out_argument, machine_line, output_folder, run_meta
from threadpoolctl import threadpool_limits

from softmax_sk._layout import Layout
from softmax_sk._loss import SoftmaxLoss


def load_baseline(root):
    """``SoftmaxLoss`` of the checkout at ``root``, imported as ``softmax_sk_baseline``."""
    package = Path(root) / "softmax_sk"
    spec = importlib.util.spec_from_file_location(
        "softmax_sk_baseline", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["softmax_sk_baseline"] = module
    spec.loader.exec_module(module)
    return importlib.import_module("softmax_sk_baseline._loss").SoftmaxLoss


def contenders(n, d, k, dtype, baseline):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(dtype)
    y = rng.integers(0, k, size=n)
    sw = np.ones(n)
    layout = Layout(d, k, True)
    losses = {
        "labels": SoftmaxLoss(X, y, sw, layout),
        "label_smoothing": SoftmaxLoss(X, y, sw, layout, label_smoothing=0.1),
        "y_proba": SoftmaxLoss(X, rng.dirichlet(np.ones(k), size=n), sw, layout),
        "offset": SoftmaxLoss(X, y, sw, layout, offset=rng.normal(size=(n, k))),
    }
    if baseline is not None:
        losses["labels, baseline"] = baseline(X, y, sw, layout)
    w = rng.normal(size=layout.size) * 0.01
    v = rng.normal(size=layout.size)

    def newton_pass(loss):
        loss.gradient_hessp(w)[2](v)

    return {
        name: {
            "loss_gradient": (lambda loss=loss: loss.loss_gradient(w)),
            "gradient_hessp": (lambda loss=loss: newton_pass(loss)),
        }
        for name, loss in losses.items()
    }


def bench_shape(n, d, k, dtype, rounds, baseline):
    fns = contenders(n, d, k, dtype, baseline)
    times = {name: {what: [] for what in ops} for name, ops in fns.items()}
    for ops in fns.values():  # warm-up
        for fn in ops.values():
            fn()
    for _ in range(rounds):
        for name, ops in fns.items():
            for what, fn in ops.items():
                start = time.perf_counter()
                fn()
                times[name][what].append(time.perf_counter() - start)
    medians = {
        name: {what: float(np.median(ts)) for what, ts in ops.items()}
        for name, ops in times.items()
    }
    return {
        "shape": [n, d, k],
        "dtype": np.dtype(dtype).name,
        "median_s": medians,
        "ratio_to_labels": {
            name: {what: t / medians["labels"][what] for what, t in ops.items()}
            for name, ops in medians.items()
        },
    }


def markdown_table(rows):
    lines = [
        "| n x d, K | dtype | contender | loss_gradient [ms] | ratio | gradient_hessp + hessp [ms] "
        "| ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        n, d, k = r["shape"]
        for name, m in r["median_s"].items():
            ratio = r["ratio_to_labels"][name]
            lines.append(
                f"| {n}x{d}, {k} | {r['dtype']} | {name} | {1e3 * m['loss_gradient']:.2f} | "
                f"{ratio['loss_gradient']:.2f} | {1e3 * m['gradient_hessp']:.2f} | "
                f"{ratio['gradient_hessp']:.2f} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--baseline", default=None, help="root of another checkout to compare")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    baseline = load_baseline(args.baseline) if args.baseline else None
    shapes = [(args.n, 100, 10), (args.n, 20, 3)]
    meta = run_meta(argv)
    with output_folder(args.out, "targets") as out, threadpool_limits(1):
        rows = [
            bench_shape(n, d, k, dt, args.rounds, baseline)
            for n, d, k in shapes
            for dt in (np.float64, np.float32)
        ]
        table = markdown_table(rows)
        print(table)
        (out / "targets.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        (out / "targets.md").write_text(
            f"Command: `{meta['command']}`\n\n{machine_line(meta)}\n\n"
            "One thread (BLAS too); medians over rounds; ratios to this tree's labels path. "
            "The machine was shared with other jobs and loaded (load average about 12 on 2 "
            "cores): ratios within about 10-20% of 1, and the sub-millisecond rows, are noise."
            "\n\n"
            f"{table}\n"
        )
    return rows


if __name__ == "__main__":
    main()
