"""Property-based: whatever the user types, it is parsed or refused cleanly (exit 2)."""

from __future__ import annotations

import string
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from usage_cli.cli import run
from usage_cli.columns import CSV_COLUMNS, iso_ms, parse_columns
from usage_cli.errors import InputError
from usage_cli.query import parse_meta, parse_when
from usage_cli.sandbox import Sandbox

from .conftest import TOKEN

NOW = datetime(2026, 6, 1, tzinfo=UTC)
keys = st.text(min_size=1).filter(lambda k: k.strip() and "=" not in k and not set("[]") & set(k))


@given(key=keys, value=st.text())
def test_any_key_value_pair_round_trips(key: str, value: str) -> None:
    assert parse_meta([f"{key}={value}"]) == ((key, value),)


@given(st.text())
@example("=")
@example("a")
@example("[x]=1")
def test_meta_words_parse_or_raise_input_error(word: str) -> None:
    try:
        pairs = parse_meta([word])
    except InputError:
        return
    key, value = pairs[0]
    assert f"{key}={value}" == word


@given(st.text())
@example("7d")
@example("2026-02-29")
@example("9999999999d")
def test_times_parse_to_aware_utc_or_raise_input_error(text: str) -> None:
    try:
        moment = parse_when(text, now=NOW)
    except InputError:
        return
    assert moment.tzinfo is not None
    assert moment.utcoffset() == UTC.utcoffset(None)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from("smhdw"))
def test_spans_are_never_in_the_future(amount: int, unit: str) -> None:
    try:
        moment = parse_when(f"{amount}{unit}", now=NOW)
    except InputError:
        return  # too far back for a datetime: refused, not crashed
    assert moment <= NOW


@given(st.text(alphabet=string.ascii_letters + string.digits + ",._ -", max_size=60))
@example("id,meta.reason")
@example("meta.")
def test_columns_parse_to_known_names_or_raise_input_error(text: str) -> None:
    try:
        names = parse_columns(text)
    except InputError:
        return
    assert all(
        name in CSV_COLUMNS or (name.startswith("meta.") and len(name) > 5) for name in names
    )


CLI_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def quiet_sandbox() -> Iterator[Sandbox]:
    with Sandbox(records=5, token=TOKEN) as server:
        yield server


def _run_list(server: Sandbox, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    server.requests.clear()
    code = run(["--api-url", server.url, "--token", TOKEN, "list", "-q", *args])
    return code, capsys.readouterr().err


@CLI_SETTINGS
@given(
    st.integers(max_value=0)
    | st.text(alphabet=string.ascii_letters + "-.", min_size=1).filter(
        lambda t: not t.lstrip("-").isdigit()
    )
)
def test_bad_take_exits_2_before_any_request(
    quiet_sandbox: Sandbox, capsys: pytest.CaptureFixture[str], take: int | str
) -> None:
    code, err = _run_list(quiet_sandbox, capsys, f"--take={take}")
    assert code == 2
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) <= 2
    assert quiet_sandbox.requests == []


@CLI_SETTINGS
@given(st.text(max_size=30))
def test_any_meta_word_is_sent_or_refused_before_a_request(
    quiet_sandbox: Sandbox, capsys: pytest.CaptureFixture[str], word: str
) -> None:
    if "\x00" in word:
        return  # cannot be passed in argv at all
    code, err = _run_list(quiet_sandbox, capsys, f"--meta={word}")
    if code == 2:
        assert err.startswith("error: ")
        assert quiet_sandbox.requests == []
    else:
        assert code == 0, err
        key, _, value = word.partition("=")
        assert quiet_sandbox.requests[0].param(f"meta[{key}]") == value


@CLI_SETTINGS
@given(st.text(max_size=25))
def test_any_since_is_used_or_refused_before_a_request(
    quiet_sandbox: Sandbox, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    if "\x00" in text:
        return
    code, err = _run_list(quiet_sandbox, capsys, f"--since={text}")
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("error: --since")
        assert quiet_sandbox.requests == []


def _iso_by_strftime(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
    except (OverflowError, OSError, ValueError):
        return str(epoch_ms)


@given(
    st.one_of(
        st.integers(min_value=-(10**14), max_value=10**15),  # the calendar's years
        st.integers(min_value=-(2**70), max_value=2**70),  # and far past its ends
    )
)
def test_iso_ms_from_tables_is_what_strftime_writes(epoch_ms: int) -> None:
    """CSV times come from per-day tables; every byte must be strftime's."""
    assert iso_ms(epoch_ms) == _iso_by_strftime(epoch_ms)


_HOSTILE = st.text(alphabet=st.sampled_from(list("ab ,\"\r\n\x00é;'=+-@\t1.")), max_size=6)
_CELL_TEXT = st.one_of(st.none(), _HOSTILE)
_META = st.one_of(
    st.none(),
    st.dictionaries(_HOSTILE, st.one_of(st.none(), st.integers(), _HOSTILE), max_size=3),
)


# A page's createdAt: any moment, or all within one UTC day (a CSV page's
# times are then made from the day's date once).
_ANY_TIME = st.integers(min_value=0, max_value=4 * 10**12)
_ONE_DAY = st.integers(min_value=1_795_046_400_000, max_value=1_795_046_400_000 + 86_399_998)


@st.composite
def _raw_records(draw: st.DrawFn, created: st.SearchStrategy[int] = _ANY_TIME) -> dict[str, object]:
    raw: dict[str, object] = {
        "id": draw(_HOSTILE),
        "type": draw(_HOSTILE),
        "count": draw(st.integers()),
    }
    for name in CSV_COLUMNS:
        if name not in ("id", "type", "count", "meta", "createdAt", "updatedAt") and draw(
            st.booleans()
        ):
            raw[name] = draw(_CELL_TEXT)
    if draw(st.booleans()):
        raw["meta"] = draw(_META)
    raw["createdAt"] = moment = draw(created)
    raw["updatedAt"] = draw(st.sampled_from([None, moment, moment + 1]))
    return raw


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.lists(_raw_records(), max_size=6), st.lists(_raw_records(_ONE_DAY), max_size=6)),
    st.sampled_from(
        [
            CSV_COLUMNS,
            ("meta", "id"),
            ("id", "meta"),
            ("createdAt", "name"),
            ("count", "botId", "meta"),
            ("id", "count", "description"),
        ]
    ),
    st.booleans(),
)
def test_csv_rows_are_what_the_csv_module_writes(
    raws: list[dict[str, object]], columns: tuple[str, ...], guard: bool
) -> None:
    """The CSV writer joins plain rows itself: byte for byte the csv module's rows, with
    the spreadsheet guard (a `'` before a text cell that starts like a formula, or
    with `'`; text that is a plain number is none) or without it."""
    import csv
    import io
    import json
    import re

    from usage_cli.formats.csv import CsvWriter
    from usage_cli.records import UsageRecord

    def cell(raw: dict[str, object], column: str) -> object:
        value = raw.get(column)
        if value is None:
            return ""
        if column in ("createdAt", "updatedAt"):
            return iso_ms(value)  # type: ignore[arg-type]
        if column == "meta":
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        formula = isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r", "'")
        number = re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", str(value))
        return "'" + str(value) if guard and formula and not number else value

    text = io.StringIO(newline="")
    reference = csv.writer(text, lineterminator="\r\n")
    reference.writerow(columns)
    reference.writerows([[cell(raw, column) for column in columns] for raw in raws])
    out = io.BytesIO()
    writer = CsvWriter(out, columns, guard=guard)
    writer.write([UsageRecord(raw) for raw in raws])
    assert out.getvalue() == text.getvalue().encode()


@given(
    st.lists(
        st.one_of(
            st.none(),
            _ONE_DAY,
            st.integers(min_value=-(10**14), max_value=10**15),
            st.integers(min_value=-(2**70), max_value=2**70),
        ),
        max_size=8,
    )
)
@example([1_795_046_400_000, 1_795_046_400_000 + 86_399_999])  # a whole day
@example([1_795_046_400_000 - 1, 1_795_046_400_000])  # midnight between them
@example([-1, 0])
@example([253_402_300_799_999])  # the last millisecond of year 9999
def test_a_column_of_times_is_each_time_by_iso_ms(epochs: list[int | None]) -> None:
    """A CSV page's times made together (one date for a page within one day) are each
    `iso_ms`, and "" for none."""
    from usage_cli.columns import iso_ms_each

    assert iso_ms_each(tuple(epochs)) == ["" if ms is None else iso_ms(ms) for ms in epochs]
