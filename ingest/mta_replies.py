"""Replies a sending MTA writes itself, in the form of a server's reply.

When a server closes the connection or stops answering, Sendmail puts a
reply of its own making where the server's would be: in the DSN's
Diagnostic-Code, in its transcript and in the send log's ``reply=``. The
code in it is no server's answer, so neither the returned-mail parser nor
the send-log reader may take it for one. Kept here, apart from both, so
that they read the same list.
"""

from __future__ import annotations

import re

# src: sendmail 8.17 sendmail/usersmtp.c reply(): "if the remote end closed early, fake an error":
# "421 4.4.1 Connection reset by %s" and usrerr("451 4.4.1 reply: read error from %s"); sendmail 8.18
# writes the read error as "451 4.4.2 reply: read error from %s" (seen from Debian trixie's 8.18.1)
_FAKED_REPLY_RE = re.compile(
    r"\s*(?:<<<\s*)?(?:421 4\.4\.1 Connection reset by|451 4\.4\.[12] reply: read error from)\b", re.IGNORECASE)


def is_faked_reply(text: str | None) -> bool:
    """True when ``text`` opens with a reply the sending MTA wrote itself (no server replied)."""
    return bool(text and _FAKED_REPLY_RE.match(text))


def faked_reply_words(text: str) -> str | None:
    """The words of a made-up reply without its codes ("Connection reset by mx.example."),
    or None when ``text`` is a reply some server could have sent."""
    if not is_faked_reply(text):
        return None
    return text.strip().removeprefix("<<<").split(None, 2)[2]


#: A run of octal escapes ("\343\203\246"): Exim prints each byte of a reply it does not
#: count as printable so (src: Exim src/string.c string_printing2(), "\ooo" for a byte
#: outside print_topbitchars), a UTF-8 reply's every letter included.
_OCTAL_RUN_RE = re.compile(r"(?:\\[0-3][0-7]{2})+")


def exim_unescaped(text: str) -> str:
    """``text`` with Exim's octal escapes of a UTF-8 reply turned back into its letters.

    Only a run that holds bytes above 127 and reads as UTF-8 is decoded: an
    escaped control character, or bytes of another charset, stay as written.
    """
    if "\\" not in text:
        return text

    def decoded(found: re.Match[str]) -> str:
        run = found.group(0)
        raw = bytes(int(run[i + 1:i + 4], 8) for i in range(0, len(run), 4))
        if max(raw) < 0x80:
            return run
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return run

    return _OCTAL_RUN_RE.sub(decoded, text)
