"""The ``softmax-sk`` command: fit, predict and evaluate on CSV and Parquet files.

    softmax-sk fit DATA --target COLUMN --model MODEL [--C 1 --l1-ratio 0 --solver auto]
    softmax-sk predict MODEL DATA --out PREDICTIONS [--proba]
    softmax-sk evaluate MODEL DATA [--target COLUMN] [--json]

Numeric columns are standardised and the others (text, categories, booleans)
one-hot encoded by a pipeline saved with the model (``_cli_model``). A user
mistake prints ``softmax-sk: error: <what> — <what to do>`` and exits with 2
(the command line: an option, a path, a column name) or 1 (a file's contents);
never a traceback. Needs the ``cli`` extra (pandas, skops, pyarrow).
"""

import argparse
import contextlib
import math
import os
import sys
import threading
import time
import warnings
from pathlib import Path

from . import __version__
from ._cli_data import UserError

PROG = "softmax-sk"


# -- progress --------------------------------------------------------------------
class Progress:
    """A line on stderr with the elapsed time while a fit runs, redrawn at most every ``every`` s.

    It appears only after ``delay`` seconds (short fits print nothing). On a
    terminal the line is redrawn in place; elsewhere (``--progress`` into a log)
    one line is written every ``log_every`` seconds.
    """

    def __init__(self, label, stream, *, delay=0.5, every=0.2, log_every=5.0):
        self.label, self.stream = label, stream
        self.delay, self.every, self.log_every = delay, every, log_every
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._shown = False

    def __enter__(self):
        self._start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        if self._shown and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def _run(self):
        if self._done.wait(self.delay):
            return
        spinner = "|/-\\"
        tick, last_log = 0, -self.log_every
        while not self._done.is_set():
            elapsed = time.perf_counter() - self._start
            if self.tty:
                self.stream.write(f"\r{PROG}: {self.label} {spinner[tick % 4]} {elapsed:.1f} s")
                tick += 1
            elif elapsed - last_log >= self.log_every:
                self.stream.write(f"{PROG}: {self.label}... {elapsed:.0f} s\n")
                last_log = elapsed
            self.stream.flush()
            self._shown = True
            self._done.wait(self.every)


# -- commands --------------------------------------------------------------------
def _same_file(a, b):
    """Whether two command-line paths name one file (``-``, stdin or stdout, none)."""
    return "-" not in (str(a), str(b)) and Path(a).resolve() == Path(b).resolve()


def _fit(args):
    from sklearn.exceptions import ConvergenceWarning

    from ._cli_data import (
        build_pipeline,
        check_complete,
        need,
        read_table,
        split_columns,
        target_values,
    )
    from ._cli_model import save_model
    from ._estimator import SoftmaxRegressionClassifier
    from ._solvers import SOLVERS

    need("skops.io")  # before a long fit, not after it
    penalised_l1 = args.l1_ratio > 0 and math.isfinite(args.C)
    if penalised_l1 and args.solver != "auto" and not SOLVERS[args.solver].handles_l1:
        able = ", ".join(name for name, entry in SOLVERS.items() if entry.handles_l1)
        raise UserError(
            f"--solver {args.solver} handles only the L2 penalty, but --l1-ratio is "
            f"{args.l1_ratio:g}",
            f"use --solver auto or one of {able} (or --l1-ratio 0)",
            code=2,
        )
    folder = Path(args.model).resolve().parent
    if not folder.is_dir():
        raise UserError(
            f"the folder of --model {args.model!r} does not exist", "create it first", code=2
        )
    if _same_file(args.model, args.data):
        raise UserError(
            f"--model {args.model!r} is the data file", "name another file for the model", code=2
        )
    frame = read_table(args.data)
    y = target_values(frame, args.target, args.data)
    columns = split_columns(frame, args.target, args.drop)
    names = columns["numeric"] + columns["categorical"]
    check_complete(frame, names, args.data)
    n_classes = len(set(y.tolist()))
    if n_classes < 2:
        raise UserError(
            f"target column {args.target!r} of {args.data!r} has a single class "
            f"({y[0]!r}); a classifier needs at least two",
            "give data with at least two classes",
        )
    classifier = SoftmaxRegressionClassifier(
        C=args.C,
        l1_ratio=args.l1_ratio,
        solver=args.solver,
        max_iter=args.max_iter,
        tol=args.tol,
        class_weight=args.class_weight,
        n_jobs=args.n_jobs,
    )
    pipeline = build_pipeline(columns, classifier)
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    label = f"fitting {len(frame)} rows, {len(names)} columns, {n_classes} classes"
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            with Progress(label, sys.stderr) if show else contextlib.nullcontext():
                pipeline.fit(frame[names], y)
        except ValueError as exc:  # the estimator's parameter and data checks
            raise UserError(f"the fit failed: {exc}", "change the options or the data") from None
    seconds = time.perf_counter() - start
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            print(f"{PROG}: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    save_model(args.model, pipeline, args.target, columns)
    fitted = pipeline.named_steps["classifier"]
    print(
        f"fitted {len(frame)} rows in {seconds:.2f} s: {n_classes} classes, "
        f"{len(columns['numeric'])} numeric and {len(columns['categorical'])} categorical "
        f"columns, solver {fitted.solver_}, {int(fitted.n_iter_[0])} iterations, "
        f"{'converged' if converged else 'NOT converged'}; "
        f"training accuracy {pipeline.score(frame[names], y):.4f}"
    )
    print(f"model saved to {args.model}")
    return 0


def _predict(args):
    from ._cli_data import features, need, read_table, write_table
    from ._cli_model import load_model

    pd = need("pandas")
    for given, name in ((args.data, "DATA"), (args.model, "MODEL")):
        if _same_file(args.out, given):
            raise UserError(f"--out {args.out!r} is the {name} file", "name another file", code=2)
    model = load_model(args.model)
    frame = read_table(args.data)
    X = features(frame, model["columns"], args.data)
    pipeline = model["pipeline"]
    out = pd.DataFrame({model["target"]: _apply(pipeline.predict, X, args.data)})
    if args.proba:
        proba = _apply(pipeline.predict_proba, X, args.data)
        for k, label in enumerate(pipeline.classes_):
            out[f"proba_{label}"] = proba[:, k]
    write_table(out, args.out)
    if args.out != "-":
        print(f"{len(out)} predictions written to {args.out}")
    return 0


def _evaluate(args):
    import numpy as np
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        log_loss,
        precision_recall_fscore_support,
    )

    from ._cli_data import features, read_table, target_values
    from ._cli_model import load_model

    model = load_model(args.model)
    target = args.target or model["target"]
    frame = read_table(args.data)
    y = target_values(frame, target, args.data)
    X = features(frame, model["columns"], args.data)
    pipeline = model["pipeline"]
    classes = pipeline.classes_
    kinds = ["numbers" if np.asarray(a).dtype.kind in "biuf" else "text" for a in (y, classes)]
    if kinds[0] != kinds[1]:
        raise UserError(
            f"column {target!r} of {args.data!r} holds {kinds[0]}, but the model's classes "
            f"are {kinds[1]} ({', '.join(map(str, classes[:5]))})",
            "give the column of true classes the model was fitted to predict",
        )
    y_pred = _apply(pipeline.predict, X, args.data)
    unseen = sorted(set(y.tolist()) - set(classes.tolist()), key=str)
    labels = list(classes.tolist()) + unseen
    precision, recall, _, support = precision_recall_fscore_support(
        y, y_pred, labels=labels, zero_division=0.0
    )
    proba = None if unseen else _apply(pipeline.predict_proba, X, args.data)
    loss = None if unseen else float(log_loss(y, proba, labels=classes))
    report = {
        "rows": int(len(y)),
        "accuracy": float(accuracy_score(y, y_pred)),
        "log_loss": loss,
        "classes": [_plain(c) for c in labels],
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "support": [int(v) for v in support],
        "confusion_matrix": confusion_matrix(y, y_pred, labels=labels).tolist(),
        "unseen_classes": [_plain(c) for c in unseen],
    }
    if args.json:
        import json

        print(json.dumps(report))
        return 0
    print(f"rows      {report['rows']}")
    print(f"accuracy  {report['accuracy']:.6f}")
    print(
        f"log-loss  {'undefined (classes the model never saw)' if loss is None else f'{loss:.6f}'}"
    )
    width = max(len(str(c)) for c in labels + ["class"])
    print(f"\n{'class':>{width}s} {'precision':>9s} {'recall':>9s} {'support':>8s}")
    for c, p, r, s in zip(labels, precision, recall, support, strict=True):
        print(f"{str(c):>{width}s} {p:9.4f} {r:9.4f} {int(s):8d}")
    matrix = np.asarray(report["confusion_matrix"])
    cell = max(len(str(matrix.max())), *(len(str(c)) for c in labels))
    print("\nconfusion matrix (rows: true class, columns: predicted class)")
    print(" " * width + " " + " ".join(f"{str(c):>{cell}s}" for c in labels))
    for c, row in zip(labels, matrix, strict=True):
        print(f"{str(c):>{width}s} " + " ".join(f"{v:>{cell}d}" for v in row))
    if unseen:
        print(
            f"\n{PROG}: warning: {len(unseen)} classes of {args.data!r} were not in the "
            f"training data ({unseen}); their rows count as errors",
            file=sys.stderr,
        )
    return 0


def _apply(method, X, source):
    """``method(X)``, with scikit-learn's complaints about the data (inf, say) as a user error."""
    try:
        return method(X)
    except ValueError as exc:
        raise UserError(f"cannot apply the model to {source!r}: {exc}", "check the data") from None


def _plain(value):
    """A JSON-ready label (numpy scalars to Python ones)."""
    return value.item() if hasattr(value, "item") else value


# -- argument parsing --------------------------------------------------------------
def _number(kind, low, high, low_open=False):
    """An argparse type: a ``kind`` number in [low, high] (``(low, high]`` if ``low_open``)."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (value > low if low_open else value >= low) or value > high or value != value:
            bounds = f"{'(' if low_open else '['}{low}, {high}]"
            raise argparse.ArgumentTypeError(f"{text} is not in {bounds}")
        return value

    return parse


def _threads(text):
    """An argparse type for ``--n-jobs``: a nonzero integer (negative: all CPUs but some)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("0 threads: give a count, or -1 for all CPUs")
    return value


def _parser():
    from ._solvers import SOLVERS

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fit, apply and evaluate softmax regression models on CSV and Parquet "
        "files. (The demo is `python -m softmax_sk`.)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="fit a model on a table and save it",
        description="Fit a model: numeric columns standardised, the others one-hot encoded.",
    )
    fit.add_argument("data", metavar="DATA", help="training data (.csv, .csv.gz, .parquet)")
    fit.add_argument("--target", required=True, metavar="COLUMN", help="the column to predict")
    fit.add_argument("--model", required=True, metavar="OUT", help="model file to write")
    fit.add_argument(
        "--drop", action="append", default=[], metavar="COLUMN", help="a column not to use"
    )
    fit.add_argument(
        "--C",
        type=_number(float, 0, math.inf, low_open=True),
        default=1.0,
        help="inverse penalty strength (inf: none)",
    )
    fit.add_argument(
        "--l1-ratio", type=_number(float, 0, 1), default=0.0, help="L1 share of the penalty"
    )
    fit.add_argument("--solver", choices=["auto", *SOLVERS], default="auto")
    fit.add_argument("--max-iter", type=_number(int, 0, math.inf), default=100)
    fit.add_argument("--tol", type=_number(float, 0, math.inf), default=1e-4)
    fit.add_argument("--class-weight", choices=["balanced"], default=None)
    fit.add_argument("--n-jobs", type=_threads, default=None, help="threads (-1: all CPUs)")
    fit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the elapsed time of a long fit on stderr (default: when stderr is a terminal)",
    )
    fit.set_defaults(run=_fit)

    predict = commands.add_parser(
        "predict",
        help="predict classes (and probabilities) for a table",
        description="Write one row per input row: the predicted class in a column named "
        "after the target, and with --proba a column proba_<class> per class.",
    )
    predict.add_argument("model", metavar="MODEL", help="model file written by fit")
    predict.add_argument("data", metavar="DATA", help="data with the model's feature columns")
    predict.add_argument(
        "--out", required=True, metavar="PREDICTIONS", help=".csv or .parquet file; - for stdout"
    )
    predict.add_argument("--proba", action="store_true", help="add class probabilities")
    predict.set_defaults(run=_predict)

    evaluate = commands.add_parser(
        "evaluate",
        help="accuracy, log-loss, per-class precision/recall, confusion matrix",
        description="Evaluate a model on labelled data.",
    )
    evaluate.add_argument("model", metavar="MODEL", help="model file written by fit")
    evaluate.add_argument("data", metavar="DATA", help="labelled data")
    evaluate.add_argument(
        "--target", metavar="COLUMN", default=None, help="true classes (default: as in fit)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    evaluate.set_defaults(run=_evaluate)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`| head`): nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit's flush does not fail
        return 141


if __name__ == "__main__":
    sys.exit(main())
