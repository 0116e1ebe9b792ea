"""A reference from training data: the logic behind ``modelship reference build``.

Pure: the caller opens the file and hands over its lines (``build_from_csv``) or its
rows (``build``). Every problem with the data is an ``InvalidReferenceError`` whose
message names the line, or the column and data row, so the command can print one
clear line instead of a traceback.
"""

from __future__ import annotations

import csv
import math
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
    prediction: str | None = None,
    exclude: Sequence[str] = (),
) -> Reference:
    """A reference from CSV-like rows; numeric unless named in ``categorical``."""
    if bins < 2:
        raise InvalidReferenceError(f"bins must be at least 2, not {bins}")
    unknown = [
        c
        for c in [*categorical, *exclude, *([prediction] if prediction else [])]
        if c not in header
    ]
    if unknown:
        raise InvalidReferenceError(
            f"no such column: {', '.join(unknown)} (columns: {', '.join(header)})"
        )
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
    pred: NumericFeature | None = None
    for name in header:
        if name in exclude:
            continue
        raw = columns[name]
        present = [v for v in raw if v.strip() != ""]
        if not present:
            raise InvalidReferenceError(f"column {name!r} is empty")
        missing = n - len(present)  # empty cells: counted, never binned
        if name in categorical:
            cats: dict[str, float] = {}
            for v in present:
                cats[v] = cats.get(v, 0.0) + 1
            features[name] = CategoricalFeature(cats, missing)
            continue
        values = np.empty(len(present))
        for i, v in enumerate(present):
            try:
                values[i] = float(v)
            except ValueError:
                raise InvalidReferenceError(
                    f"column {name!r} is not numeric ({v!r} on data row {raw.index(v) + 1}); "
                    f"name it with --categorical or --exclude"
                ) from None
            if not math.isfinite(values[i]):
                raise InvalidReferenceError(
                    f"column {name!r}: {v!r} on data row {raw.index(v) + 1} is not a finite "
                    "number (leave the cell empty for a missing value)"
                )
        feature = numeric_feature(values, bins, name=name, missing=missing)
        if name == prediction:
            pred = feature
        else:
            features[name] = feature
    if not features:
        raise InvalidReferenceError("no feature columns left")
    return Reference(n, features, pred)


def summary(reference: Reference, most: int = 10) -> str:
    """One line for the person who built it: rows, features, and the empty cells per
    feature (the largest ``most``), which are in no bin and easy to overlook."""
    cats = sum(isinstance(f, CategoricalFeature) for f in reference.features.values())
    kinds = f" ({cats} categorical)" if cats else ""
    head = f"{reference.rows} rows, {len(reference.features)} features{kinds}"
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
