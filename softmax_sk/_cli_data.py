"""Tables for the command line: read and write CSV/Parquet, check columns, build the pipeline.

Every user mistake found here raises ``UserError`` with what is wrong and what to
do; ``_cli`` prints it without a traceback. pandas (and pyarrow for Parquet) are
the ``cli`` extra, imported only when a command runs.
"""

from pathlib import Path

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")


class UserError(Exception):
    """A mistake of the user (a file, a column, an option): reported, not raised."""

    def __init__(self, what, todo, code=1):
        super().__init__(f"{what} — {todo}")
        self.code = code


def need(module, extra="cli"):
    """Import an optional module, or say which extra provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"the command line needs the Python package {module.split('.')[0]!r}, which is "
            "not installed",
            f"install it with: pip install 'softmax-sk[{extra}]'",
        ) from None


def table_format(path):
    """'csv' or 'parquet', from the file name (``data.csv.gz`` is CSV)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise UserError(
            f"cannot tell the format of {str(path)!r} from its name",
            "name the file *.csv (optionally compressed, *.csv.gz) or *.parquet",
            code=2,
        )
    return fmt


def read_table(path):
    """The table at ``path`` as a DataFrame with at least one row and one column."""
    pd = need("pandas")
    fmt = table_format(path)
    path = Path(path)
    if not path.exists():
        raise UserError(f"no such file: {str(path)!r}", "check the path", code=2)
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a folder, not a file", "give a file", code=2)
    if path.stat().st_size == 0:
        raise UserError(f"{str(path)!r} is empty", "give a file with a header and rows")
    if fmt == "parquet":
        need("pyarrow")
    try:
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except Exception as exc:  # a user's file: any parser error is a user error
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"cannot read {str(path)!r} as {fmt.upper()}: {detail}",
            f"check that it is a valid {fmt.upper()} file",
        ) from None
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise UserError(
            f"{str(path)!r} has no rows" if frame.shape[1] else f"{str(path)!r} has no columns",
            "give a file with a header and at least one row",
        )
    frame.columns = [str(c) for c in frame.columns]
    return frame


def write_table(frame, path):
    """Write ``frame`` as CSV or Parquet (from the name); ``-`` writes CSV to stdout."""
    import sys

    if str(path) == "-":
        frame.to_csv(sys.stdout, index=False)
        return
    fmt = table_format(path)
    if fmt == "parquet":
        need("pyarrow")
    try:
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
    except OSError as exc:
        raise UserError(
            f"cannot write {str(path)!r}: {exc.strerror or exc}",
            "check that its folder exists and is writable",
        ) from None


def column_kind(series):
    """'numeric' (scaled), 'categorical' (one-hot encoded), or None (cannot be used)."""
    pd = need("pandas")
    types = pd.api.types
    dtype = series.dtype
    if types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if types.is_numeric_dtype(dtype) and not types.is_complex_dtype(dtype):
        return "numeric"
    if types.is_string_dtype(dtype) or types.is_object_dtype(dtype):
        values = series.dropna()
        if all(isinstance(v, str) for v in values.head(1000)):
            return "categorical"
    return None


def _many_values(series):
    """The distinct values of a text column with one in most rows (more than 50, in
    more than half the rows: dates or identifiers), else None; numbers, booleans and
    pandas categories (the user's choice) never."""
    types = need("pandas").api.types
    if not (types.is_string_dtype(series.dtype) or types.is_object_dtype(series.dtype)):
        return None
    distinct = series.nunique()
    return distinct if distinct > 50 and distinct > 0.5 * len(series) else None


def split_columns(frame, target, drop=()):
    """Feature columns of ``frame`` by kind: ``{"numeric": [...], "categorical": [...]}``."""
    missing = [c for c in drop if c not in frame.columns]
    if missing:
        raise UserError(
            f"--drop names columns that are not in the data: {missing}",
            f"the columns are {_names(frame.columns)}",
            code=2,
        )
    kinds = {"numeric": [], "categorical": []}
    for name in frame.columns:
        if name == target or name in drop:
            continue
        kind = column_kind(frame[name])
        if kind is None:
            raise UserError(
                f"column {name!r} has type {frame[name].dtype}, which cannot be used as a "
                "feature (only numbers, text, categories and booleans can)",
                f"convert it, or leave it out with --drop {name}",
            )
        distinct = _many_values(frame[name]) if kind == "categorical" else None
        if distinct is not None:
            raise UserError(
                f"column {name!r} has {distinct} distinct values in "
                f"{len(frame)} rows (dates or identifiers?): one-hot encoded, each would be a "
                "feature of its own few rows",
                f"leave it out with --drop {name}, or convert it to numbers",
            )
        kinds[kind].append(name)
    if not kinds["numeric"] and not kinds["categorical"]:
        raise UserError(
            "the data has no feature columns besides the target",
            "give a file with at least one more column",
        )
    return kinds


def features(frame, columns, source):
    """The feature columns of ``frame`` the model was fitted on, checked against ``columns``.

    ``columns`` is the model's ``{"numeric": [...], "categorical": [...]}``.
    """
    names = columns["numeric"] + columns["categorical"]
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise UserError(
            f"{source!r} lacks the columns {missing}, which the model was fitted on",
            f"give data with the columns {names}",
        )
    for name in names:
        kind = column_kind(frame[name])
        wanted = "numeric" if name in columns["numeric"] else "categorical"
        if kind != wanted:
            raise UserError(
                f"column {name!r} of {source!r} has type {frame[name].dtype}, but it was "
                f"{wanted} when the model was fitted",
                f"give {wanted} values in column {name!r}",
            )
    check_complete(frame, names, source)
    return frame[names]


def check_complete(frame, names, source):
    """Refuse missing values (NaN, empty cells) in the named columns."""
    counts = frame[names].isna().sum()
    bad = counts[counts > 0]
    if len(bad):
        listed = ", ".join(f"{name!r} ({int(n)} rows)" for name, n in bad.items())
        raise UserError(
            f"{source!r} has missing values in {listed}",
            "fill them in or remove those rows (missing values are not imputed)",
        )


def target_values(frame, target, source):
    """The target column, checked to exist and to have no missing values."""
    if target not in frame.columns:
        raise UserError(
            f"{source!r} has no column {target!r}",
            f"--target must be one of {_names(frame.columns)}",
            code=2,
        )
    check_complete(frame, [target], source)
    return frame[target].to_numpy()


def build_pipeline(columns, classifier):
    """Scaling for numeric columns, one-hot encoding for the others, then ``classifier``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if columns["numeric"]:
        parts.append(("numeric", StandardScaler(), list(columns["numeric"])))
    if columns["categorical"]:
        parts.append(
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(columns["categorical"]))
        )
    return Pipeline([("columns", ColumnTransformer(parts)), ("classifier", classifier)])


def _names(columns):
    columns = [str(c) for c in columns]
    shown = ", ".join(repr(c) for c in columns[:10])
    return f"[{shown}{', ...' if len(columns) > 10 else ''}]"
