"""JSON-lines send logs: one JSON object per line in, ``Attempt`` records out.

Two dialects share this parser, told apart per line:

* **bounceledger's own schema** (``docs/sendlog-jsonl.md``), for senders
  that speak SMTP themselves and log what the remote server said: one object
  per recipient attempt with ``time`` and ``recipient`` required and the
  Attempt fields by name. ``verdict`` may be left out: it follows from the
  reply code's class (or the enhanced status's). ``first_hop`` may be left
  out: it is then decided from ``delivery_agent`` and the relay like every
  other format's.
* **KumoMTA log records** (``{"type": "Delivery", "id": ..., "response":
  {...}, "peer_address": {...}, "timestamp": ...}``), recognised by a known
  ``type`` together with an ``id``:

  ==================  =====================================================
  ``Delivery``        accepted
  ``TransientFailure`` deferred
  ``Bounce``          rejected
  ``Expiration``      expired (the response is Kumo's last error)
  ``AdminBounce``     rejected, ``first_hop=False``, agent ``admin``: an
                      operator failed the message; the address did nothing
  ``OOB``             an asynchronous DSN Kumo parsed: verdict by the
                      reply class, ``first_hop=False``, agent ``oob``
  ``Reception``       no attempt; remembers the message's sender and
                      Message-ID (when the logger records the header) for
                      the attempts that follow
  ``Feedback``,       no attempt (complaints arrive as ARF through the
  ``Rejection``,      mailbox; rejections are inbound; delays carry no reply)
  ``Delay``, others
  ==================  =====================================================

  ``response.code``/``enhanced_code``/``content``/``command`` give reply
  code, status, text and stage; ``peer_address`` the relay (its ``addr`` may
  carry a port); ``headers`` the Message-ID; ``delivery_protocol: Maildir``
  is local delivery (not a first hop).

A line is skipped (counted, sampled) when it is not a JSON object, lacks the
time or the recipient, has a time that cannot be read, or (own schema) has
neither a verdict nor a reply code or status to derive one from. Optional
fields of the wrong type are ignored rather than failing the line.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from bounceledger.ingest.keys import header_ref
from bounceledger.ingest.records import Attempt, AttemptVerdict
from bounceledger.ingest.sendlog.base import (
    CountingParser,
    ParseOptions,
    looks_like_ip,
    next_hop_queue_id,
    normalize_stage,
    split_reply,
    strip_angles,
    verdict_from_code,
)
from bounceledger.ingest.sendlog.relays import RelayClassifier
from bounceledger.ingest.sendlog.syslogtime import StampReader, epoch_to_utc

__all__ = ["JsonlParser", "looks_like_jsonl"]

VERDICTS: Final[frozenset[str]] = frozenset({"accepted", "deferred", "rejected", "expired"})

KUMO_TYPES: Final[frozenset[str]] = frozenset(
    {
        "Reception", "Delivery", "Bounce", "TransientFailure", "Expiration",
        "AdminBounce", "OOB", "Feedback", "Rejection", "Delay",
        # src: kumo-log-types RecordType (KumoCorp/kumomta): queue moves, no attempt
        "AdminRebind", "DeferredInjectionRebind",
    }
)
_KUMO_VERDICTS: Final[dict[str, AttemptVerdict]] = {
    "Delivery": "accepted",
    "TransientFailure": "deferred",
    "Bounce": "rejected",
    "Expiration": "expired",
    "AdminBounce": "rejected",
}
_KUMO_ASYNC: Final[dict[str, str]] = {"AdminBounce": "admin", "OOB": "oob"}
_LOCAL_PROTOCOLS: Final[frozenset[str]] = frozenset({"maildir", "local", "mbox"})

# Our schema's string fields, copied as they are (after a type check).
_STR_FIELDS: Final[tuple[str, ...]] = (
    "queue_id", "sender", "relay_host", "relay_ip", "status", "smtp_stage",
    "next_hop_queue_id", "envelope_id", "delivery_agent", "campaign",
)


def _kind(obj: dict[str, Any]) -> str | None:
    """"kumo", "own", or None for an object that is neither."""
    t = obj.get("type")
    if isinstance(t, str) and t in KUMO_TYPES and "id" in obj:
        return "kumo"
    if "recipient" in obj and "time" in obj:
        return "own"
    return None


def looks_like_jsonl(first_lines: list[str]) -> bool:
    """True when at least half of the non-blank head lines are JSON objects
    in a known dialect (the rest may be cut off, or records of other types)."""
    seen = known = 0
    for line in first_lines:
        if not isinstance(line, str):
            continue
        text = line.strip().lstrip("\ufeff")
        if not text:
            continue
        seen += 1
        if not text.startswith("{"):
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            continue
        if isinstance(obj, dict) and _kind(obj) is not None:
            known += 1
    return known > 0 and known * 2 >= seen


class JsonlParser(CountingParser):
    """Parser for one JSON-lines stream; the only state is Kumo's
    id -> (sender, Message-ID) memory from Reception records, capped."""

    format_name = "jsonl"

    def __init__(self, options: ParseOptions) -> None:
        super().__init__()
        self.options = options
        self._stamps = StampReader(options.reference_time, options.timezone)
        self._relays = RelayClassifier(options.internal_relays)
        self._cap = options.max_tracked_queue_ids
        # Kumo message id -> (sender, Message-ID, match header ref) from its Reception record
        self._received: dict[str, tuple[str | None, str | None, str | None]] = {}

    @property
    def tracked_queue_ids(self) -> int:
        return len(self._received)

    def _feed(self, raw: str) -> list[Attempt]:
        body = raw.strip().lstrip("\ufeff")
        if not body:
            return []
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError):
            self._skip(raw)
            return []
        if not isinstance(obj, dict):
            self._skip(raw)
            return []
        kind = _kind(obj)
        if kind == "kumo":
            return self._kumo(obj, raw)
        if kind == "own":
            return self._own(obj, raw)
        self._skip(raw)
        return []

    # -- our schema ----------------------------------------------------------

    def _own(self, obj: dict[str, Any], raw: str) -> list[Attempt]:
        recipient = obj.get("recipient")
        at = self._time(obj.get("time"))
        if not isinstance(recipient, str) or not recipient.strip() or at is None:
            self._skip(raw)
            return []
        recipient = recipient.strip().lower()
        values: dict[str, str | None] = {}
        for name in _STR_FIELDS:
            v = obj.get(name)
            values[name] = v.strip() or None if isinstance(v, str) else None
        replycode = _code(obj.get("replycode"))
        text = obj.get("text")
        text = text if isinstance(text, str) else ""
        status = values["status"]
        if replycode is None and text:
            # a sender that logged the whole reply line in "text"
            code, xstatus, rest = split_reply(text)
            if code is not None:
                replycode, text = code, rest
                status = status or xstatus

        verdict_v = obj.get("verdict")
        verdict: AttemptVerdict | None
        if isinstance(verdict_v, str) and verdict_v.lower() in VERDICTS:
            verdict = verdict_v.lower()  # type: ignore[assignment]
        else:
            verdict = verdict_from_code(replycode, status)
        if verdict is None:
            self._skip(raw)
            return []

        port = _port(obj.get("relay_port"))
        host = values["relay_host"]
        ip = values["relay_ip"]
        if ip is None and looks_like_ip(host):
            ip = host
        agent = values["delivery_agent"]
        first_hop_v = obj.get("first_hop")
        if isinstance(first_hop_v, bool):
            first_hop = first_hop_v
        else:
            first_hop = self._relays.is_first_hop(agent, host, ip, port)
        orig = obj.get("orig_recipient")
        orig = orig.strip().lower() or None if isinstance(orig, str) else None
        message_id = obj.get("message_id")
        next_hop = values["next_hop_queue_id"]
        if next_hop is None and verdict == "accepted":
            next_hop = next_hop_queue_id(text)
        return [
            Attempt(
                at=at,
                recipient=recipient,
                verdict=verdict,
                queue_id=values["queue_id"],
                message_id=strip_angles(message_id) if isinstance(message_id, str) else None,
                sender=obj["sender"] if isinstance(obj.get("sender"), str) else None,
                orig_recipient=orig if orig != recipient else None,
                relay_host=host,
                relay_ip=ip if looks_like_ip(ip) else None,
                relay_port=port,
                replycode=replycode,
                status=status,
                text=text,
                smtp_stage=values["smtp_stage"],
                next_hop_queue_id=next_hop,
                envelope_id=values["envelope_id"],
                campaign=values["campaign"],
                header_ref=self._header_ref(obj.get("headers")),
                delivery_agent=agent,
                first_hop=first_hop,
                raw=raw,
            )
        ]

    # -- KumoMTA -------------------------------------------------------------

    def _kumo(self, obj: dict[str, Any], raw: str) -> list[Attempt]:
        rtype: str = obj["type"]
        mid = obj.get("id")
        mid = str(mid) if isinstance(mid, (str, int)) else None
        if rtype == "Reception":
            if mid:
                sender = obj.get("sender")
                self._received.pop(mid, None)
                self._received[mid] = (
                    sender if isinstance(sender, str) else None,
                    _header(obj.get("headers"), "message-id"),
                    self._header_ref(obj.get("headers")),
                )
                while len(self._received) > self._cap:
                    del self._received[next(iter(self._received))]
            return []
        if rtype not in _KUMO_VERDICTS and rtype != "OOB":
            return []  # Feedback, Rejection, Delay: no outbound attempt

        at = self._time(obj.get("timestamp"))
        recipients = obj.get("recipient")
        if isinstance(recipients, str):
            recipients = [recipients]
        if not isinstance(recipients, list):
            recipients = []
        rcpts = [r.strip().lower() for r in recipients if isinstance(r, str) and r.strip()]
        if at is None or not rcpts:
            self._skip(raw)
            return []

        replycode = status = stage = None
        text = ""
        response = obj.get("response")
        if isinstance(response, dict):
            replycode = _code(response.get("code"))
            status = _enhanced(response.get("enhanced_code"))
            content = response.get("content")
            if isinstance(content, str):
                text = content.strip()
            command = response.get("command")
            if isinstance(command, str):
                stage = normalize_stage(command.strip())

        if rtype == "OOB":
            verdict = verdict_from_code(replycode, status) or "rejected"
            # src: kumod logging.rs: the OOB content is the Diagnostic-Code after
            # its first space ("5.1.1 <a@b>: ..."), the status kept in it
            if status and (text == status or text.startswith(status + " ")):
                text = text[len(status):].strip()
        else:
            verdict = _KUMO_VERDICTS[rtype]

        host = ip = None
        port: int | None = None
        peer = obj.get("peer_address")
        if isinstance(peer, dict):
            name = peer.get("name")
            if isinstance(name, str) and name.strip():
                host = name.strip().rstrip(".") or None
            addr = peer.get("addr")
            if isinstance(addr, str) and addr.strip():
                ip, port = _split_addr(addr.strip())

        protocol = obj.get("delivery_protocol")
        protocol = protocol if isinstance(protocol, str) and protocol else None
        agent = _KUMO_ASYNC.get(rtype)
        if agent is not None:
            first_hop = False
        else:
            agent = protocol.lower() if protocol else None
            cls = "local" if agent in _LOCAL_PROTOCOLS else (agent or "smtp")
            first_hop = self._relays.is_first_hop(cls, host, ip, port)

        # src: kumod logging.rs log_disposition(): an OOB record carries the id of
        # the incoming *report* (its own Reception came just before), so that
        # Reception's Message-ID is the bounce's, never the sent message's.
        remembered = mid and rtype != "OOB"
        known_sender, known_msgid, known_ref = self._received.get(mid, (None, None, None)) if remembered else (None, None, None)
        sender = obj.get("sender")
        message_id = _header(obj.get("headers"), "message-id") or known_msgid
        next_hop = next_hop_queue_id(text) if verdict == "accepted" else None
        return [
            Attempt(
                at=at,
                recipient=rcpt,
                verdict=verdict,
                queue_id=mid,
                message_id=message_id,
                sender=sender if isinstance(sender, str) else known_sender,
                relay_host=host,
                relay_ip=ip if looks_like_ip(ip) else None,
                relay_port=port,
                replycode=replycode,
                status=status,
                text=text,
                smtp_stage=stage,
                next_hop_queue_id=next_hop,
                header_ref=self._header_ref(obj.get("headers")) or known_ref,
                mta_category=_text(obj.get("bounce_classification")),
                delivery_agent=agent,
                first_hop=first_hop,
                raw=raw,
            )
            for rcpt in rcpts
        ]

    # -- helpers -------------------------------------------------------------

    def _header_ref(self, headers: object) -> str | None:
        """The first configured match header in a record's ``headers`` object."""
        for name in self.options.match_headers:
            ref = header_ref(name, _raw_header(headers, name))
            if ref:
                return ref
        return None

    def _time(self, value: object) -> datetime | None:
        if isinstance(value, str):
            v = value.strip()
            if len(v) >= 10 and v[4:5] == "-":
                return self._stamps.iso(v.replace("Z", "+00:00") if v.endswith("Z") else v)
            return epoch_to_utc(v)
        return epoch_to_utc(value)


def _code(value: object) -> str | None:
    """A reply code given as 250 or "250" -> "250"; anything else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 200 <= value <= 599 else None
    if isinstance(value, str):
        v = value.strip()
        return v if len(v) == 3 and v.isdigit() and v[0] in "2345" else None
    return None


def _port(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 < value < 65536:
        return value
    return None


def _enhanced(value: object) -> str | None:
    """Kumo's ``{"class": 5, "subject": 1, "detail": 1}`` -> ``"5.1.1"``."""
    if not isinstance(value, dict):
        return None
    parts = [value.get("class"), value.get("subject"), value.get("detail")]
    if not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p < 1000 for p in parts):
        return None
    if parts[0] not in (2, 4, 5):
        return None
    return f"{parts[0]}.{parts[1]}.{parts[2]}"


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _raw_header(headers: object, name: str) -> str | None:
    """A header value from a ``headers`` object (ours or Kumo's), case-insensitively."""
    if not isinstance(headers, dict) or not headers:
        return None
    name = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            if isinstance(value, list) and value:
                value = value[0]
            return value if isinstance(value, str) else None
    return None


def _header(headers: object, name: str) -> str | None:
    """A header value with angle brackets removed (a Message-ID)."""
    value = _raw_header(headers, name)
    return strip_angles(value) if value is not None else None


def _split_addr(addr: str) -> tuple[str | None, int | None]:
    """``"192.0.2.1:25"``, ``"[2001:db8::1]:25"``, ``"192.0.2.1"`` -> (ip, port)."""
    if addr.startswith("["):
        close = addr.find("]")
        if close == -1:
            return addr, None
        ip, rest = addr[1:close], addr[close + 1 :]
        return ip or None, _port(rest[1:]) if rest.startswith(":") else None
    if addr.count(":") == 1:
        ip, _, port = addr.partition(":")
        return ip or None, _port(port)
    return addr, None
