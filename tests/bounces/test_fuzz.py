"""Fuzzing ``parse`` in strict mode: 10,000 damaged messages, and no internal error.

The seeds are our own fixtures and delivery reports generated here from the
RFC 3464 field grammar (never the shared corpus). Each fuzzed message gets
one to three kinds of damage real returned mail shows: flipped bytes,
truncation, duplicated headers, junk charsets and encoded words, damaged
MIME boundaries, deep ``message/rfc822`` nesting, huge lines.

``parse(raw, strict=True)`` raises what production would turn into outcome
``error``, so any bug in our code fails the test, with the mutant's index
and damage named in the exception notes to replay it. Beyond "no exception",
every result must be well-formed (:func:`check_invariants`).
"""

from __future__ import annotations

import base64
import random
import re
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.records import ParsedMessage

FIXTURES = Path(__file__).parent / "fixtures"
FUZZED = 10_000
SEED = 20261205

OUTCOMES = ("bounce", "ignored", "unparsed")  # "error" must never come back
KINDS = ("bounce", "delay", "success", "autoreply", "complaint")
STATUS_RE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
REPLYCODE_RE = re.compile(r"[2-5]\d\d")


def check_invariants(parsed: ParsedMessage) -> None:
    """What every result must look like, whatever the input was."""
    assert isinstance(parsed, ParsedMessage)
    assert parsed.outcome in OUTCOMES, (parsed.outcome, parsed.error)
    assert isinstance(parsed.verdicts, tuple)
    assert (parsed.outcome == "bounce") == bool(parsed.verdicts), parsed
    if parsed.outcome == "unparsed":
        assert isinstance(parsed.error, str) and parsed.error
    for verdict in parsed.verdicts:
        assert verdict.kind in KINDS, verdict
        assert verdict.recipient is None or (
            isinstance(verdict.recipient, str) and verdict.recipient and verdict.recipient == verdict.recipient.strip()
        ), verdict.recipient
        assert verdict.status is None or STATUS_RE.fullmatch(verdict.status), verdict.status
        assert verdict.replycode is None or REPLYCODE_RE.fullmatch(verdict.replycode), verdict.replycode
        assert isinstance(verdict.reason, str) and verdict.reason, verdict
        assert isinstance(verdict.hardbounce, bool), verdict
    for mapping in (parsed.headers, parsed.quoted):
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())


# ---------------------------------------------------------------- seeds

_ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded", "FAILED", "", "bogus")
_STATUSES = ("5.1.1", "5.2.2", "4.4.7", "4.7.1", "2.0.0", "5.7.1", "5.0.0", "9.9.9", "5.1", "", "4.2.0 (x)")
_DIAGNOSTICS = (
    "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    "smtp; 552-5.2.2 The email account that you tried to reach is over quota",
    "SMTP; 421 4.7.0 Try again later, closing connection",
    "X-Postfix; connect to mx.example[192.0.2.1]:25: Connection timed out",
    "smtp;554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
    "x-unix; exit code 67",
    "",
)


def _address(rng: random.Random) -> str:
    local = rng.choice(("ghost", "full", "a.b+tag", "Müller", "x" * rng.randint(1, 300), '"quoted user"'))
    return f"{local}@{rng.choice(('bigisp.example', 'mx.example', 'xn--bcher-kva.example', 'a'))}"


def generated_dsn(rng: random.Random) -> bytes:
    """A delivery report in the RFC 3464 shape, with randomised fields and parts."""
    boundary = rng.choice(("b1", "=_x.y/z", "----=_NextPart_000_0001", "a b"))
    report_type = rng.choice(("message/delivery-status", "message/global-delivery-status"))
    blocks = []
    for _ in range(rng.randint(0, 6)):
        rcpt = _address(rng)
        fields = [
            f"Final-Recipient: {rng.choice(('rfc822', 'RFC822', 'utf-8', 'x400', ''))}; {rcpt}",
            f"Action: {rng.choice(_ACTIONS)}",
            f"Status: {rng.choice(_STATUSES)}",
            f"Diagnostic-Code: {rng.choice(_DIAGNOSTICS).format(rcpt=rcpt)}",
            f"Remote-MTA: dns; {rng.choice(('mx.bigisp.example', '[192.0.2.1]', ''))}",
            f"Last-Attempt-Date: {rng.choice(('Sat, 7 Mar 2026 07:45:09 +0000', 'yesterday', ''))}",
            f"Original-Recipient: rfc822;{rcpt}",
        ]
        rng.shuffle(fields)  # no field order may be assumed
        blocks.append("\n".join(fields[: rng.randint(1, len(fields))]))
    status = "Reporting-MTA: dns; mta1.shop.example\nArrival-Date: Sat, 7 Mar 2026 07:45:09 +0000\n\n"
    status += "\n\n".join(blocks)
    if rng.random() < 0.2:
        encoded = base64.encodebytes(status.encode()).decode()
        report_part = f"Content-Type: {report_type}\nContent-Transfer-Encoding: base64\n\n{encoded}"
    else:
        report_part = f"Content-Type: {report_type}\n\n{status}\n"
    original = (
        "Content-Type: message/rfc822\n\nFrom: news@shop.example\nTo: ghost@bigisp.example\n"
        "Message-ID: <nl@shop.example>\nSubject: hi\n\nbody\n"
        if rng.random() < 0.5
        else "Content-Type: text/rfc822-headers\n\nMessage-ID: <nl@shop.example>\nFrom: news@shop.example\n"
    )
    text = (
        "Return-Path: <>\nFrom: Mail Delivery System <MAILER-DAEMON@mta1.shop.example>\n"
        "Subject: Undelivered Mail Returned to Sender\nTo: bounces@shop.example\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n\n'
        f"--{boundary}\nContent-Type: text/plain; charset={rng.choice(('us-ascii', 'utf-8', 'bogus-8', 'iso-2022-jp'))}\n\n"
        "This is the mail system. I'm sorry to have to inform you that your message could not be delivered.\n\n"
        f"--{boundary}\n{report_part}\n--{boundary}\n{original}\n--{boundary}--\n"
    )
    return text.encode("utf-8")


def seeds(rng: random.Random) -> list[bytes]:
    """Our fixtures and as many generated reports again."""
    own = [path.read_bytes() for path in sorted(FIXTURES.glob("*.msg"))]
    assert own, "no fixtures to fuzz"
    return own + [generated_dsn(rng) for _ in range(len(own))]


# ---------------------------------------------------------------- damage

Mutator = Callable[[bytes, random.Random], bytes]

#: Bytes a multiplying kind of damage may add: large enough for every bound
#: in the parser to be crossed, small enough for 10,000 messages to stay a
#: unit test on two shared cores (the parser's time against size is the
#: subject of benchmarks/, not of this test).
MAX_GROWTH = 300_000


def flip_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw or b"\0")
    for _ in range(rng.randint(1, 60)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def truncate(raw: bytes, rng: random.Random) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def duplicate_header(raw: bytes, rng: random.Random) -> bytes:
    head, sep, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    line = rng.choice(lines)
    at = rng.randrange(len(lines) + 1)
    copies = min(rng.choice((1, 2, 10, 1000)), max(1, MAX_GROWTH // (len(line) + 1)))
    lines[at:at] = [line] * copies
    return b"\n".join(lines) + sep + body


def charset_junk(raw: bytes, rng: random.Random) -> bytes:
    junk = rng.choice((
        b"charset=\"x-unknown-\xff\"", b"charset=utf-8''%FF%FE", b"charset=", b"charset*=''",
        b"charset=utf-7", b"charset=iso-2022-jp; charset=gb2312", b"charset=\"utf-16\"",
    ))
    raw = re.sub(rb"charset=\S+", lambda _m: junk, raw, count=rng.randint(1, 5))
    word = rng.choice((b"=?x-bogus?B?////?=", b"=?utf-8?Q?=FF=FE=?=", b"=?utf-8?B?not base64!?=", b"=?iso-2022-jp?B?GyRC?="))
    return raw.replace(b"Subject: ", b"Subject: " + word * rng.choice((1, 5, 500)) + b" ", 1)


def damage_boundary(raw: bytes, rng: random.Random) -> bytes:
    found = re.search(rb'boundary="?([^";\r\n]+)"?', raw)
    if found is None:
        return raw
    name = found.group(1)
    choice = rng.randrange(5)
    if choice == 0:  # the closing delimiter lost
        return raw.replace(b"--" + name + b"--", b"")
    if choice == 1:  # the parameter no longer matches the delimiters
        return raw.replace(found.group(0), b"boundary=" + name[::-1], 1)
    if choice == 2:  # an empty or absurd parameter
        return raw.replace(found.group(0), rng.choice((b'boundary=""', b"boundary=", b"boundary=" + b"-" * 5000)), 1)
    if choice == 3:  # delimiters glued to content
        return raw.replace(b"\n--" + name, b"--" + name, rng.randint(1, 3))
    return raw.replace(b"--" + name + b"\n", b"--" + name + b"\n" * rng.randint(0, 3) + b"--" + name + b"\n", 1)


def nest(raw: bytes, rng: random.Random) -> bytes:
    """Wrap the message in message/rfc822 or multipart layers, up to deeper than any bound."""
    depth = rng.choice((1, 2, 3, 13, 60, 400, 1500))
    heads: list[bytes] = []
    tails: list[bytes] = []
    for level in range(depth):
        if rng.random() < 0.5:
            heads.append(b"From: MAILER-DAEMON@x.example\nContent-Type: message/rfc822\n\n")
        else:
            heads.append(b"Content-Type: multipart/mixed; boundary=n%d\n\n--n%d\nContent-Type: message/rfc822\n\n"
                         % (level, level))
            tails.append(b"\n--n%d--\n" % level)
    return b"".join(reversed(heads)) + raw + b"".join(tails)


def huge_line(raw: bytes, rng: random.Random) -> bytes:
    filler = rng.choice((b"x", b"a@b.example ", b"=?utf-8?B?w6k=?= ", b"5.1.1 ", b"\t"))
    line = filler * (rng.randint(10_000, 100_000) // len(filler))
    at = rng.randrange(len(raw) + 1)
    if rng.random() < 0.5:  # a folded header with hundreds of continuation lines
        line = b"X-Long: " + b"\n ".join([filler * 10] * rng.randint(50, 500)) + b"\n"
        at = raw.find(b"\n") + 1
    return raw[:at] + line + raw[at:]


def line_ends(raw: bytes, rng: random.Random) -> bytes:
    return raw.replace(b"\n", rng.choice((b"\r\n", b"\r", b"\n\r", b"\r\r\n", b"\x00\n")))


def splice(raw: bytes, rng: random.Random) -> bytes:
    """Paste a piece of the message somewhere else in it (mixed-up parts, repeated blocks)."""
    if not raw:
        return raw
    start = rng.randrange(len(raw))
    piece = raw[start : start + rng.randint(1, 500)]
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + piece * rng.randint(1, 20) + raw[at:]


def as_mbox(raw: bytes, rng: random.Random) -> bytes:
    sep = b"From MAILER-DAEMON Sat Mar  7 07:45:10 2026\n"
    copies = max(2, min(rng.randint(2, 30), MAX_GROWTH // (len(raw) + 1)))
    return b"".join(sep + raw + b"\n\n" for _ in range(copies))


#: Every kind of damage, the cheap ones three times: messages that grow to
#: hundreds of kilobytes (huge lines, deep nesting, mboxes) cost ten times
#: more to parse and would dominate the run.
MUTATORS: tuple[Mutator, ...] = (
    *(flip_bytes, truncate, duplicate_header, charset_junk, damage_boundary, line_ends, splice) * 3,
    nest, huge_line, as_mbox,
)


def fuzzed(count: int, seed: int) -> list[tuple[int, tuple[str, ...], bytes]]:
    """``count`` messages, each with its damage named, reproducible from ``seed``."""
    rng = random.Random(seed)
    pool = seeds(rng)
    out = []
    for index in range(count):
        raw = pool[index % len(pool)]
        damage = tuple(rng.choice(MUTATORS) for _ in range(rng.choice((1, 1, 1, 2, 3))))
        for mutate in damage:
            raw = mutate(raw, rng)
        out.append((index, tuple(m.__name__ for m in damage), raw))
    return out


#: Internal errors the fuzz has found in code this test's author may not
#: change, reported and awaiting a fix: (exception type, file, function).
#: While one still occurs the test is an expected failure that names it;
#: every other internal error fails the test; an entry that no longer
#: occurs fails it too, so the list cannot go stale.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


def _innermost_ours(exc: BaseException) -> tuple[str, str, str]:
    """(type, file, function) of the innermost frame in ``ingest/``."""
    root = Path(__file__).resolve().parents[2]
    ours = [
        frame for frame in traceback.extract_tb(exc.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(root / "ingest")
    ]
    if not ours:
        return (type(exc).__name__, "", "")
    frame = ours[-1]
    return (type(exc).__name__, str(Path(frame.filename).resolve().relative_to(root)), frame.name)


def _parse_strict(index: int, damage: tuple[str, ...], raw: bytes) -> ParsedMessage:
    try:
        parsed = parse(raw, strict=True)
        check_invariants(parsed)
    except BaseException as exc:
        exc.add_note(f"fuzzed message {index} (seed {SEED}), damage {damage}, {len(raw)} bytes")
        raise
    return parsed


def run_fuzz(count: int) -> tuple[dict[str, int], dict[tuple[str, str, str], list[int]]]:
    """Outcome counts, and the fuzzed messages that hit each known bug.

    Any other internal error or broken invariant is raised, with the input
    kept in a file its note names.
    """
    outcomes = dict.fromkeys(OUTCOMES, 0)
    known: dict[tuple[str, str, str], list[int]] = {}
    for index, damage, raw in fuzzed(count, SEED):
        try:
            outcomes[_parse_strict(index, damage, raw).outcome] += 1
        except Exception as exc:
            where = _innermost_ours(exc)
            if where in KNOWN_BUGS:
                known.setdefault(where, []).append(index)
                continue
            kept = Path(tempfile.gettempdir()) / f"bounceledger-fuzz-{SEED}-{index}.msg"
            kept.write_bytes(raw)
            exc.add_note(f"the input is kept in {kept}")
            raise
    return outcomes, known


@pytest.mark.slow
def test_ten_thousand_fuzzed_messages_without_internal_error():
    outcomes, known = run_fuzz(FUZZED)
    assert sum(outcomes.values()) + sum(map(len, known.values())) == FUZZED
    # damage must leave plenty of reports readable, or the fuzz only tests the front door
    assert outcomes["bounce"] > FUZZED // 4, outcomes
    gone = set(KNOWN_BUGS) - set(known)
    assert not gone, f"fixed, remove from KNOWN_BUGS: {sorted(gone)}"
    if known:
        pytest.xfail("; ".join(
            f"{len(hits)} messages hit the known bug in {path} {function} ({name}: {KNOWN_BUGS[(name, path, function)]}),"
            f" first fuzzed message {hits[0]}"
            for (name, path, function), hits in known.items()
        ))


def test_generated_reports_are_read():
    """The generator's undamaged output is a bounce whenever it names a failed recipient."""
    rng = random.Random(SEED)
    read = 0
    for _ in range(200):
        raw = generated_dsn(rng)
        parsed = parse(raw, strict=True)
        check_invariants(parsed)
        if b"Action: failed" in raw and b"Final-Recipient: rfc822; ghost@bigisp.example" in raw:
            assert parsed.outcome == "bounce", raw[:2000]
            read += 1
    assert read > 0


def test_the_fuzz_fails_on_an_internal_error(monkeypatch):
    """A bug planted in a stage must fail the fuzz run, not be swallowed or taken for a known one."""
    import bounceledger.ingest.bounces as bounces

    real = bounces._parse_message

    def planted(msg):
        parsed = real(msg)
        if parsed.outcome == "bounce":
            raise KeyError("planted")
        return parsed

    monkeypatch.setattr(bounces, "_parse_message", planted)
    with pytest.raises(KeyError, match="planted") as caught:
        run_fuzz(300)
    assert any(note.startswith("fuzzed message ") for note in caught.value.__notes__)


def test_the_fuzz_fails_on_a_broken_invariant(monkeypatch):
    """A result outside the contract (here a bounce without verdicts) fails the run too."""
    import bounceledger.ingest.bounces as bounces

    real = bounces._parse_message
    monkeypatch.setattr(bounces, "_parse_message", lambda msg: real(msg).replace(verdicts=()))
    with pytest.raises(AssertionError):
        run_fuzz(300)


_FIELD = st.sampled_from([
    "Final-Recipient", "Original-Recipient", "Action", "Status", "Diagnostic-Code", "Remote-MTA", "Reporting-MTA",
    "Last-Attempt-Date", "Will-Retry-Until", "X-Postfix-Queue-ID", "Arrival-Date", "Received-From-MTA",
])
_VALUE = st.one_of(
    st.sampled_from(["rfc822; a@b.example", "failed", "5.1.1", "4.4.7", "smtp; 550 5.1.1 no", "dns; mx.example", ""]),
    st.text(max_size=80),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(_FIELD, _VALUE), max_size=8), max_size=6), st.sampled_from(["b", "x y", ""]))
def test_arbitrary_delivery_status_fields(groups, boundary):
    status = "\n\n".join("\n".join(f"{name}: {value}" for name, value in group) for group in groups)
    raw = (
        "From: MAILER-DAEMON@x.example\nSubject: Delivery Status Notification (Failure)\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n\n'
        f"--{boundary}\nContent-Type: text/plain\n\nfailed\n--{boundary}\n"
        f"Content-Type: message/delivery-status\n\nReporting-MTA: dns; x.example\n\n{status}\n--{boundary}--\n"
    ).encode("utf-8", "surrogatepass")
    check_invariants(parse(raw, strict=True))
