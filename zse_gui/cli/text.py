"""File names made safe for the two places the CLIs print them: a table line and JSON.

POSIX file names are bytes; Python hands undecodable bytes over as lone surrogates
(``surrogateescape``), which strict JSON readers refuse, and a name may hold a newline, which
would split a line of the search table. Both are written as visible escapes instead.
"""

from __future__ import annotations

import unicodedata

__all__ = ["json_safe", "one_line"]


def _escape_surrogate(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def json_safe(text: str) -> str:
    """``text`` with every lone surrogate written as ``\\xNN`` (a raw byte) or ``\\uNNNN``."""
    if not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return text
    return "".join(_escape_surrogate(ch) if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def one_line(text: str) -> str:
    """``json_safe(text)`` with control characters (newline, tab, ...) escaped: one table line."""
    out = []
    for ch in json_safe(text):
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)
