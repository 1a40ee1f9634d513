"""RFC 2047 encoded words, split in time linear in the header's length.

``email.header.decode_header`` is the reference and is used for ordinary
header values. On a value holding many thousands of encoded words it is
quadratic: it pops the head of a list, deletes from the middle of another
and grows a bytes object by ``+=`` once per word, so a Subject of 100,000
encoded words (a 3.8 MB bounce) takes half a minute, and its search for the
first word retries a lazy scan to the end of the line at every "=?" when no
"?=" follows. :func:`decode_header` gives the stdlib's answer, the same
list of ``(bytes or str, charset)`` pairs for ``email.header.make_header``,
by the stdlib's own steps in linear time; ``tests/bounces/
test_speed_shortcuts.py`` compares the two.
"""

from __future__ import annotations

import binascii
import email.base64mime
import email.header
import email.quoprimime
import re
from email.errors import HeaderParseError

#: Values with fewer "=?" than this go to the stdlib as they are: its
#: quadratic steps cost nothing measurable at that size.
STDLIB_WORDS = 200

#: The stdlib's encoded word (``email.header.ecre``), written out here.
_ECRE = re.compile(r"""
  =\?                   # literal =?
  (?P<charset>[^?]*?)   # non-greedy up to the next ? is the charset
  \?                    # literal ?
  (?P<encoding>[qQbB])  # either a "q" or a "b", case insensitive
  \?                    # literal ?
  (?P<encoded>.*?)      # non-greedy up to the next ?= is the encoded string
  \?=                   # literal ?=
  """, re.VERBOSE | re.MULTILINE)
#: What ``_ECRE`` matches before its encoded text: "=?charset?q?".
_PREFIX_RE = re.compile(r"=\?[^?]*\?[qQbB]\?")


def decode_header(header: str) -> list[tuple[bytes | str, str | None]]:
    """``email.header.decode_header(header)`` for a ``str`` value."""
    if header.count("=?") < STDLIB_WORDS:
        return email.header.decode_header(header)
    if not _has_encoded_word(header):
        return [(header, None)]
    words: list[tuple[str, str | None, str | None]] = []
    for line in header.splitlines():
        parts = _split_line(line)
        for index in range(0, len(parts), 4):
            unencoded = parts[index]
            if index == 0:
                unencoded = unencoded.lstrip()
            if unencoded:
                words.append((unencoded, None, None))
            if index + 1 < len(parts):
                words.append((parts[index + 3], parts[index + 2].lower(), parts[index + 1].lower()))
    # whitespace between two encoded words goes (the stdlib's droplist,
    # worked out on the list as it was before any deletion)
    dropped = {n - 1 for n in range(2, len(words))
               if words[n][1] and words[n - 2][1] and words[n - 1][0].isspace()}
    if dropped:
        words = [word for n, word in enumerate(words) if n not in dropped]
    if not words:
        return [(None, None)]  # type: ignore[list-item]  # what the stdlib's loop leaves then
    collapsed: list[tuple[bytes | str, str | None]] = []
    run: list[bytes] = []
    run_charset: str | None = None
    for encoded, encoding, charset in words:
        word: bytes | str
        if encoding is None:
            word = encoded
        elif encoding == "q":
            word = email.quoprimime.header_decode(encoded)
        else:
            padding = len(encoded) % 4  # Postel's law: add missing padding
            if padding:
                encoded += "==="[:4 - padding]
            try:
                word = email.base64mime.decode(encoded)
            except binascii.Error:
                raise HeaderParseError("Base64 decoding error") from None
        if isinstance(word, str):
            word = bytes(word, "raw-unicode-escape")
        if run and charset != run_charset:
            collapsed.append(_joined(run, run_charset))
            run = []
        run.append(word)
        run_charset = charset
    collapsed.append(_joined(run, run_charset))
    return collapsed


def _joined(run: list[bytes], charset: str | None) -> tuple[bytes, str | None]:
    """One collapsed pair: unencoded words joined by a space, encoded ones run together."""
    return (b" " if charset is None else b"").join(run), charset


def _split_line(line: str) -> list[str]:
    """``_ECRE.split(line)``: an encoded word ends in "?=", so the text after
    the last "?=" holds none and is only carried over (the regex would try a
    lazy scan to the line's end from every "=?" in it)."""
    cut = line.rfind("?=")
    if cut < 0:
        return [line]
    parts = _ECRE.split(line, 0) if cut + 2 == len(line) else _ECRE.split(line[:cut + 2])
    if cut + 2 < len(line):
        parts[-1] += line[cut + 2:]
    return parts


def _has_encoded_word(header: str) -> bool:
    """``_ECRE.search(header) is not None``, each character looked at a
    bounded number of times.

    A match is a prefix "=?charset?e?" (the charset may run over line
    ends, the prefix is unique from a given start) and then "?=" before the
    next line feed. Once a line has no "?=" after a prefix, no later prefix
    on it can match; only one that starts just before the line's last "?"
    can reach into the next line, so the search goes on from there.
    """
    pos = 0
    size = len(header)
    while True:
        prefix = _PREFIX_RE.search(header, pos)
        if prefix is None:
            return False
        end = prefix.end()
        line_end = header.find("\n", end)
        if line_end < 0:
            line_end = size
        if header.find("?=", end, line_end) >= 0:
            return True
        # the prefix's own last "?" (at end - 1) is the latest one if none follows
        pos = header.rfind("?", end - 1, line_end) - 1
