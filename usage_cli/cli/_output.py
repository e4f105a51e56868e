"""Records as data on standard output: bytes in the format's encoding, whatever the locale."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import BinaryIO, TextIO

from usage_cli._text import EscapingStream
from usage_cli.formats import Format
from usage_cli.runtime import Runtime


def data_bytes(runtime: Runtime, fmt: Format) -> BinaryIO:
    """stdout for data of `fmt` as bytes; on a terminal, API control codes escaped."""
    stdout = runtime.stdout
    stdout.flush()
    if not runtime.stdout_tty:
        return stdout.buffer
    # Someone reads a terminal: API data must not drive it.
    return EscapingStream(stdout.buffer, json=fmt in (Format.json, Format.jsonl))


@contextlib.contextmanager
def data_stream(runtime: Runtime, fmt: Format) -> Iterator[TextIO]:
    """stdout as UTF-8 with no newline translation, whatever the locale says."""
    stdout = runtime.stdout
    if getattr(stdout, "buffer", None) is None:
        yield stdout
        return
    stream = io.TextIOWrapper(data_bytes(runtime, fmt), encoding="utf-8", newline="")
    try:
        yield stream
        stream.flush()
    finally:
        stream.detach()


def mended_note(strings: int) -> str:
    """What the user is told when lone surrogates were written as U+FFFD."""
    held = "string held" if strings == 1 else "strings held"
    return (
        f"note: {strings:,} {held} half an emoji (a lone surrogate), written as U+FFFD "
        "so that every JSON reader can read it; --exact writes the text as the API sent it"
    )
