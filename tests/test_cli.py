"""The ``softmax-sk`` command line on CSV and Parquet files written here.

The three commands run once each as a subprocess (as users run them); the error
cases run in-process through ``main`` (the same code, without a new interpreter
per case), and one of them as a subprocess too, for the exit code and the
absence of a traceback in a real process.
"""

import io
import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_score

from softmax_sk import __version__
from softmax_sk._cli import Progress, main
from softmax_sk._cli_model import TRUSTED

CLASSES = np.array(["ash", "birch", "cedar"])


def make_frame(n, seed, colours=("red", "green", "blue")):
    """Three classes told apart by two numbers, a colour (text) and a flag (bool)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    colours = np.array(colours)
    colour = np.where(rng.random(n) < 0.6, colours[k], rng.choice(colours, n))
    return pd.DataFrame(
        {
            "x1": rng.normal(k * 1.0, 1.0),
            "x2": rng.normal(-k * 0.5, 1.0) * 100.0,  # a scale standardising must remove
            "colour": colour,
            "flag": (k == 2) ^ (rng.random(n) < 0.2),
            "species": CLASSES[k],
        }
    )


def cli(*args):
    """Run ``python -m softmax_sk._cli ARGS`` in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "softmax_sk._cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def fit(data, model, *options):
    """``softmax-sk fit DATA --target species --model MODEL`` in-process."""
    argv = ["fit", str(data), "--target", "species", "--model", str(model), "--no-progress"]
    return main([*argv, *options])


def load_pipeline(path):
    return sio.load(path, trusted=list(TRUSTED))["pipeline"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    train, test = make_frame(300, 0), make_frame(120, 1, colours=("red", "green", "purple"))
    train.to_csv(root / "train.csv", index=False)
    test.to_csv(root / "test.csv", index=False)
    parquet = train.assign(colour=train["colour"].astype("category"))
    parquet.to_parquet(root / "train.parquet", index=False)
    test.to_parquet(root / "test.parquet", index=False)
    return root


def test_fit_predict_evaluate_csv_as_subprocesses(files, tmp_path):
    model = tmp_path / "model.skops"
    done = cli("fit", files / "train.csv", "--target", "species", "--model", model, "--C", "0.5")
    assert done.returncode == 0, done.stderr
    assert "model saved to" in done.stdout and "3 classes" in done.stdout

    pipeline = load_pipeline(model)
    assert pipeline.named_steps["classifier"].C == 0.5
    test = pd.read_csv(files / "test.csv")
    X = test[["x1", "x2", "colour", "flag"]]  # "purple" was never seen in training

    out = tmp_path / "predictions.csv"
    done = cli("predict", model, files / "test.csv", "--out", out, "--proba")
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out)
    assert list(written.columns) == ["species", *(f"proba_{c}" for c in CLASSES)]
    np.testing.assert_array_equal(written["species"], pipeline.predict(X))
    np.testing.assert_allclose(written.iloc[:, 1:], pipeline.predict_proba(X), rtol=1e-15)

    done = cli("evaluate", model, files / "test.csv", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    y, y_pred = test["species"], pipeline.predict(X)
    assert report["rows"] == len(test)
    assert report["accuracy"] == accuracy_score(y, y_pred)
    assert report["log_loss"] == pytest.approx(log_loss(y, pipeline.predict_proba(X)), rel=1e-12)
    assert report["classes"] == CLASSES.tolist()
    assert report["precision"] == pytest.approx(precision_score(y, y_pred, average=None))
    assert report["confusion_matrix"] == confusion_matrix(y, y_pred).tolist()
    assert 0.6 < report["accuracy"] < 1  # the features carry signal; the test is not trivial


def test_parquet_with_a_category_column(files, tmp_path, capsys):
    model = tmp_path / "model.skops"
    assert fit(files / "train.parquet", model) == 0
    pipeline = load_pipeline(model)
    encoder = pipeline.named_steps["columns"].named_transformers_["categorical"]
    assert [list(c) for c in encoder.categories_][0] == ["blue", "green", "red"]

    out = tmp_path / "predictions.parquet"
    done = cli("predict", model, files / "test.parquet", "--out", out)
    assert done.returncode == 0, done.stderr
    test = pd.read_parquet(files / "test.parquet")
    np.testing.assert_array_equal(
        pd.read_parquet(out)["species"], pipeline.predict(test[["x1", "x2", "colour", "flag"]])
    )

    # the human-readable report: every class, the confusion matrix
    capsys.readouterr()
    assert main(["evaluate", str(model), str(files / "test.parquet")]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "log-loss" in text and "confusion matrix" in text
    assert all(c in text for c in CLASSES)


def test_saved_model_needs_only_the_listed_types(files, tmp_path):
    model = tmp_path / "model.skops"
    assert fit(files / "train.csv", model) == 0
    assert set(sio.get_untrusted_types(file=model)) <= set(TRUSTED)
    saved = sio.load(model, trusted=list(TRUSTED))
    assert saved["softmax_sk_version"] == __version__ and saved["target"] == "species"
    assert saved["columns"] == {"numeric": ["x1", "x2"], "categorical": ["colour", "flag"]}


def test_evaluate_with_a_class_the_model_never_saw(files, tmp_path, capsys):
    model = tmp_path / "model.skops"
    assert fit(files / "train.csv", model) == 0
    test = pd.read_csv(files / "test.csv")
    test.loc[:9, "species"] = "oak"
    test.to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    assert main(["evaluate", str(model), str(tmp_path / "new.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["unseen_classes"] == ["oak"] and report["log_loss"] is None
    assert report["recall"][-1] == 0.0 and report["support"][-1] == 10
    y_pred = load_pipeline(model).predict(test[["x1", "x2", "colour", "flag"]])
    assert report["accuracy"] == accuracy_score(test["species"], y_pred)


class Unknown:
    """A type no model file holds."""


@pytest.fixture(scope="module")
def model_file(files, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.skops"
    assert fit(files / "train.csv", path) == 0
    return path


def _bad_inputs(root, model_file):
    """(argv, exit code, words the message must contain) for each user mistake."""
    train = make_frame(60, 2)
    train.to_csv(root / "ok.csv", index=False)
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("x1,x2,species\n")
    train.assign(species="ash").to_csv(root / "one_class.csv", index=False)
    train.assign(x1=np.where(np.arange(60) < 3, np.nan, train["x1"])).to_csv(
        root / "holes.csv", index=False
    )
    train.assign(when=pd.Timestamp("2026-01-01")).to_parquet(root / "dates.parquet")
    (root / "garbage.parquet").write_bytes(b"not a parquet file at all")
    train.drop(columns="colour").to_csv(root / "no_colour.csv", index=False)
    train.assign(x2="unknown").to_csv(root / "text_x2.csv", index=False)
    train.assign(x1=np.inf).to_csv(root / "inf.csv", index=False)
    (root / "model.txt.skops").write_text("not a model")
    saved = sio.load(model_file, trusted=list(TRUSTED))
    sio.dump({**saved, "softmax_sk_version": "0.1.0"}, root / "old.skops")
    sio.dump({**saved, "extra": Unknown()}, root / "foreign.skops")
    fitting = ["fit", "--model", str(root / "m.skops"), "--no-progress"]
    ok, model = str(root / "ok.csv"), str(model_file)
    return [
        (fitting + [str(root / "nope.csv"), "--target", "species"], 2, ["no such file"]),
        (fitting + [str(root / "data.txt"), "--target", "species"], 2, ["format", ".csv"]),
        (fitting + [ok, "--target", "Species"], 2, ["no column 'Species'", "'species'"]),
        (fitting + [str(root / "empty.csv"), "--target", "species"], 1, ["is empty"]),
        (fitting + [str(root / "header.csv"), "--target", "species"], 1, ["no rows"]),
        (fitting + [str(root / "one_class.csv"), "--target", "species"], 1, ["single class"]),
        (fitting + [str(root / "holes.csv"), "--target", "species"], 1, ["missing values", "'x1'"]),
        (fitting + [str(root / "dates.parquet"), "--target", "species"], 1, ["'when'", "--drop"]),
        (fitting + [str(root / "garbage.parquet"), "--target", "species"], 1, ["cannot read"]),
        (fitting + [ok, "--target", "species", "--drop", "nope"], 2, ["--drop", "'nope'"]),
        (
            ["fit", ok, "--target", "species", "--model", str(root / "no" / "m.skops")],
            2,
            ["does not exist"],
        ),
        (
            fitting + [ok, "--target", "species", "--solver", "lbfgs", "--l1-ratio", "1"],
            2,
            ["--solver lbfgs", "L2 penalty"],
        ),
        (
            ["predict", model, str(root / "no_colour.csv"), "--out", str(root / "p.csv")],
            1,
            ["lacks the columns", "'colour'"],
        ),
        (
            ["predict", model, str(root / "text_x2.csv"), "--out", str(root / "p.csv")],
            1,
            ["'x2'", "numeric"],
        ),
        (
            ["predict", str(root / "nope.skops"), ok, "--out", str(root / "p.csv")],
            2,
            ["no such model file"],
        ),
        (
            ["predict", str(root / "model.txt.skops"), ok, "--out", str(root / "p.csv")],
            1,
            ["not a softmax-sk model file"],
        ),
        (
            ["evaluate", str(root / "old.skops"), ok],
            1,
            ["softmax-sk 0.1.0", __version__, "softmax-sk==0.1.0"],
        ),
        (["evaluate", str(root / "foreign.skops"), ok], 1, ["Unknown", "another"]),
        (["evaluate", model, str(root / "inf.csv")], 1, ["cannot apply the model", "infinity"]),
        (["evaluate", model, ok, "--target", "kind"], 2, ["no column 'kind'"]),
        (["evaluate", model, ok, "--target", "x1"], 1, ["holds numbers", "ash"]),
    ]


def test_user_mistakes_give_a_message_and_an_exit_code(model_file, tmp_path, capsys):
    for argv, code, words in _bad_inputs(tmp_path, model_file):
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert err.startswith("softmax-sk: error: ") and " — " in err, err
        for word in words:
            assert word in err, (argv, err)


@pytest.mark.parametrize(
    "option",
    [["--C", "0"], ["--C", "-1"], ["--l1-ratio", "2"], ["--max-iter", "x"], ["--n-jobs", "0"]],
)
def test_bad_options_exit_2(option, files, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        fit(files / "train.csv", tmp_path / "m.skops", *option)
    assert exit_.value.code == 2
    assert option[0] in capsys.readouterr().err


def test_a_solver_without_l1_for_an_l1_penalty_is_an_option_mistake(files, tmp_path, capsys):
    model = tmp_path / "m.skops"
    assert fit(files / "train.csv", model, "--solver", "lbfgs", "--l1-ratio", "0.5") == 2
    err = capsys.readouterr().err
    assert "--solver lbfgs handles only the L2 penalty" in err and "owlqn" in err
    assert not model.exists()
    assert (
        fit(files / "train.csv", model, "--solver", "lbfgs", "--C", "inf", "--l1-ratio", "1") == 0
    )


def test_evaluate_reports_a_file_where_every_prediction_is_wrong(tmp_path, capsys):
    """No true positive: scikit-learn returns the support as floats, which the text
    report printed as integers and died on."""
    (tmp_path / "train.csv").write_text("x,y\n0,a\n0.1,a\n0.2,a\n1,b\n1.1,b\n1.2,b\n")
    (tmp_path / "test.csv").write_text("x,y\n0,b\n1,a\n")
    model = tmp_path / "m.skops"
    assert main(["fit", str(tmp_path / "train.csv"), "--target", "y", "--model", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), str(tmp_path / "test.csv")]) == 0
    out = capsys.readouterr().out
    assert "accuracy  0.000000" in out and "confusion matrix" in out


def test_a_missing_extra_is_named_before_fitting(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "skops.io", None)  # import skops.io raises ImportError
    assert fit(files / "train.csv", tmp_path / "m.skops") == 1
    err = capsys.readouterr().err
    assert "'skops'" in err and "softmax-sk[cli]" in err


def test_a_mistake_in_a_real_process_has_no_traceback(tmp_path):
    done = cli("fit", tmp_path / "missing.csv", "--target", "y", "--model", tmp_path / "m.skops")
    assert done.returncode == 2
    assert done.stderr.startswith("softmax-sk: error: no such file")
    assert "Traceback" not in done.stderr


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream", [io.StringIO(), _Terminal()], ids=["log", "terminal"])
def test_progress_shows_elapsed_time_only_on_long_runs(stream):
    with Progress("fitting", stream, delay=0.2, every=0.01, log_every=0.05):
        time.sleep(0.02)  # a short fit: nothing
    assert stream.getvalue() == ""
    with Progress("fitting", stream, delay=0.0, every=0.01, log_every=0.05):
        time.sleep(0.2)
    text = stream.getvalue()
    assert "softmax-sk: fitting" in text and " s" in text
    if stream.isatty():  # redrawn in place, then erased
        assert text.count("\n") == 0 and text.endswith("\r\033[K")
    else:  # one line per log_every
        assert 1 <= text.count("\n") <= 6


def test_the_model_file_never_replaces_the_data(tmp_path, capsys):
    """--model naming the data file wrote the model over the training CSV."""
    data = tmp_path / "train.csv"
    make_frame(60, 3).to_csv(data, index=False)
    before = data.read_bytes()
    assert fit(data, tmp_path / "." / "train.csv") == 2
    assert "is the data file" in capsys.readouterr().err
    assert data.read_bytes() == before
    model = tmp_path / "model.skops"
    assert fit(data, model) == 0
    for out in (data, model):  # nor do predictions replace the data or the model
        assert main(["predict", str(model), str(data), "--out", str(out)]) == 2
    assert data.read_bytes() == before


def test_a_closed_pipe_ends_predict_quietly(model_file, tmp_path):
    """`softmax-sk predict ... --out - | head -1`: a BrokenPipeError traceback before
    (20,000 rows: more than a pipe's buffer, so the writer meets the closed pipe)."""
    data = tmp_path / "many.csv"
    make_frame(20_000, 5).to_csv(data, index=False)
    done = subprocess.run(
        f"{sys.executable} -m softmax_sk._cli predict {model_file} {data} "
        "--out - --proba | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.startswith("species,proba_")
    assert "Traceback" not in done.stderr and "Error" not in done.stderr


def test_a_column_of_dates_in_a_csv_is_refused_with_a_hint(tmp_path, capsys):
    """CSV dates (or identifiers) were one-hot encoded, a category per row."""
    data = tmp_path / "train.csv"
    frame = make_frame(120, 4)
    frame["when"] = [f"2026-01-{d % 28 + 1:02d}T{d % 24:02d}:00" for d in range(120)]
    frame["city"] = [f"city {d % 40}" for d in range(120)]  # 40 values: one-hot encoded
    frame.to_csv(data, index=False)
    assert fit(data, tmp_path / "model.skops") == 1
    err = capsys.readouterr().err
    assert "column 'when' has 120 distinct values in 120 rows" in err and "--drop when" in err
    assert fit(data, tmp_path / "model.skops", "--drop", "when") == 0
