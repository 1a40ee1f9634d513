"""Per-format detectors for bounces that are not RFC 3464 DSNs.

Each module handles one MTA's or provider's format and exposes
``detect(msg, body) -> list[Failure]`` returning an empty list when the
message is not its own. ``DETECTORS`` fixes who tries first: providers with
a recognisable signature (a JSON notification, a Google Groups notice) go
before the MTAs whose wording other software imitates (Exim, qmail,
sendmail), and the generic plain-text reader is tried last of all, after the
auto-reply and flufl.bounce stages (see :func:`fallback_verdicts`). Adding a
format is a new module plus one line here, and never touches the others.

Detectors only *find* recipients, their error text and what the format
itself says for sure (the SMTP command, a reason the provider names); the
shared classifier decides reason, status and category from that.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from email.message import Message

from bounceledger.ingest.bounces.classify import classify, find_status, is_generic, is_hard, pseudo_status
from bounceledger.ingest.bounces.reasons import CATEGORIES, WEAK_REASONS
from bounceledger.ingest.bounces.returned import Keys
from bounceledger.ingest.record import Record
from bounceledger.ingest.records import Verdict, VerdictKind


class Failure(Record):
    """One failed (or delayed, delivered, complained-about) recipient as a
    format detector read it.

    ``temporary`` marks a delay warning: the sender is still retrying.
    ``gave_up`` marks a final failure after temporary errors (Exim's "retry
    timeout exceeded"): the verdict is a bounce but its status class is 4.
    """

    recipient: str | None
    diagnostic: str
    status: str | None = None
    replycode: str | None = None
    temporary: bool = False
    remote_mta: str | None = None
    reason: str | None = None  # set only when the format itself says why
    command: str | None = None  # SMTP command the remote server answered
    gave_up: bool = False
    kind: VerdictKind | None = None  # "success" / "complaint" for provider notices
    feedback_type: str | None = None
    #: The format relays a server's words without the SMTP command they
    #: answered (a filtering gateway, a relay reporting a later hop). See
    #: :func:`_unproven_unknown`.
    stage_unknown: bool = False
    #: The address the sender used when the report names the one it was
    #: rewritten to (sendmail's "(expanded from: ...)"): what matching needs.
    original_recipient: str | None = None
    #: What the format's structure says when its words say nothing specific (unlike
    #: ``reason``, words that name a cause still win): a Sieve reject is the
    #: recipient's own filter refusing, whatever text its owner wrote.
    fallback_reason: str | None = None


Detect = Callable[[Message, str], list[Failure]]

#: (name, module) in the order they are tried. Modules are imported lazily
#: so that a syntax slip in one format cannot take the others down at import.
ORDER: tuple[str, ...] = (
    "amazonses",     # JSON notifications (SNS / SES event publishing)
    "googlegroups",  # "the group you tried to contact ... may not exist"
    "zoho",          # "addr Invalid Address, ERROR_CODE :550, ..." (Zoho Mail)
    "exchange",      # Exchange 2007+/Online NDR text: "Diagnostic information for administrators", no report part
    "notes",         # Lotus Notes "Failure Reasons" / Domino "was not delivered to:"
    "groupwise",     # GroupWise GWIA: "The message that you sent was undeliverable to the following:"
    "masqmail",      # masqmail: "Delivery to the following recipients failed permanently and has been given up:"
    "mailenable",    # MailEnable: "Recipient: [SMTP:addr]" / "Reason: ..."
    "hmailserver",   # hMailServer: "The following recipient(s) could not be reached:" + "Error Type: SMTP" blocks
    "dsnnotice",     # boxed "automatically generated Delivery Status Notification"
    "interscanmss",  # InterScan MSS: "Unable to deliver message to <addr> (and other recipients ...)"
    "unabletodeliver",  # "Unable to deliver message to the following address(es)."
    "gmail",         # Gmail's pre-2016 plain-text notices
    "fml",           # fml mailing lists refusing a post ("You are not a member")
    "activehunter",  # Active!hunter gateway: sendmail-like text, no delivery-status part
    "exchange2003",  # Exchange 5.5-2003 "did not reach the following recipient(s)" + MSEXCH code
    "mailmarshal",   # MailMarshal "Could not be delivered because of" ... "recipients were affected"
    "verizon",       # Verizon Wireless SMS gateway: "Error message below:" ... "RCPT TO:"
    "mfilter",       # m-FILTER: "-------server message" / "-------SMTP command"
    "x1",            # "---The following addresses had delivery errors---" / "addr [reason]"
    "netscape",      # Netscape Messaging Server: "The following recipients did not receive your message:"
    "mimesweeper",   # MIMEsweeper: "A message could not be delivered to:"
    "mdnreject",     # Sieve/LDA reject as a disposition notification ("was automatically rejected")
    "postfix",       # Postfix: "Delivery report unavailable", SMTP server error transcripts
    "exim",          # Exim and its look-alikes (Mail.ru, 1&1)
    "sendmail",      # sendmail's non-MIME reports: "----- The following addresses had permanent fatal errors -----"
    "qmail",         # qmail-send and its descendants
)


def _load() -> tuple[tuple[str, Detect], ...]:
    """Import the detectors, in :data:`ORDER`.

    Their modules are used as they define themselves: nothing here
    rebinds their names. A detector that wants a literal pre-check on a
    body-wide search wraps that pattern with
    :func:`bounceledger.ingest.bounces._prefilter.quick` where it defines it.
    """
    found: list[tuple[str, Detect]] = []
    for name in ORDER:
        module = importlib.import_module(f"bounceledger.ingest.bounces.detectors.{name}")
        found.append((name, module.detect))
    return tuple(found)


from bounceledger.ingest.bounces.detectors import _common  # noqa: E402  (after Failure: _common's users need it)

DETECTORS: tuple[tuple[str, Detect], ...] = _load()


def verdicts(msg: Message, keys: Keys, body: str) -> list[Verdict]:
    """Run the detectors in order; the first that finds failures wins."""
    for name, detect in DETECTORS:
        failures = detect(msg, body)
        if failures:
            keys = _with_inline_id(keys, body)  # once: the same for every failure
            return [_verdict(name, f, keys) for f in failures]
    return []


def _with_inline_id(keys: Keys, body: str) -> Keys:
    if keys.original_message_id:
        return keys

    from bounceledger.ingest.bounces.detectors._common import inline_original_id

    found = inline_original_id(body)
    return keys.replace(original_message_id=found) if found else keys


def fallback_verdicts(msg: Message, keys: Keys, body: str) -> list[Verdict]:
    """The generic plain-text reader, tried after every other stage, then the returned message's
    one recipient (:func:`~bounceledger.ingest.bounces.detectors.plaintext.returned_recipient`)."""
    from bounceledger.ingest.bounces.detectors import plaintext

    failures = plaintext.detect(msg, body)
    if failures:
        return [_verdict("plaintext", f, keys) for f in failures]
    # last of all: a notice that names nobody, about the one address its returned message was sent to
    return [_verdict("returned-to", f, keys) for f in plaintext.returned_recipient(msg, keys, body)]


def _verdict(name: str, failure: Failure, keys: Keys) -> Verdict:
    if failure.kind in ("success", "complaint"):
        return _notice_verdict(name, failure, keys)
    action = "delayed" if failure.temporary else "failed"
    result = classify(
        failure.status,
        failure.replycode,
        failure.diagnostic,
        failure.remote_mta,
        action=action,
        command=failure.command,
        reason=failure.reason,
        gave_up=failure.gave_up,
    )
    reason = result.reason
    status = result.status
    if failure.fallback_reason and (reason is None or reason in WEAK_REASONS):
        reason = failure.fallback_reason
        if not status or is_generic(status):
            status = pseudo_status(reason, failure.temporary)
    if _unproven_unknown(failure, reason, status):
        reason = "filtered"
        if status and status.partition(".")[2].startswith("0.9"):
            status = pseudo_status(reason, failure.temporary)
    if failure.reason and not failure.status and not find_status(failure.diagnostic):
        status = pseudo_status(reason, failure.temporary)
    if (failure.gave_up or failure.temporary) and status and status[0] == "5" and ".0.9" in status:
        status = "4" + status[1:]  # Sisimai-style pseudo code keeps the temporary class
    return Verdict(
        kind="delay" if failure.temporary else "bounce",
        recipient=failure.recipient,
        reason=reason,
        hardbounce=False if failure.temporary else is_hard(reason, status, result.replycode),
        category=CATEGORIES.get(reason, "other"),
        action=action,
        status=status,
        replycode=result.replycode,
        diagnostic=failure.diagnostic or None,
        remote_mta=failure.remote_mta,
        original_recipient=failure.original_recipient,
        original_message_id=keys.original_message_id,
        envelope_id=keys.envelope_id,
        next_hop_queue_id=keys.next_hop_queue_id,
        return_path_token=keys.return_path_token,
        detector=name,
    )


def _unproven_unknown(failure: Failure, reason: str, status: str | None) -> bool:
    """"User unknown" words that prove nothing about the mailbox.

    Only a refusal of ``RCPT TO`` (or an x.1.x status) shows the address is
    bad; filters and content scanners that refuse a message after accepting
    the recipient say "user unknown" too. When the format cannot tell the
    stage (``stage_unknown``) and the status is no x.1.x, the recipient was
    filtered, not unknown: the rule the Sisimai reference applies.
    """
    if not failure.stage_unknown or failure.command or failure.reason or reason != "userunknown":
        return False
    detail = (status or "").partition(".")[2]
    return not detail.startswith("1.")


def _notice_verdict(name: str, failure: Failure, keys: Keys) -> Verdict:
    """Provider notices that are not failures: deliveries and complaints."""
    delivered = failure.kind == "success"
    return Verdict(
        kind=failure.kind or "success",
        recipient=failure.recipient,
        reason="delivered" if delivered else "feedback",
        hardbounce=False,
        category="other" if delivered else "spam-related",
        action="delivered" if delivered else None,
        status=failure.status if delivered else None,
        replycode=failure.replycode if delivered else None,
        diagnostic=failure.diagnostic or None,
        remote_mta=failure.remote_mta,
        feedback_type=failure.feedback_type,
        original_message_id=keys.original_message_id,
        envelope_id=keys.envelope_id,
        return_path_token=keys.return_path_token,
        detector=name,
    )
