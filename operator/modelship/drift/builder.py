"""A reference from training data: the logic behind ``modelship reference build``.

Pure: the caller opens the file and hands over its lines (``build_from_csv``) or its
rows (``build``). Every problem with the data is an ``InvalidReferenceError`` whose
message names the line, or the column and data row, so the command can print one
clear line instead of a traceback.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from modelship.drift.reference import (
    CategoricalFeature,
    Feature,
    InvalidReferenceError,
    NumericFeature,
    Reference,
    numeric_feature,
)

# What ``open(..., errors="surrogateescape")`` turns a byte that is not UTF-8 into.
_UNDECODED = re.compile("[\udc80-\udcff]")


class _Reader(Protocol):
    """What ``csv.reader`` returns."""

    line_num: int

    def __next__(self) -> list[str]: ...


def build(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    bins: int = 10,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    prediction: str | None = None,
    exclude: Sequence[str] = (),
) -> Reference:
    """A reference from CSV-like rows. A column named in ``categorical`` is categorical,
    one named in ``numeric`` (and the ``prediction``) numeric, and any other is inferred
    from its values: numeric when every non-empty cell is a number, else categorical,
    which ``Reference.notes`` says (with a text value, and how many cells were numbers,
    so a numeric column with a few typos is not mistaken for a categorical one)."""
    if bins < 2:
        raise InvalidReferenceError(f"bins must be at least 2, not {bins}")
    _check_names(header, categorical, numeric, prediction, exclude)
    columns: dict[str, list[str]] = {name: [] for name in header}
    n = 0
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise InvalidReferenceError(
                f"line {line}: {len(row)} fields, the header has {len(header)}"
            )
        for name, value in zip(header, row, strict=True):
            columns[name].append(value)
        n += 1
    if n == 0:
        raise InvalidReferenceError("no data rows")
    features: dict[str, Feature] = {}
    notes: list[str] = []
    pred: NumericFeature | None = None
    for name in header:
        if name in exclude:
            continue
        raw = columns[name]
        cells = [(at, v) for at, v in enumerate(raw, start=1) if v.strip() != ""]
        if not cells:
            raise InvalidReferenceError(f"column {name!r} is empty")
        missing = n - len(cells)  # empty cells: counted, never binned
        parsed = None if name in categorical else _numbers(cells)
        if isinstance(parsed, tuple):  # a text value
            (at, text), numbers = parsed
            if name == prediction or name in numeric:
                flag = "the prediction column" if name == prediction else "--numeric column"
                raise InvalidReferenceError(
                    f"{flag} {name!r} is not numeric: {text!r} on data row {at}"
                )
            counted = f"; {numbers} of {len(cells)} values are numbers" if numbers else ""
            feature = _categorical(cells, missing)
            notes.append(
                f"feature {name!r}: text values (e.g. {text!r} on data row {at}{counted}), "
                f"treated as categorical ({len(feature.counts)} categories); "
                f"--numeric {name} to refuse instead"
            )
            features[name] = feature
        elif parsed is None:
            features[name] = _categorical(cells, missing)
        else:
            bad = np.flatnonzero(~np.isfinite(parsed))
            if len(bad):
                at, text = cells[int(bad[0])]
                raise InvalidReferenceError(
                    f"column {name!r}: {text!r} on data row {at} is not a finite number "
                    "(leave the cell empty for a missing value)"
                )
            number = numeric_feature(parsed, bins, name=name, missing=missing)
            if name == prediction:
                pred = number
            else:
                features[name] = number
    if not features:
        raise InvalidReferenceError("no feature columns left")
    return Reference(n, features, pred, notes=tuple(notes))


def _check_names(
    header: Sequence[str],
    categorical: Sequence[str],
    numeric: Sequence[str],
    prediction: str | None,
    exclude: Sequence[str],
) -> None:
    """Every column named exists, and is named for one purpose only."""
    named = {
        "--categorical": set(categorical),
        "--numeric": set(numeric),
        "--exclude": set(exclude),
        "--prediction": {prediction} if prediction else set(),
    }
    unknown = [c for c in dict.fromkeys(c for cs in named.values() for c in cs) if c not in header]
    if unknown:
        raise InvalidReferenceError(
            f"no such column: {', '.join(unknown)} (columns: {', '.join(header)})"
        )
    # The prediction is numeric anyway, so --numeric on it as well is no conflict.
    for a, b in (
        ("--categorical", "--numeric"),
        ("--categorical", "--exclude"),
        ("--numeric", "--exclude"),
        ("--prediction", "--categorical"),
        ("--prediction", "--exclude"),
    ):
        if both := sorted(named[a] & named[b]):
            raise InvalidReferenceError(f"column {both[0]!r} is named by both {a} and {b}")


def _numbers(cells: list[tuple[int, str]]) -> np.ndarray | tuple[tuple[int, str], int]:
    """The cells as floats, or the first text one (data row, value) with how many cells
    were numbers."""
    values = np.empty(len(cells))
    first: tuple[int, str] | None = None
    numbers = 0
    for i, (row, v) in enumerate(cells):
        try:
            values[i] = float(v)
            numbers += 1
        except ValueError:
            first = first or (row, v)
    return values if first is None else (first, numbers)


def _categorical(cells: list[tuple[int, str]], missing: int) -> CategoricalFeature:
    counts: dict[str, float] = {}
    for _, v in cells:
        counts[v] = counts.get(v, 0.0) + 1
    return CategoricalFeature(counts, missing)


def summary(reference: Reference, most: int = 10) -> str:
    """One line for the person who built it: rows, features, and the empty cells per
    feature (the largest ``most``), which are in no bin and easy to overlook."""
    cats = sum(isinstance(f, CategoricalFeature) for f in reference.features.values())
    kinds = f" ({cats} categorical)" if cats else ""
    n = len(reference.features)
    head = f"{reference.rows} rows, {n} feature{'' if n == 1 else 's'}{kinds}"
    every: dict[str, Feature] = dict(reference.features)
    if reference.prediction is not None:
        every["(prediction)"] = reference.prediction
    gaps = sorted(((-f.missing, n) for n, f in every.items() if f.missing))
    if not gaps:
        return f"{head}; no empty cells"
    shown = ", ".join(f"{n} {-k}" for k, n in gaps[:most])
    more = f" and {len(gaps) - most} more" if len(gaps) > most else ""
    return f"{head}; empty cells, counted as missing: {shown}{more}"


def build_from_csv(lines: Iterable[str], source: str = "the data", **options: Any) -> Reference:
    """A reference from CSV text lines; ``source`` names them in errors.

    Open the file with ``encoding="utf-8-sig", errors="surrogateescape", newline=""``:
    a byte-order mark is dropped, and a byte that is not UTF-8 reaches this function
    (as a lone surrogate) and is reported with its line and column, where a strict
    decoder would fail on a whole block of the file without saying where."""
    numbered = _utf8(lines)
    reader = csv.reader(numbered)
    try:
        header = _next_row(reader)
    except StopIteration:
        raise InvalidReferenceError(f"{source} is empty") from None
    return build([h.strip() for h in header], _csv_rows(reader), **options)


def _utf8(lines: Iterable[str]) -> Iterator[str]:
    """The lines, InvalidReferenceError at the first byte that was not UTF-8."""
    for number, line in enumerate(lines, start=1):
        if not line.isascii() and (bad := _UNDECODED.search(line)) is not None:
            byte = ord(bad.group()) - 0xDC00
            raise InvalidReferenceError(
                f"line {number}: not UTF-8 text (byte 0x{byte:02x} at column "
                f"{bad.start() + 1}); save the file as UTF-8"
            )
        yield line


def _csv_rows(reader: _Reader) -> Iterator[list[str]]:
    while True:
        try:
            yield _next_row(reader)
        except StopIteration:
            return


def _next_row(reader: _Reader) -> list[str]:
    """The reader's next row; a CSV error becomes InvalidReferenceError naming the line
    (StopIteration at the end)."""
    start = reader.line_num + 1
    try:
        row = next(reader)
    except csv.Error as exc:
        line = reader.line_num
        limit = csv.field_size_limit()
        if "field larger than field limit" in str(exc):
            opened = f" (the row starts on line {start}: an unclosed quote?)"
            raise InvalidReferenceError(
                f"line {line}: a field longer than {limit} characters"
                f"{opened if start < line else ''}"
            ) from None
        raise InvalidReferenceError(f"line {line}: not CSV: {exc}") from None
    return row
