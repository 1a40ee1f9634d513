"""PowerMTA accounting-file parser: CSV records in, ``Attempt`` records out.

PowerMTA writes one CSV record per event into its accounting files, with the
columns its ``<acct-file>`` ``record-fields`` chose, and a header line naming
them (``type,timeLogged,timeQueued,orig,rcpt,...``). The column order is
free, so everything here is read by header name. A file may carry several
header lines (a restart with new fields, files concatenated, or one header
per record type when types log different fields): each header line replaces
the current one, and a record whose field count differs from it is read with
the latest earlier header of its own width, when there is one. ``#`` lines are
comments. Records before any header cannot be read and are skipped.

Record types and what they become:

=====  ==========================================  ==========================
type   meaning                                     Attempt
=====  ==========================================  ==========================
``d``  delivered (the remote MTA said 2xx)          accepted, first hop
``b``  bounced (5xx, or given up)                   rejected, first hop
``t``  transient failure of one recipient           deferred, first hop
``tq`` transient failure at queue level             deferred, first hop (only
                                                    when the record names a
                                                    recipient)
``rb`` remote bounce: an asynchronous DSN that      rejected, ``first_hop=False``,
       came back after the message was accepted     ``delivery_agent="remote-bounce"``
``rs`` remote status: another DSN (delayed,         by ``dsnAction`` (failed ->
       relayed, delivered, failed)                  rejected, delayed -> deferred,
                                                    delivered/relayed -> accepted),
                                                    ``first_hop=False``,
                                                    ``delivery_agent="remote-status"``
``r``  receipt (the message arrived)               none; ``header_Message-Id`` /
                                                    ``jobId`` correlation only
``f``  feedback-loop complaint                     none (complaints come in as
                                                    ARF reports via the mailbox)
=====  ==========================================  ==========================

``rb``/``rs`` are not first hops: they report what a later hop did, hours
later, exactly like a DSN in the bounce mailbox. Ingest reconciles them as
verdicts (:mod:`bounceledger.ingest.log_verdicts`), so a remote bounce after
the first hop's 250 is recorded as the correction it is.

The type column may also hold the long names (``delivery``, ``bounce``...).

Fields: ``timeLogged`` (Unix seconds, PowerMTA's default, or ``2026-11-27 10:15:02+0100``; naive
stamps use the configured zone), ``orig`` -> sender, ``rcpt`` -> recipient,
``orcpt`` (``rfc822;a@b``) -> orig_recipient, ``dsnStatus`` (``5.1.1 (bad
destination mailbox address)``) -> status, ``dsnDiag`` (``smtp;550 5.1.1 user
unknown``) -> replycode/text, ``dsnMta`` (``mx.example.com (192.0.2.1)``) ->
relay host/ip (``dlvDestinationIp`` as the fallback), ``dlvType`` ->
delivery_agent, ``envId`` -> envelope_id, ``jobId`` -> campaign (PowerMTA's
job is what senders call a campaign), ``header_Message-Id`` -> message_id,
``header_<Name>`` of a configured match header -> header_ref.
``bounceCat`` -> mta_category (kept as evidence beside our own classification).
``vmta`` and ``queue`` have no Attempt field yet and are dropped.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from typing import Final

from bounceledger.ingest.keys import header_ref
from bounceledger.ingest.records import Attempt, AttemptVerdict
from bounceledger.ingest.sendlog.base import (
    CountingParser,
    ParseOptions,
    looks_like_ip,
    next_hop_queue_id,
    split_reply,
    strip_angles,
)
from bounceledger.ingest.sendlog.relays import RelayClassifier
from bounceledger.ingest.sendlog.syslogtime import StampReader, epoch_to_utc

__all__ = ["PmtaParser", "looks_like_pmta"]

_FIXED: Final[dict[str, AttemptVerdict]] = {
    "d": "accepted",
    "b": "rejected",
    "t": "deferred",
    "tq": "deferred",
    "rb": "rejected",
}
_ACTIONS: Final[dict[str, AttemptVerdict]] = {
    "failed": "rejected",
    "delayed": "deferred",
    "delivered": "accepted",
    "relayed": "accepted",
    "expanded": "accepted",
}
# PowerMTA can also log the long type names.
_TYPE_ALIASES: Final[dict[str, str]] = {
    "delivery": "d",
    "delivered": "d",
    "bounce": "b",
    "bounced": "b",
    "transient": "t",
    "transient-queue": "tq",
    "receipt": "r",
    "received": "r",
    "feedback-loop": "f",
    "feedback": "f",
    "remote-bounce": "rb",
    "remote-status": "rs",
}
_ASYNC_AGENT: Final[dict[str, str]] = {"rb": "remote-bounce", "rs": "remote-status"}
_NO_ATTEMPT: Final[frozenset[str]] = frozenset({"r", "f"})
_KNOWN_TYPES: Final[frozenset[str]] = frozenset(_FIXED) | {"rs"} | _NO_ATTEMPT

_STATUS = re.compile(r"\s*([245]\.\d{1,3}\.\d{1,3})")
_MTA = re.compile(r"(?:[A-Za-z0-9-]+;\s*)?(?P<host>[^\s()]+)?\s*(?:\((?P<ip>[^)]*)\))?")
_ISO_LIKE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
# src: PowerMTA v5.0 User's Guide 11.2.9 Encoding: "Time stamps are normally
# formatted as MM/DD/YYYY HH:MM:SS+UTCoffset but can be changed to UNIX time_t"
_US_STAMP = re.compile(r"(\d\d)/(\d\d)/(\d{4})([T ].*)")

# Header widths remembered for records whose width differs from the current
# header; a file has a handful of header shapes at most.
_HEADER_MEMORY = 16


def _is_header(fields: list[str]) -> bool:
    return bool(fields) and fields[0].strip() == "type" and len(fields) > 1


def _split(line: str) -> list[str] | None:
    """One CSV line -> its fields (None when the quoting is broken)."""
    if '"' not in line:
        return line.split(",")
    try:
        rows = list(csv.reader([line], strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def looks_like_pmta(first_lines: list[str]) -> bool:
    """True when the first non-comment, non-blank line is an accounting
    header naming ``type`` and ``rcpt`` (PowerMTA always writes its header
    first), or when a header appears and the lines around it are records."""
    for line in first_lines:
        if not isinstance(line, str):
            continue
        text = line.strip().lstrip("\ufeff")
        if not text or text.startswith("#"):
            continue
        fields = _split(text)
        if fields is None:
            return False
        names = {f.strip() for f in fields}
        return _is_header(fields) and "rcpt" in names and bool(names & {"timeLogged", "timeQueued", "dsnStatus", "orig"})
    return False


class PmtaParser(CountingParser):
    """Stateless apart from the current header. See the module docstring."""

    format_name = "pmta"

    def __init__(self, options: ParseOptions) -> None:
        super().__init__()
        self.options = options
        self._stamps = StampReader(options.reference_time, options.timezone)
        self._relays = RelayClassifier(options.internal_relays)
        self._header: dict[str, int] | None = None
        self._width = 0
        self._by_width: dict[int, dict[str, int]] = {}

    def _feed(self, raw: str) -> list[Attempt]:
        stripped = raw.lstrip("\ufeff")
        if not stripped.strip() or stripped.startswith("#"):
            return []
        fields = _split(stripped)
        if fields is None:
            self._skip(raw)
            return []
        if _is_header(fields):
            header = {name.strip(): i for i, name in enumerate(fields) if name.strip()}
            self._header = header
            self._width = len(fields)
            self._by_width.pop(len(fields), None)
            self._by_width[len(fields)] = header
            if len(self._by_width) > _HEADER_MEMORY:
                del self._by_width[next(iter(self._by_width))]
            return []
        header = self._header
        if header is None:
            self._skip(raw)
            return []
        if len(fields) != self._width and "@" not in _get(fields, header, "rcpt"):
            # src: User's Guide 11.2.9 (the header line names the columns) and its
            # own samples (11.2.2-11.2.4), whose rows differ in width by a trailing
            # empty field: width alone does not pick a header; the header in
            # force wins while it yields a recipient.
            header = self._by_width.get(len(fields), header)
        kind = fields[0].strip() if header.get("type", -1) == 0 else _get(fields, header, "type").strip()
        kind = _TYPE_ALIASES.get(kind.lower(), kind)
        if kind not in _KNOWN_TYPES:
            self._skip(raw)
            return []
        if kind in _NO_ATTEMPT:
            return []
        rcpt = _get(fields, header, "rcpt")
        if not rcpt:
            if kind == "tq":
                return []  # a queue-level failure names no recipient
            self._skip(raw)
            return []

        at = self._time(_get(fields, header, "timeLogged") or _get(fields, header, "timeQueued"))
        if at is None:
            self._skip(raw)
            return []

        if kind == "rs":
            verdict = _ACTIONS.get(_get(fields, header, "dsnAction").lower())
            if verdict is None:
                return []
        else:
            verdict = _FIXED[kind]

        status = None
        s = _STATUS.match(_get(fields, header, "dsnStatus"))
        if s is not None:
            status = s.group(1)
        if kind == "b" and (
            (status is not None and status.startswith("4."))
            or _get(fields, header, "bounceCat").strip() == "message-expired"
        ):
            # src: User's Guide 11.2 ("bounces for messages that PowerMTA could not
            # deliver") and 11.6 (message-expired: "not being delivered before the
            # bounce-after, 4.X.X error"); RFC 3463 class 4 = transient: the
            # remote side never refused it, PowerMTA gave up retrying.
            verdict = "expired"
        diag = _get(fields, header, "dsnDiag")
        if ";" in diag[:12]:
            diag = diag.split(";", 1)[1]  # "smtp;550 ..." diagnostic type
        replycode, xstatus, reply_text = split_reply(diag)
        if status is None:
            status = xstatus

        host = ip = None
        mta = _get(fields, header, "dsnMta")
        if mta:
            m = _MTA.match(mta.strip())
            if m is not None:
                host = m.group("host") or None
                ip = (m.group("ip") or "").strip() or None
                if host and host.endswith(".") and len(host) > 1:
                    host = host[:-1]
        if ip is None:
            ip = (_get(fields, header, "dlvDestinationIp") or _get(fields, header, "dlvDesintationIp")).strip() or None
        relay_ip = ip if looks_like_ip(ip) else None

        agent = _ASYNC_AGENT.get(kind) or _get(fields, header, "dlvType") or None
        if kind in _ASYNC_AGENT:
            first_hop = False
        else:
            first_hop = self._relays.is_first_hop(agent or "smtp", host, ip, None)

        orcpt = _get(fields, header, "orcpt")
        if ";" in orcpt:
            orcpt = orcpt.split(";", 1)[1]
        recipient = rcpt.strip().lower()
        orig = orcpt.strip().lower() or None
        sender = _get(fields, header, "orig")
        return [
            Attempt(
                at=at,
                recipient=recipient,
                verdict=verdict,
                message_id=strip_angles(_get(fields, header, _column(header, "header_Message-Id"))),
                sender=sender.strip() if sender else None,
                orig_recipient=orig if orig != recipient else None,
                relay_host=host,
                relay_ip=relay_ip,
                replycode=replycode,
                status=status,
                text=reply_text,
                next_hop_queue_id=next_hop_queue_id(reply_text) if verdict == "accepted" else None,
                envelope_id=_get(fields, header, "envId") or None,
                campaign=_get(fields, header, "jobId") or None,
                header_ref=self._header_ref(fields, header),
                mta_category=_get(fields, header, "bounceCat").strip() or None,
                delivery_agent=agent,
                first_hop=first_hop,
                raw=raw,
            )
        ]

    def _header_ref(self, fields: list[str], header: dict[str, int]) -> str | None:
        """The first configured match header the accounting file logs (a ``header_<Name>`` field)."""
        for name in self.options.match_headers:
            column = next((c for c in header if c.lower() == f"header_{name.lower()}"), None)
            ref = header_ref(name, _get(fields, header, column)) if column else None
            if ref:
                return ref
        return None

    def _time(self, value: str) -> datetime | None:
        value = value.strip()
        if not value:
            return None
        us = _US_STAMP.fullmatch(value)
        if us is not None:
            value = f"{us.group(3)}-{us.group(1)}-{us.group(2)}{us.group(4)}"
        if _ISO_LIKE.match(value):
            return self._stamps.iso(value)
        return epoch_to_utc(value)


def _column(header: dict[str, int], name: str) -> str:
    """The header's own spelling of a ``header_<Name>`` column: header field
    names are case-insensitive (RFC 5322 1.2.2), and PowerMTA logs the name as
    configured (``header_Message-ID``, ``header_message-id``...)."""
    if name in header:
        return name
    low = name.lower()
    return next((c for c in header if c.lower() == low), name)


def _get(fields: list[str], header: dict[str, int], name: str) -> str:
    i = header.get(name)
    if i is None or i >= len(fields):
        return ""
    return fields[i]
