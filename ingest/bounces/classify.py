"""Turn what a bounce says into a reason, a hard/soft flag and a category.

The order is deliberate: the diagnostic text first (servers are specific in
words but lazy in codes: "550 5.7.1 ... mailbox full" is common), then the
enhanced status code, then the bare SMTP reply code. The tables live in
:mod:`ingest.bounces.reasons` so that rules are data a newcomer can extend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.bounces.reasons import (
    CATEGORIES,
    DECISIVE_STATUSES,
    GENERIC_STATUSES,
    KNOWN_REPLYCODES,
    WEAK_REASONS,
    HARD_REASONS,
    PSEUDO_STATUS,
    REPLY_REASONS,
    STATUS_REASONS,
    TEXT_RULES,
)

_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_REPLY_RE = re.compile(r"(?:^|[\s:;(\[\"'#<>])([245][0-5]\d)(?=[\s\-.,;:)\]]|$)")
#: "550 5.1.1", "550-5.7.1", "550 #5.1.0", "550-'5.2.2": the status a reply carries.
_REPLY_STATUS_RE = re.compile(r"(?<!\d)[245]\d\d[ \-]['\"#]?([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
_COMMAND_RE = re.compile(
    r"in reply to (?:end of )?(DATA|RCPT TO|MAIL FROM|RCPT|MAIL|HELO|EHLO|STARTTLS|AUTH|BDAT)\b", re.IGNORECASE
)
_TRANSCRIPT_RE = re.compile(r"^>>>\s*(DATA|RCPT|MAIL|HELO|EHLO|STARTTLS|QUIT)\b.*?\n<<<\s*[45]", re.IGNORECASE | re.M | re.S)


@dataclass(frozen=True, slots=True)
class Classification:
    reason: str
    hardbounce: bool
    category: str
    status: str | None  # the status worth recording (may come from the text)
    replycode: str | None


def find_status(text: str | None) -> str | None:
    """The first RFC 3463 enhanced status code in ``text`` ("5.1.1")."""
    if not text:
        return None
    after_reply = _REPLY_STATUS_RE.search(text)
    if after_reply:
        return after_reply.group(1)
    match = _STATUS_RE.search(text)
    return ".".join(match.groups()) if match else None


def find_command(text: str | None) -> str | None:
    """The SMTP command the remote server was answering ("RCPT", "DATA")."""
    if not text:
        return None
    match = _COMMAND_RE.search(text) or _TRANSCRIPT_RE.search(text)
    return match.group(1).split()[0].upper() if match else None


def find_replycode(text: str | None, status: str | None = None) -> str | None:
    """The first SMTP reply code in ``text``, agreeing with ``status``'s class.

    A reply code of another class than the status is usually a number from
    the prose ("252 recipients"), so it is skipped.
    """
    if not text:
        return None
    for match in _REPLY_RE.finditer(text[:2000]):
        code = match.group(1)
        if code not in KNOWN_REPLYCODES:
            continue
        if status and status[0] in "45" and code[0] != status[0]:
            continue
        if code[0] == "2" and status and status[0] != "2":
            continue
        return code
    return None


def normalise_status(value: str | None) -> str | None:
    """``"5.1.1 (user unknown)"`` → ``"5.1.1"``; junk → ``None``."""
    if not value:
        return None
    match = _STATUS_RE.search(value)
    return ".".join(match.groups()) if match else None


def _detail(status: str) -> str:
    return status.partition(".")[2]


def is_generic(status: str | None) -> bool:
    """True for statuses that say little more than "failed" (5.0.0, 4.0.0)."""
    if not status:
        return True
    _, _, rest = status.partition(".")
    return rest in GENERIC_STATUSES or rest.startswith("0.9")


def reason_from_text(text: str | None) -> str | None:
    """The reason named by the first matching row of the text table."""
    if not text:
        return None
    for pattern, reason in TEXT_RULES:
        if pattern.search(text):
            return reason
    return None


def reason_from_status(status: str | None) -> str | None:
    if not status:
        return None
    _, _, rest = status.partition(".")
    return STATUS_REASONS.get(rest)


def is_hard(reason: str, status: str | None, replycode: str | None) -> bool:
    """Hard means the address itself will never work; only a few reasons."""
    if reason in HARD_REASONS:
        return True
    if reason == "notaccept":
        return bool((status and status.startswith("5")) or (replycode and replycode.startswith("5")))
    return False


def pseudo_status(reason: str, temporary: bool = False) -> str | None:
    """A Sisimai-style stand-in code ("5.0.911") for bounces without one."""
    detail = PSEUDO_STATUS.get(reason)
    if detail is None:
        return None
    return f"{4 if temporary else 5}.0.{detail}"


def classify(
    status: str | None,
    replycode: str | None,
    diagnostic: str | None,
    remote_host: str | None = None,
    *,
    action: str | None = None,
    extra_text: str | None = None,
    command: str | None = None,
) -> Classification:
    """Decide reason, hard/soft and category for one recipient.

    ``action`` is the DSN Action (``failed``, ``delayed``, ...): a failure
    reported with a 4.x.x status means the sending MTA gave up retrying, so
    it is an expiry whatever the last temporary error said. ``extra_text``
    is looked at when the diagnostic itself says nothing useful (the
    human-readable part of a bounce).
    """
    del remote_host  # reserved for per-provider rules
    command = (command or "").upper() or None
    action = (action or "").lower() or None
    status = normalise_status(status)
    text_status = find_status(diagnostic)
    if text_status:
        if status is None:
            status = text_status
        elif _detail(status) == "0.0" and _detail(text_status) != "0.0" and text_status[0] == status[0]:
            status = text_status
    if not replycode:
        replycode = find_replycode(diagnostic, status)
    if not status and not replycode and extra_text:
        status = find_status(extra_text)

    temporary = bool(status and status.startswith("4")) or action == "delayed"
    reason: str | None = None
    if action in ("delivered", "relayed", "expanded"):
        reason = "delivered"
    elif status and _detail(status) in DECISIVE_STATUSES:
        reason = reason_from_status(status)
    if reason is None:
        reason = reason_from_text(diagnostic)
        if reason is None and not diagnostic and extra_text:
            reason = reason_from_text(extra_text)
        if reason == "userunknown" and command == "DATA" and reason_from_status(status) != "userunknown":
            # the server accepted the recipient at RCPT and refused the
            # message later: a filter speaking, not a missing mailbox
            reason = "filtered"
        if reason == "hostunknown" and temporary:
            reason = "networkerror"  # a DNS failure that may pass
    if reason is None and not is_generic(status):
        reason = reason_from_status(status)
    if temporary and action in ("failed", "delayed") and (reason is None or reason in WEAK_REASONS):
        # the sending MTA gave up (failed) or is still trying (delayed)
        # without a specific cause: that is an expiry
        reason = "expired"
    if reason is None and replycode:
        reason = REPLY_REASONS.get(replycode)
    if reason is None and status and _detail(status) != "0.0":
        reason = reason_from_status(status)
    if reason is None:
        reason = "onhold" if (status or replycode) else "undefined"

    if status is None and reason not in ("delivered",):
        temporary = action == "delayed" or bool(replycode and replycode.startswith("4"))
        status = pseudo_status(reason, temporary)
    return Classification(
        reason=reason,
        hardbounce=is_hard(reason, status, replycode),
        category=CATEGORIES.get(reason, "other"),
        status=status,
        replycode=replycode,
    )


# ---------------------------------------------------------------------------
# Plain-words explanations for support staff.
# ---------------------------------------------------------------------------

_CLASS_WORDS = {
    "2": "Success: the message was accepted.",
    "4": "Temporary failure: the sending server keeps retrying for a while.",
    "5": "Permanent failure: the message was not delivered and will not be retried.",
}

_SUBJECT_WORDS = {
    "0": "other or unspecified problem",
    "1": "a problem with the address",
    "2": "a problem with the recipient's mailbox",
    "3": "a problem with the receiving mail system",
    "4": "a network or routing problem",
    "5": "an SMTP protocol problem",
    "6": "a problem with the message content or format",
    "7": "a security or policy refusal",
}

_DETAIL_WORDS = {
    "1.1": "the mailbox does not exist at that domain",
    "1.2": "the domain does not exist or cannot receive mail",
    "1.3": "the address is not written correctly",
    "1.6": "the mailbox has moved and left no forwarding address",
    "1.7": "the sender address is malformed",
    "1.8": "the sender's domain is not accepted",
    "1.10": "the recipient's domain declares it accepts no mail (null MX)",
    "2.0": "the mailbox refused the message",
    "2.1": "the mailbox is disabled",
    "2.2": "the mailbox is full",
    "2.3": "the message is larger than the mailbox allows",
    "3.1": "the receiving system is out of storage",
    "3.4": "the message is too big for the receiving system",
    "4.1": "the receiving server did not answer",
    "4.2": "the connection to the receiving server broke",
    "4.4": "no route to the recipient's domain could be found",
    "4.6": "the message was looping between servers",
    "4.7": "the message stayed in the queue too long and was given up",
    "5.1": "the receiving server did not understand a command",
    "5.3": "too many recipients in one message",
    "6.0": "the content was refused",
    "7.0": "refused for security reasons",
    "7.1": "the receiver refused the message by policy (often spam or blocklist filters)",
    "7.13": "the recipient's account is disabled",
    "7.23": "SPF check failed for the sending domain",
    "7.25": "the sending IP has no valid reverse DNS",
    "7.26": "several authentication checks (SPF/DKIM/DMARC) failed",
}

_REPLY_WORDS = {
    "250": "accepted",
    "421": "service not available right now",
    "450": "mailbox busy or temporarily unavailable",
    "451": "local error at the receiving server",
    "452": "not enough storage at the receiving server",
    "550": "mailbox unavailable or message refused",
    "551": "user not local",
    "552": "storage allocation exceeded",
    "553": "mailbox name not allowed",
    "554": "transaction failed",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a code means, in words a support agent can read to a customer."""

    code: str
    replycode: str | None
    status: str | None
    meaning: str
    reason: str
    category: str
    hardbounce: bool
    permanent: bool


def explain(code: str) -> Explanation:
    """Explain ``"5.7.1"``, ``"550 5.1.1"``, ``"452-4.2.2"`` and the like."""
    text = code.strip()
    status = find_status(text)
    reply_match = re.match(r"\s*([245]\d\d)(?:[\s\-]|$)", text)
    replycode = reply_match.group(1) if reply_match else None
    result = classify(status, replycode, None)
    words: list[str] = []
    leading = (status or replycode or " ")[0]
    if leading in _CLASS_WORDS:
        words.append(_CLASS_WORDS[leading])
    if status:
        subject, _, _ = status.partition(".")[2].partition(".")
        detail = status.partition(".")[2]
        words.append(
            "Meaning: " + _DETAIL_WORDS.get(detail, _SUBJECT_WORDS.get(subject, "unknown status")) + "."
        )
    if replycode and replycode in _REPLY_WORDS:
        words.append(f"SMTP {replycode}: {_REPLY_WORDS[replycode]}.")
    reason = result.reason if (status or replycode) else "undefined"
    return Explanation(
        code=text,
        replycode=replycode,
        status=status,
        meaning=" ".join(words) or "Not a recognised SMTP or enhanced status code.",
        reason=reason,
        category=CATEGORIES.get(reason, "other"),
        hardbounce=is_hard(reason, status, replycode),
        permanent=leading == "5",
    )
