"""Text from the API made safe for where it goes: a terminal, UTF-8 bytes, JSON.

API data is not ours: a string may carry a lone UTF-16 surrogate (what
JavaScript emits for an emoji cut in half, `"\\ud83d"`) or a terminal escape
sequence. What a person sees gets a replacement character or a visible escape,
never a raw control code; machine formats get U+FFFD for a lone surrogate
(`mended`) unless `--exact` asks for the value as sent, which they then keep
as its JSON escape.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from typing_extensions import Buffer

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls but newline and tab, DEL, and C1 controls (U+009B is a CSI too).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# The same, but line ends stay: CSV ends its rows with CRLF.
_CONTROL_IN_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}"


def _escape_json(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def for_terminal(text: str) -> str:
    """`text` as a person should see it: controls visibly escaped, surrogates replaced."""
    return _CONTROL.sub(_escape, _SURROGATE.sub("\ufffd", text))


class EscapingStream(io.BytesIO):
    """A binary stream that passes UTF-8 text on with control codes visibly escaped.

    For machine formats (csv, json) written to a terminal: a person reads
    them there, so API data must not drive the terminal. Each `write` is
    whole text (writers write whole rows or pages). A `BytesIO` only so that
    it is a `BinaryIO` to the writers; nothing is kept in it.
    """

    def __init__(self, target: BinaryIO, *, json: bool = False) -> None:
        super().__init__()
        self._target = target
        # In JSON a control code can only stand inside a string, where its
        # `\u00XX` spelling is the same value: the text stays valid JSON.
        self._escape = _escape_json if json else _escape

    def write(self, data: Buffer) -> int:
        text = bytes(data).decode("utf-8", "surrogateescape")
        escaped = _CONTROL_IN_LINES.sub(self._escape, text)
        self._target.write(escaped.encode("utf-8", "surrogateescape"))
        return len(bytes(data))

    def flush(self) -> None:
        self._target.flush()


def on_one_line(text: str) -> str:
    """`for_terminal`, and line breaks and tabs escaped too: one cell, one line."""
    return for_terminal(text).replace("\n", "\\n").replace("\t", "\\t")


def without_surrogates(text: str) -> str:
    """`text` encodable as UTF-8: each lone surrogate becomes U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def utf8(text: str) -> bytes:
    """UTF-8 bytes of `text`, with U+FFFD for lone surrogates (the fast path is plain)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return without_surrogates(text).encode("utf-8")


def json_escaping_surrogates(text: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with lone surrogates escaped.

    A surrogate can only stand inside a JSON string, where `\\udXXX` is its exact
    spelling: the value survives a round trip, and the text is valid UTF-8.
    """
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def mended(value: Any) -> tuple[Any, int]:
    """A decoded JSON value with each lone surrogate in its strings (keys too) made
    U+FFFD, and how many strings that changed.

    Strict JSON readers (jq 1.6, DuckDB, polars) refuse or silently drop the
    escape of a lone surrogate; what stands in its place is half an emoji, of
    no meaning alone. Values without one come back as they are (the same object).
    """
    if isinstance(value, str):
        fixed, changed = _SURROGATE.subn("\ufffd", value)
        return (fixed, 1) if changed else (value, 0)
    if isinstance(value, dict):
        total = 0
        items: list[tuple[Any, Any]] = []
        for key, item in value.items():
            new_key, in_key = mended(key)
            new_item, in_item = mended(item)
            total += in_key + in_item
            items.append((new_key, new_item))
        return (dict(items), total) if total else (value, 0)
    if isinstance(value, list):
        pairs = [mended(item) for item in value]
        total = sum(count for _, count in pairs)
        return ([item for item, _ in pairs], total) if total else (value, 0)
    return value, 0


# `note: `, `warning: `, `hint: `: a label whose text a wrapped note hangs under.
_LABEL = re.compile(r"[a-z][a-z ]{0,14}: ")


def wrapped(line: str, width: int | None) -> str:
    """A line for a terminal `width` columns wide, broken between words.

    Continuation lines hang under the text after a leading label (`warning: `),
    else two spaces in. A word longer than a line (a hash, a cursor, a path)
    is never broken: copied from the screen it must still work.
    """
    if width is None or len(line) <= width or "\n" in line:
        return line
    import textwrap

    label = _LABEL.match(line)
    indent = " " * (len(label.group()) if label else 2)
    if len(indent) > width // 3:
        indent = "  "
    return "\n".join(
        textwrap.wrap(
            line,
            width=width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
    )


def plural(number: int, noun: str, nouns: str | None = None) -> str:
    """`1 record`, `2 records` (`nouns` where adding an s is wrong), with thousands
    separated."""
    return f"{number:,} {noun if number == 1 else nouns or noun + 's'}"
