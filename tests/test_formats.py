from __future__ import annotations

import csv
import io
import json

import pytest

from usage_cli.columns import CSV_COLUMNS, iso_ms, parse_columns
from usage_cli.errors import InputError
from usage_cli.formats import make_writer
from usage_cli.formats.table import TableWriter
from usage_cli.records import UsageRecord

AWKWARD = [
    'said "hello", then left',
    "line one\nline two\r\nthree",
    "=SUM(A1:A9)",
    "café — 日本語 — 🚀",
    "",
]


def records() -> list[UsageRecord]:
    out = []
    for n, note in enumerate(AWKWARD):
        out.append(
            UsageRecord.model_validate(
                {
                    "id": f"r{n}",
                    "type": "OPENAI_GPT_4O_TOKEN",
                    "count": 1234567 + n,
                    "botId": "bot_1" if n % 2 else None,
                    "name": note,
                    "meta": {"note": note, "n": n, "flag": n % 2 == 0, "obj": {"a": [1]}},
                    "createdAt": 1767225602123 + n,
                    "updatedAt": 1767225602123 + n,
                    "extra": n,
                }
            )
        )
    return out


def render(fmt: str, columns: tuple[str, ...] | None = None, *, pages: int = 2) -> str:
    """Everything written for `records()`, delivered in `pages` batches."""
    if fmt == "table":
        text = io.StringIO()
        table = TableWriter(text, columns)
        table.write(records())
        table.close()
        return text.getvalue()
    stream = io.BytesIO()
    writer = make_writer(fmt, stream, columns)
    batch = records()
    size = -(-len(batch) // pages)
    for start in range(0, len(batch), size):
        writer.write(batch[start : start + size])
    writer.close()
    return stream.getvalue().decode("utf-8")


def test_jsonl_is_each_record_exactly_as_sent() -> None:
    lines = render("jsonl").splitlines()
    assert [json.loads(line) for line in lines] == [r.raw for r in records()]


def test_json_is_one_array_of_the_raw_records() -> None:
    assert json.loads(render("json")) == [r.raw for r in records()]


def test_json_of_nothing_is_an_empty_array() -> None:
    stream = io.BytesIO()
    writer = make_writer("json", stream)
    writer.write([])
    writer.close()
    assert json.loads(stream.getvalue()) == []


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_batching_does_not_change_the_bytes(fmt: str) -> None:
    assert render(fmt, pages=1) == render(fmt, pages=5)


def test_resumed_writers_add_no_second_preamble() -> None:
    stream = io.BytesIO()
    make_writer("csv", stream, resumed_after=3).write(records()[:1])
    assert not stream.getvalue().startswith(b"id,")
    stream = io.BytesIO()
    writer = make_writer("json", stream, resumed_after=3)
    writer.write(records()[:1])
    writer.close()
    assert stream.getvalue().startswith(b",\n{")


def test_csv_round_trips_through_the_csv_module() -> None:
    text = render("csv")
    assert text.startswith(",".join(CSV_COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    # A formula gets the `'` that keeps a spreadsheet from running it (`--exact`: not).
    assert [row["name"] for row in rows] == ["'" + n if n.startswith("=") else n for n in AWKWARD]
    first = rows[0]
    assert first["count"] == "1234567"
    assert first["botId"] == ""
    assert first["createdAt"] == "2026-01-01T00:00:02.123Z"
    assert json.loads(first["meta"]) == records()[0].meta
    assert (
        first["meta"] == '{"note":"said \\"hello\\", then left","n":0,"flag":true,"obj":{"a":[1]}}'
    )


def test_csv_meta_columns() -> None:
    rows = list(
        csv.reader(
            io.StringIO(
                render("csv", ("id", "meta.note", "meta.flag", "meta.obj", "meta.none")), newline=""
            )
        )
    )
    assert rows[0] == ["id", "meta.note", "meta.flag", "meta.obj", "meta.none"]
    assert rows[1] == ["r0", AWKWARD[0], "true", '{"a":[1]}', ""]
    assert rows[2][1] == AWKWARD[1]


def test_table_shows_readable_times_and_grouped_counts() -> None:
    text = render("table", ("createdAt", "id", "count", "meta.note"))
    assert "2026-01-01 00:00:02" in text
    assert "1,234,567" in text
    assert "createdAt (UTC)" in text


def test_table_does_not_interpret_markup_in_data() -> None:
    stream = io.StringIO()
    writer = TableWriter(stream, ("id", "name"))
    writer.write(
        [
            UsageRecord.model_validate(
                {"id": "x", "type": "T", "count": 1, "name": "[bold]hi[/bold]", "createdAt": 0}
            )
        ]
    )
    writer.close()
    assert "[bold]hi[/bold]" in stream.getvalue()


def test_iso_ms_keeps_milliseconds() -> None:
    assert iso_ms(1767225602123) == "2026-01-01T00:00:02.123Z"
    assert iso_ms(1767225602000) == "2026-01-01T00:00:02.000Z"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("id,,type", "empty column"),
        ("", "empty column"),
        ("id,bogus", "unknown column 'bogus'"),
        ("botid", "did you mean 'botId'"),
        ("meta.", "needs a key"),
    ],
)
def test_bad_columns_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        parse_columns(text)


def test_columns_accept_known_and_meta_names() -> None:
    assert parse_columns("id, type,meta.reason") == ("id", "type", "meta.reason")


def test_unknown_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="xml"):
        make_writer("xml", io.BytesIO())


def test_a_table_dropped_unclosed_leaves_the_stream_open() -> None:
    import gc

    stream = io.BytesIO()
    writer = TableWriter.over_bytes(stream)
    writer.write(records()[:1])
    del writer  # a run that failed before the table was drawn
    gc.collect()
    assert not stream.closed
    stream.write(b"still usable")


def _plain_record(n: int, **fields: object) -> UsageRecord:
    raw: dict[str, object] = {
        "id": f"rec_{n}",
        "type": "OPENAI_GPT_4O_TOKEN",
        "count": n,
        "botId": "bot_1" if n % 2 else None,
        "meta": {"reason": "retry"} if n % 3 else None,
        "createdAt": 1767225602123 + n,
        "updatedAt": 1767225602123 + n,
    }
    return UsageRecord({**raw, **fields})


# name -> (a page's odd record, whether the page is still joined without the csv module)
PAGES: dict[str, tuple[UsageRecord, bool]] = {
    "plain": (_plain_record(7), True),
    "a comma in one column": (_plain_record(7, description="manual, with retries"), True),
    "a quote and a line end": (_plain_record(7, name='say "hi"\r\nbye'), True),
    "a carriage return alone": (_plain_record(7, name="a\rb"), True),
    "a formula in one column": (_plain_record(7, botId="=SUM(A1)"), True),
    "a formula that needs quotes": (_plain_record(7, name='=HYPERLINK("x","y")'), True),
    "a NUL that starts no formula": (_plain_record(7, name="a\x00b"), True),
    "a lone surrogate in meta": (_plain_record(7, meta={"note": "half \ud83d"}), True),
    "empty meta and a missing field": (
        UsageRecord({"id": "r", "type": "T", "count": 0, "meta": {}, "createdAt": 0}),
        True,
    ),
    "times on two days": (_plain_record(7, createdAt=0, updatedAt=None), True),
    "a number where text goes": (_plain_record(7, name=5), False),
}


@pytest.mark.parametrize("name", sorted(PAGES))
@pytest.mark.parametrize("guard", [True, False])
def test_a_csv_page_is_the_csv_modules_whichever_way_it_is_written(
    name: str, guard: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page is joined a column at a time unless a cell is of another type; either way
    its bytes are the csv module's, cell by cell (`CsvWriter._cells`)."""
    from usage_cli.formats.csv import CsvWriter

    odd, joined = PAGES[name]
    page = [_plain_record(n) for n in range(5)] + [odd] + [_plain_record(n) for n in range(8, 10)]
    reference = CsvWriter(io.BytesIO(), resumed=True, guard=guard)
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\r\n").writerows([reference._cells(r.raw) for r in page])
    cells_of = CsvWriter._cells
    slow: list[object] = []

    def spied(self: CsvWriter, raw: dict[str, object]) -> list[object]:
        slow.append(raw)
        return cells_of(self, raw)

    monkeypatch.setattr(CsvWriter, "_cells", spied)
    out = io.BytesIO()
    CsvWriter(out, resumed=True, guard=guard).write(page)
    assert out.getvalue() == text.getvalue().encode()
    assert len(slow) == (0 if joined else len(page))
