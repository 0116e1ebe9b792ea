"""Drift references: ``modelship reference build`` from training data, every way the data
can be wrong ending in one clear line that names the file, line or column and row (exit
2), never a traceback; and reading a reference's JSON, refused naming the field."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from modelship.cli import main
from modelship.drift.builder import build, build_from_csv
from modelship.drift.reference import (
    CategoricalFeature,
    InvalidReferenceError,
    NumericFeature,
    Reference,
    parse,
)


def test_build_parse_round_trip_with_categories_and_prediction() -> None:
    header = ["amount", "country", "score"]
    rows = [[str(i), "DE" if i % 3 else "FR", str(i / 10)] for i in range(30)]
    ref = build(header, rows, bins=4, categorical=["country"], prediction="score")
    again = parse(ref.dumps())
    assert again == ref
    assert again.features["country"].counts == {"DE": 20.0, "FR": 10.0}
    assert again.prediction is not None and again.rows == 30


@pytest.mark.parametrize(
    ("rows", "options", "message"),
    [
        ([], {}, "no data rows"),
        ([["1", ""], ["2", ""]], {}, "column 'b' is empty"),
        (
            [["1", "2"], ["1", "x"]],
            {"numeric": ["b"]},
            "--numeric column 'b' is not numeric: 'x' on data row 2",
        ),
        ([["1", "x"]], {"prediction": "b"}, "the prediction column 'b' is not numeric: 'x' on"),
        (
            [["1", "2"]],
            {"numeric": ["b"], "categorical": ["b"]},
            "column 'b' is named by both --categorical and --numeric",
        ),
        (
            [["1", "2"]],
            {"prediction": "b", "exclude": ["b"]},
            "column 'b' is named by both --prediction and --exclude",
        ),
        ([["1", "2", "3"]], {}, "line 2: 3 fields, the header has 2"),
        ([["1", "2"]], {"categorical": ["c"]}, "no such column: c"),
    ],
)
def test_build_errors_name_the_column(
    rows: list[list[str]], options: dict[str, object], message: str
) -> None:
    with pytest.raises(
        InvalidReferenceError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        build(["a", "b"], rows, **options)  # type: ignore[arg-type]


def test_build_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("x,y\n" + "".join(f"{i},{i * 2}\n" for i in range(100)))
    ref = build_from_csv(path.read_text().splitlines(), bins=5)
    assert set(ref.features) == {"x", "y"} and ref.rows == 100
    with pytest.raises(InvalidReferenceError, match=r"train\.csv is empty"):
        build_from_csv([], "train.csv")


def test_reference_build_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    data = tmp_path / "train.csv"
    data.write_text(
        "amount,country\n" + "".join(f"{i},{'DE' if i % 2 else 'FR'}\n" for i in range(50))
    )
    out = tmp_path / "cm.yaml"
    argv = [
        "reference",
        "build",
        str(data),
        "--categorical",
        "country",
        "--configmap",
        "ref",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    cm = yaml.safe_load(out.read_text())
    ref = parse(cm["data"]["reference.json"])
    assert ref.rows == 50 and set(ref.features) == {"amount", "country"}


def numbers(rows: int) -> bytes:
    return b"".join(f"{i},{i * 2}\n".encode() for i in range(rows))


LONG = csv.field_size_limit() + 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"a,b\n" + numbers(5) + b"1,\xe9t\xff\n",
            "line 7: not UTF-8 text (byte 0xe9 at column 3); save the file as UTF-8",
        ),
        (
            b"a,\xffb\n" + numbers(5),
            "line 1: not UTF-8 text (byte 0xff at column 3); save the file as UTF-8",
        ),
        (
            b"a,b\n" + numbers(10) + b"1," + b"9" * LONG + b"\n",
            f"line 12: a field longer than {LONG - 1} characters",
        ),
        (
            b"a,b\n" + numbers(3) + b'1,"2\n' + numbers(3) + b"3," + b"x" * LONG + b"\n",
            f"line 9: a field longer than {LONG - 1} characters "
            "(the row starts on line 5: an unclosed quote?)",
        ),
        (b"", "the file is empty"),
    ],
    ids=["not UTF-8", "not UTF-8 in the header", "a field too long", "an unclosed quote", "empty"],
)
def test_data_that_is_not_utf8_csv_is_one_line_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    data = tmp_path / "train.csv"
    data.write_bytes(content)
    assert main(["reference", "build", str(data)]) == 2
    assert capsys.readouterr().err == f"modelship reference build: {data}: {message}\n"


def test_a_byte_order_mark_and_crlf_line_ends_are_read(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_bytes(b"\xef\xbb\xbfa,b\r\n" + numbers(20).replace(b"\n", b"\r\n"))
    out = tmp_path / "ref.json"
    assert main(["reference", "build", str(data), "-o", str(out)]) == 0
    assert set(parse(out.read_text()).features) == {"a", "b"}


def test_an_unwritable_output_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "train.csv"
    data.write_bytes(b"a,b\n" + numbers(20))
    out = tmp_path / "missing-dir" / "ref.json"
    assert main(["reference", "build", str(data), "-o", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"modelship reference build: {out}: ")


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["-1e308", "1e308"], "feature 'big': values from -1e+308 to 1e+308 span more than"),
        (
            ["-1.7e308", "-1.7e308", "-1.7e308", "1.7e308"],  # finite edges, outer bins not
            "feature 'big': values from -1.7e+308 to 1.7e+308 span more than floats can bin "
            "(edges past +-1.8e308); rescale the column",
        ),
        (["1", "inf"], "column 'big': 'inf' on data row 2 is not a finite number"),
        (["1", "NaN"], "column 'big': 'NaN' on data row 2 is not a finite number"),
        (["1", "1e309"], "column 'big': '1e309' on data row 2 is not a finite number"),
    ],
    ids=["quantiles overflow", "bins overflow", "inf", "NaN", "past the float range"],
)
def test_values_that_cannot_be_binned_are_refused_naming_the_feature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cells: list[str], message: str
) -> None:
    """Values near +-1e308 made the quantile edges infinite: the JSON held Infinity and
    the scores were nonsense (Wasserstein near 1e308), with exit 0."""
    data = tmp_path / "train.csv"
    data.write_text("x,big\n" + "".join(f"{i},{cells[i % len(cells)]}\n" for i in range(20)))
    out = tmp_path / "ref.json"
    assert main(["reference", "build", str(data), "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_empty_cells_are_counted_as_missing_per_feature() -> None:
    """Every row is in ``rows``; an empty cell is in no bin but in ``missing``, so no
    feature's counts silently sum to less than the rows."""
    header = ["amount", "country", "score"]
    rows = [["1", "DE", "0.1"], ["", "FR", "0.2"], ["3", " ", "0.3"], ["4", "DE", ""]]
    rows += [[str(i), "FR", str(i / 10)] for i in range(5, 9)]
    ref = build(header, rows, bins=2, categorical=["country"], prediction="score")
    amount, country = ref.features["amount"], ref.features["country"]
    assert ref.rows == 8 and amount.missing == 1 and country.missing == 1
    assert ref.prediction is not None and ref.prediction.missing == 1
    for f in (amount, country, ref.prediction):
        counts = f.counts.values() if isinstance(f.counts, dict) else f.counts
        assert sum(counts) + f.missing == ref.rows
    body = json.loads(ref.dumps())
    assert body["features"]["amount"]["missing"] == 1
    assert body["features"]["country"]["missing"] == 1
    assert parse(ref.dumps()) == ref


def test_a_reference_without_missing_counts_still_reads() -> None:
    """References written before ``missing`` existed: none missing."""
    old = {
        "format": "modelship.io/reference/v1",
        "rows": 3,
        "features": {
            "amount": {"type": "numeric", "edges": [1.0], "counts": [2.0, 1.0]},
            "country": {"type": "categorical", "counts": {"DE": 3.0}},
        },
    }
    ref = parse(json.dumps(old))
    assert ref.features["amount"].missing == 0 and ref.features["country"].missing == 0
    old["features"]["amount"]["missing"] = -1  # type: ignore[index]
    with pytest.raises(InvalidReferenceError, match=r"features\.amount\.missing: a non-negative"):
        parse(json.dumps(old))


def test_the_summary_line_says_which_features_had_empty_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b,c\n1,,x\n2,,y\n3,4,\n4,5,x\n")
    assert main(["reference", "build", str(data), "--categorical", "c"]) == 0
    captured = capsys.readouterr()
    assert parse(captured.out).features["b"].missing == 2
    assert captured.err == (
        "modelship reference build: 4 rows, 3 features (1 categorical); "
        "empty cells, counted as missing: b 2, c 1\n"
    )
    out = tmp_path / "ref.json"
    data.write_text("a,b\n1,2\n3,4\n")
    assert main(["reference", "build", str(data), "-o", str(out)]) == 0
    assert capsys.readouterr().err == f"wrote {out}: 2 rows, 2 features; no empty cells\n"


def test_a_text_column_is_inferred_categorical_and_said_so() -> None:
    header = ["amount", "country", "code"]
    rows = [[str(i), "DE" if i % 3 else "FR", str(i) if i != 7 else "n/a"] for i in range(30)]
    ref = build(header, rows, bins=4)
    assert isinstance(ref.features["amount"], NumericFeature)
    assert ref.features["country"] == CategoricalFeature({"FR": 10.0, "DE": 20.0})
    assert isinstance(ref.features["code"], CategoricalFeature)
    assert ref.notes == (
        "feature 'country': text values (e.g. 'FR' on data row 1), treated as categorical "
        "(2 categories); --numeric country to refuse instead",
        "feature 'code': text values (e.g. 'n/a' on data row 8; 29 of 30 values are "
        "numbers), treated as categorical (30 categories); --numeric code to refuse instead",
    )
    declared = build(header, rows, bins=4, categorical=["country", "code"])
    assert declared == ref and declared.notes == ()  # said only when inferred
    forced = build(header, rows, bins=4, categorical=["amount"], exclude=["code"])
    assert isinstance(forced.features["amount"], CategoricalFeature)
    with pytest.raises(
        InvalidReferenceError, match="--numeric column 'code' is not numeric: 'n/a' on data row 8"
    ):
        build(header, rows, numeric=["amount", "code"])


def test_categorical_and_numeric_flags_take_comma_lists_and_repeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "train.csv"
    data.write_text(
        "amount,country,zip,label\n"
        + "".join(f"{i},{'DE' if i % 2 else 'FR'},{10000 + i % 5},{i % 2}\n" for i in range(50))
    )
    assert main(["reference", "build", str(data), "--exclude", "label"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == (
        "modelship reference build: feature 'country': text values (e.g. 'FR' on data row "
        "1), treated as categorical (2 categories); --numeric country to refuse instead"
    )
    assert "3 features (1 categorical)" in captured.err
    assert isinstance(parse(captured.out).features["zip"], NumericFeature)
    argv = ["reference", "build", str(data), "--categorical", "country,zip", "--exclude", "label"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "text values" not in captured.err and "3 features (2 categorical)" in captured.err
    ref = parse(captured.out)
    assert isinstance(ref.features["zip"], CategoricalFeature) and "label" not in ref.features
    argv = ["reference", "build", str(data), "--numeric", "amount", "--numeric", "country,zip"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"modelship reference build: {data}: --numeric column 'country' is not numeric: "
        "'FR' on data row 1\n"
    )


# -- reading a reference (parse) ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"format": "x"}, "format must be"),
        ({"format": "modelship.io/reference/v1", "features": {}}, "features: a non-empty"),
        (
            {
                "format": "modelship.io/reference/v1",
                "features": {"a": {"type": "numeric", "edges": [1], "counts": [1]}},
            },
            "features.a: 1 counts for 1 edges",
        ),
        (
            {
                "format": "modelship.io/reference/v1",
                "features": {"a": {"type": "numeric", "edges": [2, 1], "counts": [1, 1, 1]}},
            },
            "edges must increase",
        ),
        (
            {"format": "modelship.io/reference/v1", "features": {"a": {"type": "text"}}},
            "features.a.type",
        ),
    ],
)
def test_parse_rejects_with_the_field(body: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message):
        parse(json.dumps(body))


def numeric_json(edges: str, counts: str = "[1, 1, 1]", extra: str = "") -> str:
    return (
        '{"format": "modelship.io/reference/v1", "features": {"amount": '
        f'{{"type": "numeric", "edges": {edges}, "counts": {counts}}}}}{extra}}}'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (numeric_json("[-Infinity, 1]"), "features.amount: edges must be finite numbers"),
        (numeric_json("[0, NaN]"), "features.amount: edges must be finite numbers"),
        (numeric_json("[0, 1e999]"), "features.amount: edges must be finite numbers"),
        (numeric_json('[0, "1"]'), "features.amount: edges must be finite numbers"),
        (
            numeric_json("[-1.7e308, 1.7e308]"),
            "features.amount: edges too close to the float limit",
        ),
        (numeric_json("[]", "[5]"), "features.amount: at least one edge is needed"),
        (numeric_json("[0, 1]", "[1, Infinity, 1]"), "features.amount: counts must be finite"),
        (numeric_json("[0, 1]", '[1, "2", 1]'), "features.amount: counts must be finite"),
        (numeric_json("[0, 1]", extra=', "rows": "many"'), "rows: a non-negative whole number"),
        (
            '{"format": "modelship.io/reference/v1", "features": {"country": '
            '{"type": "categorical", "counts": {"DE": NaN}}}}',
            "features.country: categorical features need 'counts', finite non-negative",
        ),
        (
            '{"format": "modelship.io/reference/v1", "features": {"country": '
            '{"type": "categorical", "counts": {"DE": "3"}}}}',
            "features.country: categorical features need 'counts', finite non-negative",
        ),
    ],
    ids=[
        "-Infinity edge",
        "NaN edge",
        "an edge past the float range",
        "a string edge",
        "edges whose bins overflow",
        "no edges",
        "Infinity count",
        "a string count",
        "rows not a number",
        "NaN category count",
        "a string category count",
    ],
)
def test_parse_rejects_non_finite_or_non_numbers_naming_the_feature(
    text: str, message: str
) -> None:
    """Not a TypeError or an infinite edge deep in the operator: one message, the field."""
    with pytest.raises(InvalidReferenceError, match=message):
        parse(text)


def test_a_reference_holding_a_non_finite_value_is_never_written_as_json() -> None:
    bad = Reference(3, {"x": NumericFeature((-math.inf, 1.0), (1.0, 1.0, 1.0))})
    with pytest.raises(ValueError, match="not JSON compliant"):
        bad.dumps()
