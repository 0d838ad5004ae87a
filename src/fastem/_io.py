"""Reading data files for the command line: .npy, .npz, .csv/.tsv, .parquet.

Every problem a user can cause (a missing file, an unknown format, a column
that is not numeric, ragged rows) is a :class:`DataFileError` whose message
is one line naming the file and what is wrong with it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

FORMATS = (".npy", ".npz", ".csv", ".tsv", ".txt", ".parquet")


class DataFileError(ValueError):
    """A data file that cannot be read as a numeric table (the message says why)."""


# Cells of a text table read as missing values (NaN).
NA_TOKENS = frozenset({"", "NA", "N/A", "n/a", "na", "NaN", "nan", "NULL", "null", "None", "?"})


@dataclass
class Table:
    """Numeric rows read from a file, with column names when the file has them.

    ``first_missing`` says where the first missing cell (an NA token) of a
    text table is, or is None when it has none.
    """

    X: np.ndarray
    columns: list[str] | None = None
    weights: np.ndarray | None = None
    first_missing: str | None = None


def _float_or_nan(text: str) -> float:
    """A cell of a text table as a number; NA tokens are NaN."""
    return np.nan if text.strip().strip('"') in NA_TOKENS else float(text)


def _suffix(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        raise DataFileError(
            f"{path}: unknown format {suffix or '(no extension)'!r}; "
            f"expected one of {', '.join(FORMATS)}"
        )
    return suffix


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


DELIMITERS = ("\t", ";", ",")
SNIFF_BYTES = 1 << 16  # the first line is looked for in this many bytes


def _delimiter(path: str, first_line: str) -> str:
    """Tab for .tsv; otherwise the first of tab, semicolon, comma in the first line."""
    if path.lower().endswith(".tsv"):
        return "\t"
    return next((d for d in DELIMITERS if d in first_line), ",")


def _first_line(path: str) -> str:
    """The first line of a text file, read within SNIFF_BYTES (a binary file is refused)."""
    with open(path, "rb") as file:
        head = file.read(SNIFF_BYTES)
    if b"\0" in head:
        raise DataFileError(f"{path}: not a text file (it holds NUL bytes)")
    line, newline, _ = head.partition(b"\n")
    if not newline and len(head) == SNIFF_BYTES:
        raise DataFileError(
            f"{path}: no line break in the first {SNIFF_BYTES} bytes; not a table of text lines"
        )
    try:
        return line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError as error:
        raise DataFileError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None


def _read_text(path: str) -> Table:
    first_line = _first_line(path)
    if not first_line.strip():
        raise DataFileError(f"{path}: the file is empty")
    delimiter = _delimiter(path, first_line)
    fields = [field.strip().strip('"') for field in first_line.split(delimiter)]
    numeric = [_is_number(field) for field in fields if field]
    header = not any(numeric)
    if not header and not all(numeric):
        field = next(f for f in fields if f and not _is_number(f))
        raise DataFileError(
            f"{path}: line 1 mixes numbers and text ({field!r}); a header "
            "line holds names only, a data line numbers only"
        )
    columns = fields if header else None
    options = dict(
        delimiter=delimiter, skiprows=int(header), ndmin=2, dtype=np.float64, encoding="utf-8-sig"
    )
    first_missing = None
    try:
        X = np.loadtxt(path, **options)
    except ValueError as error:
        explained, value = _explain_loadtxt(str(error), columns, header)
        if value is None or value.strip().strip('"') not in NA_TOKENS:
            raise DataFileError(f"{path}: {explained}") from None
        first_missing = explained  # the fast reader stops at a missing cell: read NA as NaN
        try:
            X = np.loadtxt(path, converters=_float_or_nan, **options)
        except ValueError as error:
            explained, _ = _explain_loadtxt(str(error), columns, header)
            raise DataFileError(f"{path}: {explained}") from None
    if X.shape[0] == 0:
        raise DataFileError(f"{path}: no data rows")
    return Table(X, columns, first_missing=first_missing)


def _explain_loadtxt(
    message: str, columns: list[str] | None, header: bool
) -> tuple[str, str | None]:
    """loadtxt's error in the file's own terms (1-based line, column name), and the cell."""
    match = re.search(
        r"could not convert string '(.*)' to float64 at row (\d+), column (\d+)", message
    )
    if match:
        value, row, column = match.group(1), int(match.group(2)), int(match.group(3))
        name = f"{columns[column - 1]!r} ({column})" if columns else str(column)
        line = row + 1 + int(header)
        if value.strip().strip('"') in NA_TOKENS:
            return f"column {name} has a missing cell ({value!r}) on line {line}", value
        return f"column {name} is not numeric: {value!r} on line {line}", value
    match = re.search(r"the number of columns changed from (\d+) to (\d+) at row (\d+)", message)
    if match:
        expected, found, row = (int(group) for group in match.groups())
        explained = (
            f"line {row + int(header)} has {found} fields where the lines before have {expected}"
        )
        return explained, None
    return message.splitlines()[0], None


def _read_npz(path: str) -> Table:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if not names:
            raise DataFileError(f"{path}: the archive holds no arrays")
        name = "X" if "X" in names else names[0]
        try:
            return Table(archive[name])
        except ValueError as error:  # object arrays are refused, never unpickled
            raise DataFileError(f"{path}: array {name!r} cannot be read: {error}") from None


def _read_parquet(path: str) -> Table:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise DataFileError(
            f"{path}: reading parquet needs pyarrow (pip install pyarrow)"
        ) from None
    table = parquet.read_table(path)
    columns = list(table.column_names)
    arrays = []
    for name in columns:
        values = table.column(name).to_numpy(zero_copy_only=False)
        if values.dtype.kind not in "biuf":
            raise DataFileError(
                f"{path}: column {name!r} is not numeric "
                f"(its type is {table.schema.field(name).type})"
            )
        arrays.append(values.astype(np.float64, copy=False))
    if not arrays:
        raise DataFileError(f"{path}: no columns")
    return Table(np.column_stack(arrays), columns)


def read_table(path: str, *, memory_map: bool = True) -> Table:
    """The numeric table in ``path`` (``.npy`` files are memory-mapped, not loaded)."""
    suffix = _suffix(path)
    if not os.path.exists(path):
        raise DataFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataFileError(f"{path}: is a directory, not a data file")
    try:
        if suffix == ".npy":
            table = Table(np.load(path, mmap_mode="r" if memory_map else None, allow_pickle=False))
        elif suffix == ".npz":
            table = _read_npz(path)
        elif suffix == ".parquet":
            table = _read_parquet(path)
        else:
            table = _read_text(path)
    except DataFileError:
        raise
    except (OSError, ValueError, EOFError) as error:
        raise DataFileError(f"{path}: not a readable {suffix} file ({error})") from None
    X = table.X
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise DataFileError(f"{path}: expected a 2-D table, found an array of shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise DataFileError(f"{path}: the data must be numbers; found dtype {X.dtype}")
    table.X = X
    return table


def split_weights(table: Table, weights: str | None, path: str) -> Table:
    """Take the weights from a column of the table (name or 0-based index) or another file."""
    if weights is None:
        return table
    if table.columns is not None and weights in table.columns:
        column = table.columns.index(weights)
    elif weights.isdigit() and not os.path.exists(weights):
        column = int(weights)
        if column >= table.X.shape[1]:
            raise DataFileError(
                f"{path}: no column {column} for the weights "
                f"(the table has {table.X.shape[1]} columns)"
            )
    else:
        if not os.path.splitext(weights)[1]:
            known = f"; its columns are {', '.join(table.columns)}" if table.columns else ""
            raise DataFileError(
                f"--weights {weights!r}: neither a column of {path} nor a file{known}"
            )
        weight_table = read_table(weights, memory_map=False)
        if weight_table.X.shape[1] != 1 or weight_table.X.shape[0] != table.X.shape[0]:
            raise DataFileError(
                f"{weights}: expected one column of {table.X.shape[0]} "
                f"weights, found shape {weight_table.X.shape}"
            )
        table.weights = np.asarray(weight_table.X[:, 0], dtype=np.float64)
        return table
    keep = [c for c in range(table.X.shape[1]) if c != column]
    table.weights = np.asarray(table.X[:, column], dtype=np.float64)
    table.X = np.ascontiguousarray(table.X[:, keep])
    if table.columns is not None:
        table.columns = [table.columns[c] for c in keep]
    return table


def as_dtype(X, dtype: str | None):
    """X in the requested float dtype (None: as stored; a memory map stays one)."""
    if dtype is None or X.dtype == np.dtype(dtype):
        return X
    return np.asarray(X, dtype=dtype)


def write_array(path: str, array: np.ndarray, columns: list[str] | None = None) -> None:
    """Save an array as .npy, or as text (.csv/.tsv/.txt) with ``columns`` as its header."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        np.save(path, array)
    elif suffix in (".csv", ".tsv", ".txt"):
        fmt = "%d" if array.dtype.kind in "iu" else "%.10g"
        delimiter = "\t" if suffix == ".tsv" else ","
        header = "" if columns is None else delimiter.join(columns)
        np.savetxt(path, array, fmt=fmt, delimiter=delimiter, header=header, comments="")
    else:
        raise DataFileError(
            f"{path}: unknown output format {suffix or '(no extension)'!r}; "
            "use .npy, .csv, .tsv or .txt"
        )
