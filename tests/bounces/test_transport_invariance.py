"""A returned message reads the same after what gateways and writers do to it without changing its meaning.

Like ``test_line_ends.py``, every real returned message among the fixtures is
parsed as it is and after one such change, and both readings must agree:

- blanks before a header field's colon ("From : MAILER-DAEMON@..."), the
  obsolete syntax RFC 5322 4.5 (obs-optional, obs-fields: ``field-name *WSP ":"``)
  has a receiver read as the same field: a first line "From :" was taken for an
  mbox "From " line and dropped, and five notices read as no bounce or another
  reason (sweep BU);
- the delivery-status part sent base64 or quoted-printable (RFC 3464 2.1 asks
  7bit, but gateways re-encode every part): Domino's Japanese Diagnostic-Code,
  undeclared ISO-2022-JP, was decoded as UTF-8 alone, stayed escapes and lost its
  reason (``userunknown`` read ``onhold``);
- the returned message (message/rfc822) sent base64 (RFC 2046 5.2.1 allows only
  7bit, 8bit and binary, but gateways re-encode it too): read as one header-less
  line of base64, three notices whose only signal was the returned headers read
  as no bounce;
- the fields of each recipient group written in the reverse order (writers order
  them freely: Postfix Final-Recipient then Original-Recipient, chasquid the
  other way round): an Original-Recipient written last, after Final-Recipient and
  Status, was taken to open a group of its own although a blank line ends each
  group, and chasquid's failures read ``onhold`` with a recipient too many.
"""

from __future__ import annotations

import base64
import quopri
import re
from email.message import Message
from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse

FIXTURES = Path(__file__).parent / "fixtures"
MESSAGES = sorted(path for path in FIXTURES.rglob("*") if path.suffix in (".eml", ".msg") and path.is_file())


def _reading(raw: bytes) -> list[tuple[object, ...]]:
    parsed = parse(raw)
    return [(parsed.outcome,)] + sorted(
        (v.kind, v.recipient or "", v.status or "", v.replycode or "", v.reason, v.hardbounce,
         " ".join((v.diagnostic or "").split()))
        for v in parsed.verdicts
    )


def _lf(path: Path) -> str:
    return path.read_bytes().replace(b"\r\n", b"\n").decode("latin-1")


def _split_head(text: str) -> tuple[str, str]:
    head, sep, body = text.partition("\n\n")
    return (head, body) if sep else (text, "")


def _content_type(head: str) -> Message:
    msg = Message()
    found = re.search(r"(?im)^content-type[ \t]*:((?:.*)(?:\n[ \t].*)*)", head)
    msg["Content-Type"] = " ".join(found.group(1).split()) if found else "text/plain"
    return msg


def _with_parts(text: str, change) -> str | None:
    """``text`` with each direct part of its top-level multipart passed through
    ``change(head, body)`` (which returns the new part, or ``None`` to keep it)."""
    head, body = _split_head(text)
    boundary = _content_type(head).get_boundary()
    if not boundary:
        return None
    pieces = re.split(r"(?m)^(--" + re.escape(boundary) + r"(?:--)?[ \t]*)$", body)
    changed = False
    for index in range(2, len(pieces), 2):
        if pieces[index - 1].rstrip().endswith("--"):
            break  # the epilogue
        part = pieces[index]
        lead, trail = part[:1], part[len(part.rstrip("\n")):]
        part_head, part_body = _split_head(part[1:len(part.rstrip("\n"))])
        new = change(part_head, part_body)
        if new is not None:
            pieces[index] = lead + new + trail
            changed = True
    return head + "\n\n" + "".join(pieces) if changed else None


def _encoder(wanted: str, encoding: str):
    def change(head: str, body: str) -> str | None:
        if _content_type(head).get_content_type() != wanted or re.search(r"(?im)^content-transfer-encoding:", head) \
                and not re.search(r"(?im)^content-transfer-encoding:[ \t]*(7bit|8bit)[ \t]*$", head):
            return None
        data = body.encode("latin-1")
        coded = base64.encodebytes(data) if encoding == "base64" else quopri.encodestring(data)
        head = re.sub(r"(?im)^content-transfer-encoding:.*\n?", "", head).rstrip("\n")
        return f"{head}\nContent-Transfer-Encoding: {encoding}\n\n{coded.decode('ascii').rstrip()}"
    return change


def _reversed_groups(head: str, body: str) -> str | None:
    """Each recipient group's fields in the reverse order, where blank lines set the groups
    apart (each holds one Final-Recipient)."""
    if _content_type(head).get_content_type() not in ("message/delivery-status", "message/global-delivery-status"):
        return None
    groups = body.split("\n\n")
    changed = False
    for index, group in enumerate(groups):
        lines = group.strip("\n").split("\n")
        if len([line for line in lines if re.match(r"(?i)final-recipient[ \t]*:", line)]) != 1:
            continue
        fields: list[list[str]] = []
        for line in lines:
            if line[:1] in (" ", "\t") and fields:
                fields[-1].append(line)
            elif re.match(r"[\041-\071\073-\176]+[ \t]*:", line):
                fields.append([line])
            else:
                break
        else:
            groups[index] = group.replace(group.strip("\n"), "\n".join(l for f in reversed(fields) for l in f))
            changed = True
    return head + "\n\n" + "\n\n".join(groups) if changed else None


def _blanks_before_colons(text: str) -> str | None:
    head, body = _split_head(text)
    new = re.sub(r"(?m)^([\041-\071\073-\176]+):", r"\1 :", head)
    return new + "\n\n" + body if new != head else None


TRANSFORMS = {
    "blanks-before-colons": _blanks_before_colons,
    "status-base64": lambda text: _with_parts(text, _encoder("message/delivery-status", "base64")),
    "status-quoted-printable": lambda text: _with_parts(text, _encoder("message/delivery-status", "quoted-printable")),
    "returned-message-base64": lambda text: _with_parts(text, _encoder("message/rfc822", "base64")),
    "recipient-fields-reversed": lambda text: _with_parts(text, _reversed_groups),
}


def test_there_are_messages_to_change() -> None:
    assert len(MESSAGES) > 100
    for name, transform in TRANSFORMS.items():
        assert sum(transform(_lf(path)) is not None for path in MESSAGES) >= 10, name


#: Each message with each change that finds something to change in it.
CHANGES = [(path, name) for path in MESSAGES for name in sorted(TRANSFORMS) if TRANSFORMS[name](_lf(path)) is not None]


@pytest.mark.parametrize(("path", "name"), CHANGES, ids=[f"{path.relative_to(FIXTURES)}-{name}" for path, name in CHANGES])
def test_the_change_keeps_the_reading(path: Path, name: str) -> None:
    text = _lf(path)
    changed = TRANSFORMS[name](text)
    assert changed is not None
    assert _reading(changed.encode("latin-1")) == _reading(text.encode("latin-1"))


DOMINO_JIS = (
    "From: Mail Delivery <postmaster@corp.example>\n"
    "To: sender@shop.example\n"
    "Subject: DELIVERY FAILURE\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
    "--b\nContent-Type: text/plain\n\nYour message was not delivered.\n\n"
    "--b\nContent-Type: message/delivery-status\n\n"
    "Reporting-MTA: dns; mail.corp.example\n\n"
    "Final-Recipient: rfc822; jiro@corp.example\nAction: failed\nStatus: 5.0.0\n"
    "Diagnostic-Code: X-Notes; \x1b$B%f!<%6!<\x1b(B Jiro (jiro@corp.example) \x1b$B$O\x1b(B Domino "
    "\x1b$B%G%#%l%/%H%j$K$O8+$D$+$j$^$;$s!#\x1b(B\n\n--b--\n"
)


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_an_encoded_status_part_in_iso_2022_jp_reads_as_sent_unencoded(encoding: str) -> None:
    encoded = _with_parts(DOMINO_JIS, _encoder("message/delivery-status", encoding))
    assert encoded is not None and "\x1b" not in encoded
    assert _reading(encoded.encode("latin-1")) == _reading(DOMINO_JIS.encode("latin-1"))
    assert "Domino ディレクトリ" in (parse(encoded.encode("latin-1")).verdicts[0].diagnostic or "")
