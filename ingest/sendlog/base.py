"""Types shared by every send-log format: options, the parser protocol and
the side records a parser may collect besides attempts.

Kept apart from ``__init__`` so that format modules can import them without
importing the registry that imports the format modules.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from bounceledger.ingest.records import Attempt, AttemptVerdict
from bounceledger.ingest.sendlog.relays import DEFAULT_INTERNAL_RELAYS, RelayClassifier
from bounceledger.ingest.sendlog.envelope import RuntimeLines
from bounceledger.ingest.sendlog.journal import as_syslog, syslog_line

__all__ = [
    "SAMPLE_CHARS",
    "SAMPLE_LIMIT",
    "CountingParser",
    "as_text",
    "DsnLink",
    "LineParser",
    "ParseOptions",
    "looks_like_ip",
    "new_attempt",
    "next_hop_queue_id",
    "normalize_stage",
    "sample_of",
    "split_reply",
    "strip_angles",
    "verdict_from_code",
]

SAMPLE_LIMIT = 5
SAMPLE_CHARS = 200

# Queue ids whose story is still open. A busy MTA has a few thousand in
# flight; the cap only matters for logs whose "removed" lines are missing
# (rotated away, filtered), where it keeps memory flat.
DEFAULT_MAX_TRACKED = 100_000


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How to read one stream.

    ``reference_time`` anchors year-less syslog stamps (pass the file's mtime,
    or the time the bytes were read): a stamp more than a day after it is
    put in the previous year, which handles the December -> January rollover.
    ``timezone`` is the IANA zone of stamps that carry no offset. Everything
    the parser returns is UTC.
    """

    reference_time: datetime
    timezone: str = "UTC"
    internal_relays: tuple[str, ...] = DEFAULT_INTERNAL_RELAYS
    max_tracked_queue_ids: int = DEFAULT_MAX_TRACKED
    # The header that names the campaign when the MTA logs it (Postfix:
    # header_checks "/^X-Campaign:/ INFO"); compared without case.
    campaign_header: str = "X-Campaign"
    # Headers that tie returned mail to its send (Settings.match_headers),
    # when the MTA logs them; the first one present is kept.
    match_headers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.reference_time.tzinfo is None or self.reference_time.utcoffset() is None:
            raise ValueError("ParseOptions.reference_time must be timezone-aware")
        if self.max_tracked_queue_ids < 1:
            raise ValueError("ParseOptions.max_tracked_queue_ids must be positive")


@dataclass(frozen=True, slots=True)
class DsnLink:
    """The MTA generated a notification message about an earlier one.

    Postfix logs ``ORIG: sender non-delivery notification: NEW``. The returned
    message that later lands in the bounce mailbox carries NEW in its own
    Message-ID (``<...NEW@host>``) while its body names ORIG
    (``X-Postfix-Queue-ID``); this link lets reconciliation go from one to the
    other even when the DSN lost the original headers.
    """

    notification_queue_id: str
    original_queue_id: str
    kind: str  # "non-delivery", "delivery status", "delay", "success", ...
    addressee: str  # "sender" or "postmaster"
    original_message_id: str | None = None
    at: datetime | None = None


class LineParser(Protocol):
    """A stateful reader of one log stream.

    ``feed`` takes one raw line (a trailing newline is fine) and returns the
    attempts it completes -- usually zero or one, several when a line closes
    a queue entry (expiry). It never raises. ``skipped`` counts lines that
    were not recognisable log lines at all; valid lines that carry no attempt
    are not counted.
    """

    skipped: int
    samples: list[str]

    def feed(self, line: str) -> list[Attempt]: ...


def sample_of(line: object) -> str:
    """A bad line as kept in ``samples``: newline-free and at most
    ``SAMPLE_CHARS`` long, so a flood of garbage cannot bloat a report."""
    try:
        text = line if isinstance(line, str) else repr(line)
        return text.rstrip("\r\n")[:SAMPLE_CHARS]
    except Exception:  # pragma: no cover - repr() of exotic objects
        return "<unprintable>"


#: Blanks a log line may end in (after its line end is cut): a log copied
#: through an editor or a pipeline that pads lines. Trimmed after a container
#: runtime's chunks are joined, where a chunk's last blank is part of the line.
LINE_END_BLANKS = frozenset(" \t\f\v")

#: What may stand before a line's first character and says nothing about it: a UTF-8 byte
#: order mark that an editor or a Windows tool wrote at the start of the file (U+FEFF, "to be
#: ignored" as a signature: RFC 3629 section 6, Unicode 15 section 23.8), and the run of NUL
#: bytes that a file system leaves where a log's last blocks were allocated but never written
#: before a crash, or that a writer without O_APPEND leaves after logrotate's copytruncate
#: (the line that follows is whole). Stripped before anything else reads the line.
LINE_START_NOISE = frozenset("\ufeff\x00")


class CountingParser:
    """The bookkeeping every format shares: lines fed, lines skipped and the
    first few skipped lines as samples, and the guarantee that no line ever
    raises. A format implements ``_feed``; the protocol above is what
    callers rely on."""

    __slots__ = ("lines", "runtime", "samples", "skipped")

    #: How a journal record's line starts (``journal.JOURNAL_STARTS``) for a
    #: format an MTA writes through syslog; empty for one that is no syslog.
    journal_starts: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.lines = 0  # everything fed, for the caller's progress reports
        self.runtime = RuntimeLines()  # container runtimes' prefixes and split lines
        self.skipped = 0
        self.samples: list[str] = []

    def feed(self, line: str) -> list[Attempt]:
        """One raw line -> the attempts it completes. Never raises."""
        self.lines += 1
        try:
            # Plain str is what a text-mode file yields: skip the call to
            # as_text for it (this runs once per line of every log).
            text = line if type(line) is str else as_text(line)
            if text is None:
                self._skip(line)
                return []
            text = text.rstrip("\r\n")
            if text[:1] in LINE_START_NOISE:  # a byte order mark, NULs a crash left
                text = text.lstrip("\ufeff\x00")
            if self.journal_starts:  # it logs through syslog: containers' runtimes may wrap its lines
                carried = self.runtime.line(text)  # "<RFC 3339 time> [stream P|F] <line>" of a container
                if carried is None:
                    return []  # a chunk of a longer line: read with the chunk that ends it
                text = carried
            if text[:1] in self.journal_starts:  # a journal record: the syslog line it carries
                text = syslog_line(text)
            if text[-1:] in LINE_END_BLANKS:  # blanks a copy or a pipeline left at the end say nothing
                text = text.rstrip()
            return self._feed(text)
        except Exception:  # a log line must never stop ingestion
            self._skip(line)
            return []

    def _feed(self, raw: str) -> list[Attempt]:
        """One line, as text without its line ending."""
        raise NotImplementedError

    def _skip(self, line: object) -> None:
        self.skipped += 1
        if len(self.samples) < SAMPLE_LIMIT:
            self.samples.append(sample_of(line))

    # -- for callers that read files ------------------------------------------

    def count_skipped(self, sample: object) -> None:
        """A line the caller never fed (longer than any log line may be, so
        never held whole): counted and sampled like any unreadable line, so
        the summary and ``sendlog parse`` report it."""
        self._skip(sample)

    def recognises(self, line: str) -> bool:
        """Is this one of the lines this format's MTA writes?

        The answer is the format's own detection test (the one ``--format
        auto`` uses) applied to this single line, so an explicit ``--format``
        and auto-detection can never disagree about what a format knows.
        Callers ask it for a file's first lines to refuse a file written in
        another format before any of it is read.
        """
        from bounceledger.ingest.sendlog import FORMATS  # the registry imports this module

        spec = FORMATS.get(getattr(self, "format_name", ""))
        if spec is None:
            return True  # a parser outside the registry: nothing to check against
        try:
            return bool(spec.looks_like([as_syslog(line)]))
        except Exception:  # detection must not break ingestion
            return False

    def relay_classifier(self) -> RelayClassifier | None:
        """The first-hop rule this parser decides with (None for a parser
        that has none), for ``sendlog parse --explain-first-hop``."""
        relays = getattr(self, "_relays", None)
        return relays if isinstance(relays, RelayClassifier) else None


class QueueState:
    """What a parser knows about one message still in the MTA's queue.

    ``pending`` maps each recipient to its latest deferral until it is
    settled: those are the recipients an expiry names, with the last reply
    the remote server gave them.
    """

    __slots__ = ("campaign", "header_ref", "message_id", "pending", "sender")

    def __init__(self) -> None:
        self.message_id: str | None = None
        self.sender: str | None = None
        self.campaign: str | None = None
        self.header_ref: str | None = None  # a logged match header (ingest.keys.header_ref)
        self.pending: dict[str, Attempt] | None = None

    def defer(self, recipient: str, attempt: Attempt) -> None:
        if self.pending is None:
            self.pending = {}
        self.pending[recipient] = attempt

    def settle(self, recipient: str) -> Attempt | None:
        """Forget a recipient's deferral (it was delivered, bounced or expired)."""
        return self.pending.pop(recipient, None) if self.pending else None


S = TypeVar("S")


def remember(states: dict[str, S], key: str, state: S, cap: int) -> S:
    """Keep per-message state, forgetting the oldest beyond ``cap`` entries:
    memory stays flat on a log of any size, at the price of losing the
    context of messages that stayed open longest."""
    states[key] = state
    while len(states) > cap:
        del states[next(iter(states))]
    return state


def refresh(states: dict[str, S], key: str) -> S | None:
    """The state of ``key`` moved to the young end of the eviction order."""
    state = states.pop(key, None)
    if state is not None:
        states[key] = state
    return state


def as_text(line: object) -> str | None:
    """A fed line as text: bytes are decoded leniently (a log is not always
    valid UTF-8), anything else is None."""
    if isinstance(line, str):
        return line
    if isinstance(line, (bytes, bytearray)):
        return bytes(line).decode("utf-8", "replace")
    return None


# -- building attempts fast --------------------------------------------------

# Attempt is a frozen, slotted dataclass: its generated __init__ stores each
# of its fields through object.__setattr__, and binding 20 keyword arguments
# costs as much again -- together more than everything else a parser does
# for a delivery line. new_attempt builds the same object for a fraction of
# that: _MutableAttempt has the very same slots, so its plain attribute
# stores are the interpreter's fastest, and once filled the object becomes
# an Attempt by __class__ assignment, which Python allows between classes of
# identical layout. The result is indistinguishable from Attempt(...)
# (type, equality, hash, repr, pickling). That is checked at import, and
# anything that would break it (a __post_init__, a field with a default
# factory, a field renamed) makes new_attempt fall back to the constructor.

# The fields a parser passes to new_attempt, positionally, in this order.
# Fields of Attempt not listed here get their declared defaults.
_ATTEMPT_FIELDS = (
    "at", "recipient", "verdict", "queue_id", "message_id", "sender", "orig_recipient",
    "relay_host", "relay_ip", "relay_port", "replycode", "status", "text", "smtp_stage",
    "next_hop_queue_id", "envelope_id", "delivery_agent", "campaign", "header_ref", "first_hop", "raw",
)  # fmt: skip
_OTHER_FIELDS = tuple(
    (f.name, f.default) for f in dataclasses.fields(Attempt) if f.name not in _ATTEMPT_FIELDS
)


class _MutableAttempt:
    """Attempt's slots without the frozen guard; see above."""

    __slots__ = getattr(Attempt, "__slots__", ())

    def __init__(
        self,
        at: datetime,
        recipient: str,
        verdict: AttemptVerdict,
        queue_id: str | None,
        message_id: str | None,
        sender: str | None,
        orig_recipient: str | None,
        relay_host: str | None,
        relay_ip: str | None,
        relay_port: int | None,
        replycode: str | None,
        status: str | None,
        text: str,
        smtp_stage: str | None,
        next_hop_queue_id: str | None,
        envelope_id: str | None,
        delivery_agent: str | None,
        campaign: str | None,
        header_ref: str | None,
        first_hop: bool,
        raw: str,
    ) -> None:
        self.at = at
        self.recipient = recipient
        self.verdict = verdict
        self.queue_id = queue_id
        self.message_id = message_id
        self.sender = sender
        self.orig_recipient = orig_recipient
        self.relay_host = relay_host
        self.relay_ip = relay_ip
        self.relay_port = relay_port
        self.replycode = replycode
        self.status = status
        self.text = text
        self.smtp_stage = smtp_stage
        self.next_hop_queue_id = next_hop_queue_id
        self.envelope_id = envelope_id
        self.delivery_agent = delivery_agent
        self.campaign = campaign
        self.header_ref = header_ref
        self.first_hop = first_hop
        self.raw = raw
        if _OTHER_FIELDS:
            for name, default in _OTHER_FIELDS:
                setattr(self, name, default)
        self.__class__ = Attempt  # type: ignore[assignment]


def _attempt_by_name(*values: object) -> Attempt:
    return Attempt(**dict(zip(_ATTEMPT_FIELDS, values)))  # type: ignore[arg-type]


def _layout_matches() -> bool:
    """True when _MutableAttempt builds exactly what Attempt(...) builds."""
    fields = dataclasses.fields(Attempt)
    if (
        getattr(Attempt, "__slots__", None) != tuple(f.name for f in fields)
        or not set(_ATTEMPT_FIELDS) <= {f.name for f in fields}
        or not all(f.init for f in fields)
        or any(default is dataclasses.MISSING for _, default in _OTHER_FIELDS)
        or hasattr(Attempt, "__post_init__")
    ):
        return False
    sample = tuple(object() for _ in _ATTEMPT_FIELDS)
    try:
        built = _MutableAttempt(*sample)  # type: ignore[arg-type]
    except (TypeError, AttributeError):  # the layouts differ after all
        return False
    return type(built) is Attempt and built == _attempt_by_name(*sample)


#: ``new_attempt(at, recipient, verdict, queue_id, message_id, sender,
#: orig_recipient, relay_host, relay_ip, relay_port, replycode, status, text,
#: smtp_stage, next_hop_queue_id, envelope_id, delivery_agent, campaign,
#: header_ref, first_hop, raw)`` -> an Attempt; every other field takes its default.
new_attempt: Callable[..., Attempt] = _MutableAttempt if _layout_matches() else _attempt_by_name


# -- SMTP replies, shared by the formats that log them as text ---------------

_IP_CHARS = "0123456789abcdefABCDEF.:"

# "550 5.1.1 text", "550-5.1.1 text", "451 text", "250 OK"; the enhanced
# status is only taken when it agrees with the reply class.
_REPLY = re.compile(r"(?P<code>[2-5]\d\d)(?:(?P<sep>[ -])(?P<status>[245]\.\d{1,3}\.\d{1,3}))?(?=[ -]|$)")
_STATUS_ONLY = re.compile(r"(?P<status>[245]\.\d{1,3}\.\d{1,3})(?= |$)")
_QUEUED_AS = re.compile(r"queued as:? ?<?([0-9A-Za-z][0-9A-Za-z._-]*[0-9A-Za-z])")
_OK_ID = re.compile(r"\bOK (?:id|ids)=([0-9A-Za-z][0-9A-Za-z-]*)", re.I)
_ACCEPTED = re.compile(r"([0-9A-Za-z]{8,20}) Message accepted for delivery")


def looks_like_ip(addr: str | None) -> bool:
    """An IPv4/IPv6 literal rather than a host name or a socket path."""
    if not addr:
        return False
    if ":" in addr:
        return not addr.strip(_IP_CHARS) and addr.count(":") >= 2
    return addr.count(".") == 3 and not addr.strip("0123456789.")


def strip_angles(value: str | None) -> str | None:
    """``<a@b>`` -> ``a@b``; surrounding blanks go too; empty -> None."""
    if value is None:
        return None
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value or None


def split_reply(reply: str) -> tuple[str | None, str | None, str]:
    """``"550 5.1.1 <a@b>: User unknown"`` -> ``("550", "5.1.1", "<a@b>: User unknown")``.

    Multi-line replies come joined in various ways (Postfix and Exim put the
    continuation lines' ``550-5.7.1`` markers inline, Exim may keep a
    literal ``\\n``); the repeated markers are removed so the text reads as
    one sentence. Without a leading reply code the text is returned as is
    (a bare enhanced status at the start is still taken).
    """
    reply = reply.strip()
    m = _REPLY.match(reply)
    if m is None:
        s = _STATUS_ONLY.match(reply)
        if s is not None:
            return None, s.group("status"), reply[s.end() :].strip()
        return None, None, reply
    code = m.group("code")
    status = m.group("status")
    if status is not None and status[0] != code[0]:
        status = None
        text = reply[3:]
    else:
        text = reply[m.end() :]
    if "\\n" in text:
        text = text.replace("\\n", " ")
    if code + "-" in text or (" " + code + " ") in text:
        if status:
            text = text.replace(f" {code}-{status} ", " ").replace(f" {code} {status} ", " ")
        text = text.replace(f" {code}-", " ").replace(f" {code} ", " ")
    return code, status, text.lstrip(" -").strip()


def next_hop_queue_id(text: str | None) -> str | None:
    """The receiving MTA's queue id from its 2xx reply, when it names one:
    Postfix ``queued as X``, Exim ``OK id=X``, KumoMTA ``OK ids=X``,
    Sendmail ``X Message accepted for delivery``."""
    if not text:
        return None
    if "queued as" in text:
        m = _QUEUED_AS.search(text)
    elif "id" in text and "=" in text:
        m = _OK_ID.search(text)
    elif "Message accepted" in text:
        m = _ACCEPTED.search(text)
    else:
        return None
    return m.group(1) if m is not None else None


def verdict_from_code(replycode: str | None, status: str | None) -> AttemptVerdict | None:
    """The verdict a reply code (or, lacking one, an enhanced status) implies."""
    lead = replycode[:1] if replycode else (status[:1] if status else "")
    if lead == "2":
        return "accepted"
    if lead == "4":
        return "deferred"
    if lead == "5":
        return "rejected"
    return None


_STAGES: dict[str, str] = {
    "rcpt": "RCPT TO",
    "mail": "MAIL FROM",
    "data": "DATA",
    "bdat": "BDAT",
    "ehlo": "EHLO",
    "helo": "HELO",
    "lhlo": "LHLO",
    "starttls": "STARTTLS",
    "auth": "AUTH",
    "quit": "QUIT",
    "rset": "RSET",
    ".": "end of DATA",
}


def normalize_stage(command: str | None) -> str | None:
    """An SMTP command as logged by any MTA -> the name Postfix uses in
    ``(in reply to X command)``: ``RCPT TO:<a@b>`` and ``pipelined RCPT TO``
    become ``RCPT TO``, Exim's ``end of data`` and Kumo's ``.`` become
    ``end of DATA``. Unknown phrases are kept as written."""
    if not command:
        return None
    text = command.strip()
    low = text.lower()
    if low.startswith("pipelined "):
        low = low[10:]
        text = text[10:]
    if low.startswith("end of data") or low == ".":
        return "end of DATA"
    word = low.split(" ", 1)[0].split(":", 1)[0]
    return _STAGES.get(word, text or None)
