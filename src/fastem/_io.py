"""Reading data tables for the command line: .csv/.tsv/.txt, .parquet, .npy, .npz.

Text and Parquet files are read by pyarrow in row batches; the columns a
command uses are chosen by name or number (:class:`Selection`: the features,
a label, a weight column), converted batch by batch to the fitting dtype,
and gathered in memory, or, once they outgrow half the working-memory budget
(``sklearn.set_config(working_memory=...)``), written to a temporary file
that is memory-mapped, so that any file is fitted out of core with bounded
memory, as ``.npy`` files are. A ``.npy`` file whose columns are used as
they are is memory-mapped directly.

Columns and lines are numbered from 1 in every message. Every problem a user
can cause (a missing file, an unknown format, a text column, a ragged line,
a missing cell) is a :class:`DataFileError` whose message is one line naming
the file and what to do.
"""

from __future__ import annotations

import atexit
import csv
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

FORMATS = (".npy", ".npz", ".csv", ".tsv", ".txt", ".parquet")
TEXT_FORMATS = (".csv", ".tsv", ".txt")
# Cells of a text table read as missing values.
NA_TOKENS = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "NULL", "null", "None", "?")
DELIMITERS = ",;\t|"
SNIFF_BYTES = 1 << 16  # the delimiter and the header are found in this many bytes
# Rows read at once: their float64 values take 1/BATCH_SHARE of the memory budget. pyarrow's
# CSV reader holds about 34 blocks of text at once (read ahead, parsed, converted): a block
# of 1/TEXT_BLOCK_SHARE of the budget keeps them within an eighth of it.
BATCH_SHARE = 32
TEXT_BLOCK_SHARE = 256
PANDAS_INDEX = "__index_level_0__"  # how pandas names its index in a Parquet file


class DataFileError(ValueError):
    """A data file that cannot be read as a numeric table (the message says why)."""


@dataclass(frozen=True)
class Selection:
    """Which columns of a table a command uses, and what a missing cell does.

    Column references are names, or numbers counted from 1.
    """

    columns: tuple[str, ...] | None = None  # the features (None: every numeric column left)
    drop: tuple[str, ...] = ()
    label: str | None = None
    weights: str | None = None  # a column reference or a file of weights
    missing: str = "error"  # 'error', 'drop' (the row) or 'em' (kept as NaN)
    skip_text: bool = False  # leave out text columns instead of refusing them
    dtype: str | None = None  # 'float32' or 'float64' (None: float32 stays float32)


@dataclass
class Table:
    """The features of a table (an array or a memory map), with what came with them."""

    X: np.ndarray
    columns: list[str] | None = None  # the features' names, when the file names its columns
    weights: np.ndarray | None = None
    labels: np.ndarray | None = None  # one label per row (strings; None where missing)
    label_name: str | None = None
    notes: list[str] = field(default_factory=list)  # what was decided on the user's behalf


# --- the formats --------------------------------------------------------------------


@dataclass
class _Source:
    """A file as named columns and a way to read chosen columns in row batches."""

    path: str
    names: list[str]
    named: bool  # whether the names come from the file
    numeric: list[bool]  # whether each column holds numbers (as far as its type says)
    first_line: int | None  # the line of the first data row (text files)
    n_rows: int | None = None
    array: np.ndarray | None = None  # .npy / .npz: the array itself
    index_column: int | None = None  # a column that numbers the rows (pandas' index)

    def batches(
        self, chosen: list[int], kinds: list[str], budget_bytes: int, threads: bool = False
    ) -> Iterator[list]:
        """The chosen columns, a batch of rows at a time, within ``budget_bytes``.

        ``threads``: let the reader work ahead in parallel (more memory).
        """
        raise NotImplementedError

    def first_text(self, j: int) -> str:
        """Where column j first holds something that is not a number, for a message."""
        return ""


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


def _head(path: str) -> str:
    """The beginning of a text file, decoded (a byte-order mark dropped)."""
    with open(path, "rb") as file:
        head = file.read(SNIFF_BYTES)
    if b"\0" in head:
        raise DataFileError(f"{path}: not a text file (it holds NUL bytes)")
    if b"\n" not in head and len(head) == SNIFF_BYTES:
        raise DataFileError(
            f"{path}: no line break in the first {SNIFF_BYTES} bytes; not a table of text lines"
        )
    text = head.decode("utf-8-sig", errors="ignore")
    try:  # only the whole head must be UTF-8: its last character may be cut short
        head.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:
            raise DataFileError(
                f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
            ) from None
    return text


def _delimiter(path: str, head: str) -> str:
    """Tab for .tsv; otherwise what csv.Sniffer finds among , ; tab |, else the first present."""
    if path.lower().endswith(".tsv"):
        return "\t"
    lines = [line for line in head.splitlines()[:20] if line.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = lines[0] if lines else ""
        return next((d for d in "\t;," if d in first), ",")


# pyarrow's words for a line with another number of fields than the header's
_FIELD_COUNT = re.compile(r"Expected (\d+) columns, got (\d+)")


class _TextSource(_Source):
    """A delimited text file read by pyarrow's streaming CSV reader."""

    def __init__(self, path: str):
        head = _head(path)
        lines = head.splitlines()
        if not head.strip():
            raise DataFileError(f"{path}: the file is empty")
        self.delimiter = _delimiter(path, head)
        first = next(csv.reader([lines[0]], delimiter=self.delimiter))
        fields = [value.strip() for value in first]
        filled = [value for value in fields if value]
        header = bool(filled) and not any(_is_number(value) for value in filled)
        if not header and not all(_is_number(v) or v in NA_TOKENS for v in fields):
            text = next(v for v in fields if not _is_number(v) and v not in NA_TOKENS)
            raise DataFileError(
                f"{path}: line 1 mixes numbers and text ({text!r}); a header line holds "
                "names only, a data line numbers only"
            )
        names = fields if header else [str(j + 1) for j in range(len(fields))]
        index_column = 0 if header and fields and fields[0] == "" else None
        if header:
            names = [name or f"unnamed {j + 1}" for j, name in enumerate(names)]
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise DataFileError(
                    f"{path}: the header names {', '.join(map(repr, repeated))} more than once"
                )
        super().__init__(path, names, header, [True] * len(names), 1 + int(header))
        self.index_column = index_column
        self.numeric = self._numeric_columns()

    def _reader(
        self, column_types=None, include=None, block_size: int = 1 << 16, threads: bool = False
    ):
        """pyarrow's streaming reader (it holds a few dozen blocks of ``block_size`` bytes).

        No Python object goes into the reader's options (an ``invalid_row_handler``
        was one): Arrow's read-ahead threads would have to take the GIL to release
        it, and one doing so while the interpreter shuts down aborts the process
        ("terminate called without an active exception").
        """
        import pyarrow as pa
        from pyarrow import csv as pa_csv

        types = (
            None if column_types is None else {k: getattr(pa, v)() for k, v in column_types.items()}
        )
        return pa_csv.open_csv(
            self.path,
            # the system allocator gives freed blocks back; pyarrow's default pool keeps them
            memory_pool=pa.system_memory_pool(),
            read_options=pa_csv.ReadOptions(
                column_names=self.names,
                skip_rows=int(self.named),
                block_size=block_size,
                use_threads=threads,  # threads read blocks ahead: memory grows with them
            ),
            parse_options=pa_csv.ParseOptions(delimiter=self.delimiter),
            convert_options=pa_csv.ConvertOptions(
                null_values=list(NA_TOKENS),
                strings_can_be_null=True,
                column_types=types,
                include_columns=include,
            ),
        )

    def _numeric_columns(self) -> list[bool]:
        """Which columns the first block (64 KiB) shows as numbers (all-missing counts)."""
        import pyarrow as pa

        try:
            reader = self._reader()
        except pa.ArrowInvalid as error:
            raise self._error(error) from None
        with reader:  # closed here, not left to the garbage collector
            schema = reader.schema
        return [
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_null(t)
            or pa.types.is_boolean(t)
            for t in (schema.field(name).type for name in self.names)
        ]

    def _error(self, error) -> DataFileError:
        """The file's fault behind pyarrow's ``error``: a line of another length, else its words."""
        ragged = _FIELD_COUNT.search(str(error))
        if ragged is not None:
            return DataFileError(
                f"{self.path}: line {self._ragged_line()} has "
                f"{ragged.group(2)} fields where the lines before have {ragged.group(1)}"
            )
        return DataFileError(f"{self.path}: {str(error).splitlines()[0]}")

    def _ragged_line(self) -> int | str:
        """The number of the first line whose field count is not the first line's (read again)."""
        with open(self.path, newline="", encoding="utf-8-sig", errors="replace") as file:
            for number, fields in enumerate(csv.reader(file, delimiter=self.delimiter), 1):
                if fields and len(fields) != len(self.names):
                    return number
        return "?"

    def batches(self, chosen, kinds, budget_bytes, threads=False):
        import pyarrow as pa

        include = [self.names[j] for j in chosen]
        types = {
            name: "float64" if kind == "number" else "string"
            for name, kind in zip(include, kinds, strict=True)
        }
        block_size = max(1 << 16, budget_bytes // TEXT_BLOCK_SHARE)
        reader = None
        while True:
            try:  # opening reads the first block: it fails as the reading does
                if reader is None:
                    reader = self._reader(types, include, block_size, threads)
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as error:
                if _FIELD_COUNT.search(str(error)) is None:
                    self._find_text(chosen, kinds)
                raise self._error(error) from None
            yield [_column(batch.column(i), kind) for i, kind in enumerate(kinds)]

    def _first_text_cell(self, columns: list[int]) -> tuple[int, str, int] | None:
        """(column, value, line) of the first cell of these columns that is not a number."""
        import pyarrow as pa

        names = [self.names[j] for j in columns]
        row = 0
        try:
            for batch in self._reader(dict.fromkeys(names, "string"), names):
                for position, j in enumerate(columns):
                    for i, value in enumerate(batch.column(position).to_pylist()):
                        if value is not None and not _is_number(value):
                            return j, value, self.first_line + row + i
                row += batch.num_rows
        except pa.ArrowInvalid as error:  # a line of another length before any text
            raise self._error(error) from None
        return None

    def _find_text(self, chosen, kinds) -> None:
        """Raise, naming the first cell of a number column that is not a number."""
        numbers = [j for j, kind in zip(chosen, kinds, strict=True) if kind == "number"]
        found = self._first_text_cell(numbers)
        if found is not None:
            j, value, line = found
            raise DataFileError(
                f"{self.path}: {_column_name(self, j)} is not numeric: {value!r} on line {line}"
            )

    def first_text(self, j: int) -> str:
        found = self._first_text_cell([j])
        return "" if found is None else f" ({found[1]!r} on line {found[2]})"


class _ParquetSource(_Source):
    """A Parquet file read in row batches by pyarrow."""

    def __init__(self, path: str):
        import pyarrow as pa
        from pyarrow import parquet

        # memory-mapped, without pre-buffering and threads: one row group is decoded at a time
        self.file = parquet.ParquetFile(path, pre_buffer=False, memory_map=True)
        schema = self.file.schema_arrow
        names = list(schema.names)
        numeric = [
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or pa.types.is_null(t)
            or pa.types.is_decimal(t)
            for t in schema.types
        ]
        super().__init__(path, names, True, numeric, None, self.file.metadata.num_rows)
        self.types = {name: str(t) for name, t in zip(names, schema.types, strict=True)}
        if PANDAS_INDEX in names:
            self.index_column = names.index(PANDAS_INDEX)

    def first_text(self, j: int) -> str:
        return f" (its type is {self.types[self.names[j]]})"

    def batches(self, chosen, kinds, budget_bytes, threads=False):
        include = [self.names[j] for j in chosen]
        batches = self.file.iter_batches(
            batch_size=_batch_rows(budget_bytes, len(chosen)), columns=include, use_threads=threads
        )
        for batch in batches:
            yield [_column(batch.column(i), kind) for i, kind in enumerate(kinds)]


class _ArraySource(_Source):
    """A .npy (memory-mapped) or .npz array; its columns are numbered."""

    def __init__(self, path: str, array: np.ndarray):
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2:
            raise DataFileError(
                f"{path}: expected a 2-D table, found an array of shape {array.shape}"
            )
        if array.dtype.kind not in "biuf":
            raise DataFileError(f"{path}: the data must be numbers; found dtype {array.dtype}")
        names = [str(j + 1) for j in range(array.shape[1])]
        super().__init__(path, names, False, [True] * len(names), None, array.shape[0], array)

    def batches(self, chosen, kinds, budget_bytes, threads=False):
        batch_rows = _batch_rows(budget_bytes, len(chosen))
        for start in range(0, self.array.shape[0], batch_rows):
            block = np.asarray(self.array[start : start + batch_rows])
            yield [block[:, j] for j in chosen]


def _batch_rows(budget_bytes: int, n_columns: int) -> int:
    """Rows read at once: their values (and a copy) take 1/BATCH_SHARE of the budget."""
    return max(1024, budget_bytes // BATCH_SHARE // (8 * (n_columns + 1)))


def _column(values, kind: str) -> np.ndarray:
    """An arrow column as float64 (nulls → NaN) or as an array of strings (None where null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "number":
        if not pa.types.is_floating(values.type):
            values = pc.cast(values, pa.float64())
        return values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    return np.asarray(pc.cast(values, pa.string()).to_pylist(), dtype=object)


def _column_name(source: _Source, j: int) -> str:
    return f"column {j + 1}" if not source.named else f"column {source.names[j]!r} ({j + 1})"


def _open(path: str) -> _Source:
    suffix = _suffix(path)
    if not os.path.exists(path):
        raise DataFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataFileError(f"{path}: is a directory, not a data file")
    try:
        if suffix == ".npy":
            return _ArraySource(path, np.load(path, mmap_mode="r", allow_pickle=False))
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if not names:
                    raise DataFileError(f"{path}: the archive holds no arrays")
                name = "X" if "X" in names else names[0]
                try:
                    array = archive[name]
                except ValueError as error:  # object arrays are refused, never unpickled
                    raise DataFileError(f"{path}: array {name!r} cannot be read: {error}") from None
            return _ArraySource(path, array)
        if suffix == ".parquet":
            return _ParquetSource(path)
        return _TextSource(path)
    except DataFileError:
        raise
    except ImportError:
        raise DataFileError(
            f"{path}: reading {suffix} files needs pyarrow (pip install pyarrow)"
        ) from None
    except (OSError, ValueError, EOFError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataFileError(f"{path}: not a readable {suffix} file ({message})") from None


def column_names(path: str) -> list[str] | None:
    """The names of the file's columns, or None when it does not name them."""
    source = _open(path)
    return list(source.names) if source.named else None


# --- choosing the columns -------------------------------------------------------------


def _reference(source: _Source, reference: str, option: str) -> int:
    """The column a name or a number (from 1) refers to."""
    if reference in source.names:
        return source.names.index(reference)
    if reference.isdigit() and 1 <= int(reference) <= len(source.names):
        return int(reference) - 1
    known = (
        f"its columns are {', '.join(source.names)}"
        if source.named
        else f"its columns are numbered 1 to {len(source.names)}"
    )
    raise DataFileError(f"{option} {reference!r}: no such column in {source.path}; {known}")


@dataclass
class _Roles:
    features: list[int]
    weights: int | None
    label: int | None
    notes: list[str]


def _roles(source: _Source, selection: Selection, weights_is_column: bool) -> _Roles:
    notes = []
    label = None if selection.label is None else _reference(source, selection.label, "--label")
    weights = _reference(source, selection.weights, "--weights") if weights_is_column else None
    taken = {label, weights} - {None}
    if selection.columns is not None:
        features = [_reference(source, ref, "--columns") for ref in selection.columns]
        for j in features:
            if j in taken:
                raise DataFileError(
                    f"--columns: {_column_name(source, j)} of {source.path} is also the "
                    f"{'label' if j == label else 'weights'} column"
                )
            if not source.numeric[j]:
                raise DataFileError(
                    f"{source.path}: {_column_name(source, j)} holds text"
                    f"{source.first_text(j)}, not numbers; leave it out of --columns (or "
                    "name it --label)"
                )
        return _Roles(features, weights, label, notes)
    dropped = {_reference(source, ref, "--drop") for ref in selection.drop}
    features = []
    for j in range(len(source.names)):
        if j in taken or j in dropped:
            continue
        if j == source.index_column:
            notes.append(f"{_column_name(source, j)} numbers the rows (a pandas index); not fitted")
            continue
        if not source.numeric[j]:
            if selection.skip_text:
                notes.append(f"{_column_name(source, j)} holds text; left out (--skip-text)")
                continue
            name = source.names[j]
            raise DataFileError(
                f"{source.path}: {_column_name(source, j)} holds text{source.first_text(j)}, "
                f"not numbers: leave it out with --drop {name}, compare the clustering with it "
                f"with --label {name}, or leave out every text column with --skip-text"
            )
        features.append(j)
    if not features:
        raise DataFileError(f"{source.path}: no numeric column left to fit")
    return _Roles(features, weights, label, notes)


# --- gathering the rows -----------------------------------------------------------------


class _Spill:
    """Rows gathered in memory up to ``limit_bytes``, then written to a temporary file."""

    def __init__(self, dtype, n_columns: int, limit_bytes: float, name: str):
        self.dtype, self.n_columns, self.limit_bytes = np.dtype(dtype), n_columns, limit_bytes
        self.name = name
        self.parts, self.held, self.n_rows = [], 0, 0
        self.file = None

    def add(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        self.n_rows += rows.shape[0]
        if self.file is None:
            self.parts.append(rows)
            self.held += rows.nbytes
            if self.held <= self.limit_bytes:
                return
            self.path = os.path.join(_spill_folder(), f"{self.name}-{os.getpid()}-{id(self)}.bin")
            self.file = open(self.path, "wb")  # noqa: SIM115 (closed in result())
            rows = np.concatenate(self.parts) if len(self.parts) > 1 else rows
            self.parts, self.held = [], 0
        rows.tofile(self.file)

    def result(self) -> np.ndarray:
        shape = (self.n_rows, self.n_columns) if self.n_columns else (self.n_rows,)
        if self.file is None:
            if not self.parts:
                return np.empty(shape, dtype=self.dtype)
            return np.concatenate(self.parts).reshape(shape)
        self.file.close()
        if self.n_rows == 0:
            return np.empty(shape, dtype=self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=shape)


_SPILL_FOLDER: list[str] = []


def _spill_folder() -> str:
    """A temporary folder for converted tables, removed when the process ends."""
    if not _SPILL_FOLDER:
        folder = tempfile.mkdtemp(prefix="fastem-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SPILL_FOLDER.append(folder)
    return _SPILL_FOLDER[0]


def _fitting_dtype(source: _Source, selection: Selection) -> np.dtype:
    if selection.dtype is not None:
        return np.dtype(selection.dtype)
    if source.array is not None and source.array.dtype == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _missing_message(source: _Source, j: int, row: int) -> str:
    where = f"line {source.first_line + row}" if source.first_line else f"row {row + 1}"
    return (
        f"{source.path}: {_column_name(source, j)} has a missing cell on {where}; add "
        "--missing em to fit with missing values, or --missing drop to leave out the rows "
        "that have one"
    )


def read_table(path: str, selection: Selection | None = None, budget_bytes=None) -> Table:
    """The table in ``path``, its columns chosen by ``selection``.

    A ``.npy`` file used whole is memory-mapped as it is; every other table
    is read in row batches, kept in memory up to half ``budget_bytes`` (the
    working-memory budget) and otherwise written to a temporary file that is
    memory-mapped.
    """
    from ._data import memory_budget_bytes

    selection = selection or Selection()
    budget_bytes = memory_budget_bytes() if budget_bytes is None else budget_bytes
    source = _open(path)
    weights_file = (
        selection.weights is not None
        and selection.weights not in source.names
        and bool(os.path.splitext(selection.weights)[1])
    )
    roles = _roles(source, selection, selection.weights is not None and not weights_file)
    dtype = _fitting_dtype(source, selection)
    whole_array = (
        source.array is not None
        and roles.features == list(range(len(source.names)))
        and roles.weights is None
        and roles.label is None
        and source.array.dtype == dtype
    )
    if whole_array:
        table = Table(source.array, notes=roles.notes)
    else:
        table = _gather(source, roles, selection, dtype, budget_bytes)
        _release_arrow_memory()
    if table.X.shape[0] == 0:
        raise DataFileError(f"{path}: no data rows")
    if source.named:
        table.columns = [source.names[j] for j in roles.features]
    if weights_file:
        table.weights = _weights_from_file(selection.weights, table.X.shape[0])
    return table


def _release_arrow_memory() -> None:
    """Give back what pyarrow's allocators kept from reading (they keep freed blocks)."""
    import sys

    pa = sys.modules.get("pyarrow")
    if pa is not None:
        pa.default_memory_pool().release_unused()
        pa.system_memory_pool().release_unused()


def _gather(source, roles: _Roles, selection: Selection, dtype, budget_bytes) -> Table:
    chosen = roles.features + [j for j in (roles.weights, roles.label) if j is not None]
    kinds = ["number"] * (len(roles.features) + (roles.weights is not None))
    kinds += ["text"] if roles.label is not None else []
    n_features = len(roles.features)
    limit = _memory_limit(source, chosen, budget_bytes)
    features = _Spill(dtype, n_features, limit, "features")
    weights = None if roles.weights is None else _Spill(np.float64, 0, limit, "weights")
    labels = [] if roles.label is not None else None
    n_read = n_dropped = 0
    observed = np.zeros(n_features, dtype=bool)  # which feature columns have a value
    # a small file is read with pyarrow's threads; a large one on one, in bounded memory
    threads = os.path.getsize(source.path) < budget_bytes // 8
    for columns in source.batches(chosen, kinds, budget_bytes, threads):
        block = np.column_stack(columns[:n_features]).astype(np.float64, copy=False)
        holes = np.isnan(block)
        observed |= ~holes.all(axis=0)
        missing = holes.any(axis=1)
        keep = slice(None)
        if missing.any():
            if selection.missing == "error":
                row = int(np.argmax(missing))
                column = roles.features[int(np.argmax(np.isnan(block[row])))]
                raise DataFileError(_missing_message(source, column, n_read + row))
            if selection.missing == "drop":
                keep = ~missing
                n_dropped += int(missing.sum())
        features.add(block[keep])
        if weights is not None:
            row_weights = np.asarray(columns[n_features], dtype=np.float64)[keep]
            if np.isnan(row_weights).any():
                row = int(np.argmax(np.isnan(row_weights)))
                raise DataFileError(
                    f"{source.path}: the weights column has a missing cell on row {row + 1}"
                )
            weights.add(row_weights)
        if labels is not None:
            labels.append(np.asarray(columns[-1], dtype=object)[keep])
        n_read += block.shape[0]
    if n_read and not observed.all():
        column = roles.features[int(np.argmin(observed))]
        raise DataFileError(
            f"{source.path}: {_column_name(source, column)} has no value in any row; leave "
            f"it out with --drop {source.names[column]}"
        )
    notes = list(roles.notes)
    if n_dropped:
        notes.append(
            f"{n_dropped:,} of {n_read:,} rows with a missing cell left out (--missing drop)"
        )
    if features.file is not None:
        size = features.n_rows * n_features * np.dtype(dtype).itemsize
        notes.append(
            f"{source.path}: {size / 2**20:,.1f} MiB of rows, more than the working memory "
            f"({budget_bytes / 2**20:,.0f} MiB) lets the command hold: read from a temporary "
            f"file in {_spill_folder()}"
        )
    return Table(
        features.result(),
        weights=None if weights is None else weights.result(),
        labels=None if labels is None else np.concatenate(labels) if labels else None,
        label_name=None if roles.label is None else source.names[roles.label],
        notes=notes,
    )


def _memory_limit(source: _Source, chosen: list[int], budget_bytes: int) -> float:
    """How much of the rows may be gathered in memory before they go to a temporary file.

    Arrays and Parquet files know their size: all of it when it is within half
    the budget, nothing otherwise. A text file's size says little about its
    numbers: its rows are gathered up to 1/16 of the budget, then spilled.
    """
    if source.n_rows is None:
        return budget_bytes / 16
    return np.inf if source.n_rows * len(chosen) * 8 <= budget_bytes / 2 else 0.0


def _weights_from_file(path: str, n_rows: int) -> np.ndarray:
    table = read_table(path)
    if table.X.shape[1] != 1 or table.X.shape[0] != n_rows:
        raise DataFileError(
            f"{path}: expected one column of {n_rows} weights, found shape {table.X.shape}"
        )
    return np.asarray(table.X[:, 0], dtype=np.float64)


# --- writing ------------------------------------------------------------------------------


def write_array(path: str, array: np.ndarray, columns: list[str] | None = None) -> None:
    """Save an array as .npy, or as text (.csv/.tsv/.txt) with ``columns`` as its header."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        np.save(path, array)
    elif suffix in TEXT_FORMATS:
        fmt = "%d" if array.dtype.kind in "iu" else "%.10g"
        delimiter = "\t" if suffix == ".tsv" else ","
        header = "" if columns is None else delimiter.join(columns)
        np.savetxt(path, array, fmt=fmt, delimiter=delimiter, header=header, comments="")
    else:
        raise DataFileError(
            f"{path}: unknown output format {suffix or '(no extension)'!r}; "
            "use .npy, .csv, .tsv or .txt"
        )
