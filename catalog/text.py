"""Text that people type (names, saved searches) and text that leaves the
system in XML (alerts, feeds).

Names and saved queries are refused, not repaired, when they hold control
characters: a line break in a saved query becomes a forged email header, a
bidirectional override makes a name read backwards, and a C0 control makes
an Atom feed stop being XML. The person who typed it can fix it; we cannot
guess what was meant. Transcript and caption text, which nobody typed here,
is instead stripped of what XML 1.0 cannot carry.
"""

from __future__ import annotations

import re
import unicodedata

from catalog.errors import OnRecordError

# Explicit embeddings, overrides and isolates (U+202A-202E, U+2066-2069):
# they reorder the text around them when it is shown.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Everything outside XML 1.0's Char production: C0 controls other than tab,
# line feed and carriage return, lone surrogates, U+FFFE and U+FFFF.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _refused(char: str) -> bool:
    category = unicodedata.category(char)
    return (
        category in ("Cc", "Cs")  # controls (tab and line breaks too), lone surrogates
        or char in BIDI_CONTROLS
        or (0xFDD0 <= ord(char) <= 0xFDEF or (ord(char) & 0xFFFE) == 0xFFFE)  # noncharacters
    )


def _describe(char: str) -> str:
    names = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}
    return names.get(char) or unicodedata.name(char, "a control character")


def clean_text(value: object, what: str, max_chars: int) -> str:
    """``value`` trimmed, with runs of spaces made one, or an OnRecordError
    that says how to fix it. ``what`` names the field in the message, as a
    sentence starts: "The name", "The saved search"."""
    if not isinstance(value, str) or not value.strip():
        raise OnRecordError(f"{what} is empty; type some text")
    text = value.strip()
    for position, char in enumerate(text, start=1):
        if _refused(char):
            raise OnRecordError(
                f"{what} holds {_describe(char).lower()} (U+{ord(char):04X}) at character {position};"
                " type it again on one line, without control characters"
            )
    text = " ".join(text.split())
    if len(text) > max_chars:
        raise OnRecordError(f"{what} is {len(text)} characters; keep it under {max_chars}")
    return text


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (a caption file or a
    decoder can carry them); everything else is kept as it was."""
    return NOT_XML.sub("", text)


def one_line(text: str) -> str:
    """``text`` with every control character and line break made a space:
    for headers (an email subject) built from stored text."""
    return " ".join("".join(" " if _refused(c) else c for c in text).split())
