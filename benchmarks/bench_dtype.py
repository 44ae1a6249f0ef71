"""float32 against float64 input: the same fits, timed in the same rounds.

    python benchmarks/bench_dtype.py --scale 0.2

For each dense dataset (those of ``bench_fit.py``), the training data is
fitted as float64 and as its float32 copy, each to a relative suboptimality of
1e-6 of its own reference optimum, by softmax-sk's default fit and by
scikit-learn's ``--sklearn-solvers`` (lbfgs, the solver that keeps float32,
by default). The fits are found and timed as in ``bench_fit.py`` (loosest tol
that reaches the target; then fresh fits in rounds), but with both dtypes in
the same rounds: a comparison of two rows of ``fit.md``, timed minutes apart
on a shared machine, moved between 1.4x and 2.8x from run to run. The
speedup is time(float64) / time(float32); time per pass (loss+gradient or
Hessian-vector evaluation) separates the cost of a pass from how many a fit
takes. Writes ``<out>/dtype.json`` and ``dtype.md``; ``<out>`` is a fresh
``benchmarks/runs/bench_dtype-<UTC time>/`` unless ``--out`` names one.
"""

import argparse

import numpy as np
from bench_fit import (
    DATASETS,
    TARGET,
    add_out_argument,
    machine_line,
    make_dataset,
    output_folder,
    reference_optimum,
    run_meta,
    search_tol,
    time_in_rounds,
    write_results,
)

DTYPES = ["float64", "float32"]


def bench_dataset(name, scale, repeats, budget, sk_solvers, C=1.0):
    X, y = make_dataset(name, scale)
    n_train = int(0.8 * X.shape[0])
    X, y = X[:n_train], y[:n_train]
    contenders = [("softmax-sk", "auto")] + [("sklearn", s) for s in sk_solvers]
    found, data = {}, {}
    for dtype in DTYPES:
        Xd = X.astype(dtype)
        f_star = reference_optimum(Xd, y, C)
        for kind, solver in contenders:
            label = f"{kind} {solver} {dtype}"
            data[label] = (Xd, y)
            found[label] = (kind, solver, search_tol(kind, solver, C, Xd, y, f_star, budget))
    time_in_rounds(found, C, data, repeats)

    rows = []
    for kind, solver in contenders:
        row = {"contender": f"{kind} {solver}"}
        for dtype in DTYPES:
            fit = found[f"{kind} {solver} {dtype}"][2]
            seconds = float(np.median(fit["times"]))
            row[dtype] = {
                "tol": fit["tol"],
                "reached": fit["reached"],
                "suboptimality": fit["suboptimality"],
                "seconds": seconds,
                "runs": len(fit["times"]),
                "passes": fit["passes"],
                "seconds_per_pass": seconds / max(fit["passes"], 1),
                "coef_dtype": str(fit["model"].coef_.dtype),
            }
        both = all(row[dtype]["reached"] for dtype in DTYPES)
        row["speedup"] = row["float64"]["seconds"] / row["float32"]["seconds"] if both else None
        rows.append(row)
    return {
        "dataset": name,
        "shape": list(X.shape),
        "n_classes": int(np.unique(y).size),
        "rows": rows,
    }


def markdown(results, meta=None):
    lines = [f"Command: `{meta['command']}`", "", machine_line(meta), ""] if meta else []
    lines += [
        "| dataset | n x d, K | contender | float64 [s] | float32 [s] | passes float64 / float32 "
        "| ms per pass float64 / float32 | speedup float64 / float32 |",
        "| --- " * 8 + "|",
    ]
    for res in results:
        for r in res["rows"]:
            f64, f32 = r["float64"], r["float32"]

            def time_cell(fit):
                return f"{fit['seconds']:.3f}" + ("" if fit["reached"] else " (missed 1e-6)")

            speedup = "n/a" if r["speedup"] is None else f"**{r['speedup']:.2f}**"
            lines.append(
                f"| {res['dataset']} | {res['shape'][0]}x{res['shape'][1]}, {res['n_classes']} "
                f"| {r['contender']} | {time_cell(f64)} | {time_cell(f32)} "
                f"| {f64['passes']} / {f32['passes']} "
                f"| {1e3 * f64['seconds_per_pass']:.2f} / {1e3 * f32['seconds_per_pass']:.2f} "
                f"| {speedup} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dense = [name for name in DATASETS.split(",") if not name.startswith("sparse")]
    parser.add_argument("--datasets", default=",".join(dense))
    parser.add_argument("--scale", type=float, default=0.2, help="fraction of the full n")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds one fit may take before a contender stops tightening tol",
    )
    parser.add_argument("--sklearn-solvers", default="lbfgs", help="comma-separated, or none")
    add_out_argument(parser)
    args = parser.parse_args(argv)

    sk_solvers = [] if args.sklearn_solvers == "none" else args.sklearn_solvers.split(",")
    meta = run_meta(argv, target_suboptimality=TARGET)
    results = []
    with output_folder(args.out, "dtype") as out:
        for name in args.datasets.split(","):
            results.append(bench_dataset(name, args.scale, args.repeats, args.budget, sk_solvers))
            print(markdown(results[-1:]), flush=True)
            write_results(out, "dtype", meta, results, markdown, None)
    return results


if __name__ == "__main__":
    main()
