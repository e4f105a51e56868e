"""Text from the API made safe for where it goes: a terminal, UTF-8 bytes, JSON.

API data is not ours: a string may carry a lone UTF-16 surrogate (what
JavaScript emits for an emoji cut in half, `"\\ud83d"`) or a terminal escape
sequence. Machine formats keep such values losslessly; what a person sees gets
a replacement character or a visible escape, never a raw control code.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls but newline and tab, DEL, and C1 controls (U+009B is a CSI too).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}"


def for_terminal(text: str) -> str:
    """`text` as a person should see it: controls visibly escaped, surrogates replaced."""
    return _CONTROL.sub(_escape, _SURROGATE.sub("\ufffd", text))


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
