"""Turn what a bounce says into a reason, a hard/soft flag and a category.

The order is deliberate: the diagnostic text first (servers are specific in
words but lazy in codes: "550 5.7.1 ... mailbox full" is common), then the
enhanced status code, then the bare SMTP reply code. The tables live in
:mod:`bounceledger.ingest.bounces.reasons` so that rules are data a newcomer can extend.
"""

from __future__ import annotations

import functools
import re

from bounceledger.ingest.bounces.reasons import (
    CATEGORIES,
    DECISIVE_STATUSES,
    GENERIC_STATUSES,
    KNOWN_REPLYCODES,
    WEAK_REASONS,
    HARD_REASONS,
    PSEUDO_STATUS,
    REPLY_REASONS,
    STATUS_REASONS,
    RULE_FLAGS,
    _HOST_RULES,
    _STRONG_TEXT_RULES,
    _TEXT_RULES,
)
from bounceledger.ingest.bounces._prefilter import Quick, RuleTable, lazy
from bounceledger.ingest.mta_replies import exim_unescaped, is_faked_reply
from bounceledger.ingest.record import Record

#: The text tables with a literal pre-check per row (same answers, fewer
#: regex searches: see :mod:`bounceledger.ingest.bounces._prefilter`), built from the
#: pattern texts: a row's alternatives are compiled when first searched.
_TEXT_TABLE = RuleTable(_TEXT_RULES, flags=RULE_FLAGS)
_STRONG_TEXT_TABLE = RuleTable(_STRONG_TEXT_RULES, flags=RULE_FLAGS)

_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_REPLY_RE = re.compile(r"(?:^|[\s:;(\[\"'#<>])([245][0-5]\d)(?=[\s\-.,;:)\]]|$)")
#: "550 5.1.1", "550-5.7.1", "550 #5.1.0", "550-'5.2.2": the status a reply carries.
_REPLY_STATUS_RE = re.compile(r"(?<!\d)[245]\d\d[ \-]['\"#]?([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
_COMMAND_RE = re.compile(
    r"in reply to (?:end of )?(DATA|RCPT TO|MAIL FROM|RCPT|MAIL|HELO|EHLO|STARTTLS|AUTH|BDAT)\b"
    r"|after (RCPT TO|MAIL FROM|end of data|DATA|HELO|EHLO|STARTTLS)\b"
    r"|did not like our (RCPT TO|MAIL FROM|DATA)|\[(RCPT_TO|MAIL_FROM|DATA)\]|\bSMTP:(RCPT|MAIL|DATA)\b"
    r"|SMTP command\s*:?\s*(DATA|RCPT|MAIL)\b|while (?:sending|talking) (RCPT|MAIL FROM|DATA)\b",
    re.IGNORECASE,
)
#: Lower-case literals that open the alternatives of ``_COMMAND_RE``.
_COMMAND_LITERALS = ("in reply to", "after ", "did not like our", "[rcpt_to]", "[mail_from]", "[data]", "smtp:",
                     "smtp command", "while sending", "while talking")
_COMMAND_NAMES = {"END OF DATA": "DATA", "RCPT TO": "RCPT", "MAIL FROM": "MAIL", "RCPT_TO": "RCPT",
                  "MAIL_FROM": "MAIL"}
#: A transcript's command and the refusal under it, the lines indented or not (Courier's notice
#: indents them: " >>> RCPT TO:<a@b>" / " <<< 550 No such user here"), or unfolded into one line.
_TRANSCRIPT_RE = re.compile(r"(?:^|\s)>>>\s*(DATA|RCPT|MAIL|HELO|EHLO|STARTTLS|QUIT)\b.*?\s<<<\s*[45]",
                            re.IGNORECASE | re.M | re.S)


class Classification(Record):
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


#: ``_COMMAND_RE.search`` tried only where one of its opening literals occurs.
_COMMAND_SEARCH = Quick(_COMMAND_RE, starts=_COMMAND_LITERALS)


def find_command(text: str | None) -> str | None:
    """The SMTP command the remote server was answering ("RCPT", "DATA")."""
    if not text:
        return None
    lower = text.lower()
    if text.isascii():
        match = _COMMAND_SEARCH.search(text)
    else:
        # every alternative of the pattern starts with one of these literals: the
        # search starts at the first of them (or is skipped), same answer
        start = min((i for i in (lower.find(k) for k in _COMMAND_LITERALS) if i >= 0), default=-1)
        if start > 0 and len(lower) != len(text):
            start = 0  # lower-casing changed the length: positions do not carry over
        match = _COMMAND_RE.search(text, start) if start >= 0 else None
    if match:
        word = next(g for g in match.groups() if g).upper()
        return _COMMAND_NAMES.get(word, word.split()[0])
    if "recipient address rejected:" in lower:
        # src: Postfix postconf(5), smtpd_recipient_restrictions: their refusals read "<address>:
        # Recipient address rejected: ..." and are given in reply to RCPT TO (with smtpd_delay_reject
        # too); an explicit "in reply to ... command" above wins
        return "RCPT"
    if ">>>" not in text:
        return None
    match = _TRANSCRIPT_RE.search(text)
    return match.group(1).upper() if match else None


#: sendmail quoting the remote server: "554 <a@b>... 550 Host unknown";
#: the second code is what the server said.
_RELAYED_REPLY_RE = re.compile(r"(?<!\d)[45]\d\d <[^<>\s]+>\.\.\. ([45]\d\d)(?=[ \-])")


_LEADING_REPLY_RE = re.compile(r"\s*([245]\d\d)[ -](?=\S)")

def find_replycode(text: str | None, status: str | None = None) -> str | None:
    """The first SMTP reply code in ``text``, agreeing with ``status``'s class.

    A reply code of another class than the status is usually a number from
    the prose ("252 recipients"), so it is skipped.
    """
    if not text:
        return None
    leading = _LEADING_REPLY_RE.match(text)
    if leading and leading.group(1) in KNOWN_REPLYCODES and leading.group(1)[0] == "4" \
            and status and status[0] == "5":
        # RFC 3464 2.3.6: an smtp Diagnostic-Code is the remote server's reply, its code first.
        # A final report over a temporary reply is an MTA that gave up retrying (Exim and
        # Courier write 5.0.0 then): the code is the server's last answer, not prose
        return leading.group(1)
    relayed = _RELAYED_REPLY_RE.search(text[:2000])
    if relayed and not (status and status[0] in "45" and relayed.group(1)[0] != status[0]):
        return relayed.group(1)
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
    return _first_text_rule(cjk_rejoined(text))


#: A peer's host name as an MTA prints it beside the peer's address, not words of the peer's reply:
#: src: Postfix smtp(8) "connect to HOST[IP]:25: Connection timed out", "host HOST[IP] said: ..." (smtp_connect.c,
#: smtp_proto.c); Exim "H=HOST [IP]: SMTP error from remote mail server" (deliver.c, transports/smtp.c);
#: sendmail "relay=HOST. [IP]". A gateway called mx.filter.example must not make its timeout "filtered".
_HOST_BESIDE_ADDRESS_RE = lazy(
    r"(?<![\w.@-])[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+\.?(?=\s?\[(?:ipv6:)?[0-9a-f.:]+\])",
    re.IGNORECASE,
)


def _first_text_rule(text: str) -> str | None:
    """The text table's first matching row, for a text already rejoined (:func:`cjk_rejoined`),
    with the peers' host names printed beside their addresses left out."""
    if "[" in text:  # no address in brackets, no host beside one: the common reply is left as it is
        text = _HOST_BESIDE_ADDRESS_RE.sub("host", text)
    return _TEXT_TABLE.first(text)  # type: ignore[return-value]


#: Chinese and Japanese write no spaces between words (Korean does, so Hangul is not here): the
#: space or line break that wrapping left between two such characters is none of the text's.
_CJK_CHARS = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60"
_CJK_GAP_RE = lazy(f"(?<=[{_CJK_CHARS}])[ \t\r\n]+(?=[{_CJK_CHARS}])")


def cjk_rejoined(text: str) -> str:
    """``text`` with the line-wrap spaces inside Chinese and Japanese phrases taken out
    ("システムエラーが あった" reads as the template wrote it)."""
    return text if text.isascii() else _CJK_GAP_RE.sub("", text)


def reason_from_status(status: str | None) -> str | None:
    if not status:
        return None
    _, _, rest = status.partition(".")
    found = STATUS_REASONS.get(rest)
    if found is None and rest.startswith("6."):
        # RFC 3463 section 3.7, "X.6.XXX Message Content or Media Status": every detail of the
        # subject, registered or a vendor's own (Exchange Online's 5.6.11 bare line feeds,
        # 5.6.211 invalid MIME), reports the content; no other subject is of one reason
        found = "contenterror"
    elif found is None:
        # RFC 3463 section 2: the subject sub-code classifies the status. An unregistered detail of
        # X.3 (mail system) or X.7 (security or policy) means what the subject's X.3.0 / X.7.0 does:
        # Exchange Online's 5.3.190 (journaling), 5.7.323 (DANE). Subjects 1, 2 and 4 are left to the
        # words: their details differ too much (5.1.90 and 5.2.121 are senders' limits)
        found = _SUBJECT_REASONS.get(rest.partition(".")[0])
    return found


_SUBJECT_REASONS = {"3": STATUS_REASONS.get("3.0"), "7": STATUS_REASONS.get("7.0")}


def is_hard(reason: str, status: str | None, replycode: str | None) -> bool:
    """Hard means the address itself will never work; only a few reasons.

    ``notaccept`` (null MX, RFC 7505; 521/556, RFC 7504) is permanent by
    definition: it is soft only when a code says the refusal was temporary
    (a 4.x.x or 4xx), so a notice that names no code at all stays hard.
    This is the one rule: the parser, ``explain``, the dashboard badges and
    the suppression policy all ask it (see :func:`is_hard_outcome`).
    """
    if reason in HARD_REASONS:
        return True
    if reason == "notaccept":
        codes = [code for code in (status, replycode) if code]
        return not any(code.startswith("4") for code in codes)
    return False


#: The ledger state of a final bounce; delays, expiries and complaints are never hard.
HARD_STATES = frozenset({"bounced"})


def is_hard_outcome(state: str | None, reason: str | None, status: str | None, replycode: str | None) -> bool:
    """Whether one ledger outcome is a hard bounce: the verdict the
    suppression policy acts on, and so the badge the dashboard shows for it.

    Only a bounce can be hard (an expiry or a delay says the address might
    still work); then :func:`is_hard` decides, as it did for the parser.
    """
    return state in HARD_STATES and bool(reason) and is_hard(reason or "", status, replycode)


def pseudo_status(reason: str, temporary: bool = False) -> str | None:
    """A Sisimai-style stand-in code ("5.0.911") for bounces without one."""
    detail = PSEUDO_STATUS.get(reason)
    if detail is None:
        return None
    return f"{4 if temporary else 5}.0.{detail}"


#: "... unable to deliver in 840 minutes.<421 4.4.2 Connection timed out>":
#: a relay quoting the last reply it got; that inner reply is the cause.
_NESTED_REPLY_RE = re.compile(r"<\s*([245]\d\d)[ \-]([245]\.\d{1,3}\.\d{1,3})\b[^<>]*>")


def _nested_reply(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    found = _NESTED_REPLY_RE.findall(text)
    return found[-1] if found else None


#: A connection that timed out. Exchange words it by number: "Failed to connect. Winsock error code: 10060"
#: (Windows Sockets error codes: WSAETIMEDOUT 10060 "Connection timed out").
_TIMED_OUT_RE = re.compile(r"timed? ?out|winsock error code: ?10060\b", re.IGNORECASE)
#: "Resources temporarily unavailable, please try again later": nothing more
#: than "it was a temporary error".
_GENERIC_TEMPORARY_RE = re.compile(r"temporar(?:y|ily)|try again later", re.IGNORECASE)

#: Greylisting defers a sender it has not seen before and never refuses for good (postgrey(8): "Greylisted,
#: see ..."): a sender that gave up while greylisted ran out of queue lifetime (see classify).
_GREYLISTED_RE = re.compile(r"greylist", re.IGNORECASE)
#: RFC 5321 4.2.3's text for 552: "Requested mail action aborted: exceeded storage allocation".
_STORAGE_ALLOCATION_RE = re.compile(r"exceeded storage allocation", re.IGNORECASE)


#: Exim's callout failure quotes the verified server's answer ("Verification failed for <x>",
#: "Called: <ip>", "Sent: RCPT TO:<x>", "Response: 550 5.1.1 ..."; Exim spec, "Callout verification"):
#: the status there is about the address it verified (often our own sender), not this recipient.
_CALLOUT_RESPONSE_RE = re.compile(
    r"(Sent:\s+RCPT TO:\s*<[^<>]*>\s*(?:[45]\d\d-)?Response:\s*)[245]\d\d[ \-][245]\.\d{1,3}\.\d{1,3}", re.IGNORECASE)
_INCONSISTENT_RE = re.compile(r"\s*([245]\d\d)[ \-]([245]\.\d{1,3}\.\d{1,3})\b")


def choose_status(status: str | None, diagnostic: str | None, *, field_is_final: bool = False) -> str | None:
    """The enhanced status worth recording for one recipient.

    The DSN ``Status:`` field is written by the reporting MTA; the status in
    the remote server's own reply is closer to the cause. sendmail reports
    every give-up as 4.4.7 and Amazon's relays wrap the last reply in their
    own, so a specific status in the reply text beats the field.
    """
    status = normalise_status(status)
    nested = _nested_reply(diagnostic)
    if diagnostic and not nested and ("esponse:" in diagnostic or "ESPONSE:" in diagnostic):
        diagnostic = _CALLOUT_RESPONSE_RE.sub(r"\1", diagnostic)  # the verified address's status is not ours
    text_status = nested[1] if nested else find_status(diagnostic)
    if not text_status:
        return status
    inconsistent = _INCONSISTENT_RE.match(diagnostic or "")
    if inconsistent and status and inconsistent.group(2) == text_status and inconsistent.group(1)[0] != text_status[0]:
        # "550 4.2.1 ...": a detail whose class contradicts its own reply code is no status at all;
        # Postfix drops it too and writes x.0.0 (smtp_chat.c), so the field stands
        return status
    if field_is_final and status and _detail(status) != "0.0":
        return status
    if status is None:
        return text_status
    if text_status == status or _detail(text_status) == "0.0":
        return status
    if status[0] == "2" or text_status[0] == "2":
        return status
    if _detail(status) in DECISIVE_STATUSES:
        return status
    if text_status[0] != status[0] and status[0] == "5" and _detail(status) not in ("0.0", "1.1", "4.7"):
        return status
    return text_status


def stage_command(stage: str | None) -> str | None:
    """The ``command`` for :func:`classify` of a send-log attempt's ``smtp_stage`` ("MAIL FROM", "RCPT
    TO", "end of DATA": Postfix's "(in reply to ... command)", smtp_proto.c), named as :func:`find_command`
    names it in a returned message: a refusal at MAIL FROM is about the sender, never the recipient."""
    word = (stage or "").strip().upper()
    return _COMMAND_NAMES.get(word, word.split()[0]) if word else None


#: RFC 5321 4.2.3's generic 550/450 words, "mailbox unavailable", also as "Mailbox not available" (Interia's
#: "550 5.2.1 Mailbox not available", which its help page says means a wrong address, a full inbox or a
#: suspended account: no more than the RFC words, so the status decides)
_MAILBOX_UNAVAILABLE_RE = re.compile(r"mailbox (?:un|not )available", re.IGNORECASE)

#: RFC 5321 4.2.3's generic reply words, the reason they read as, and the reasons of statuses that
#: say more: where those words are all a reply says, the status decides. 552 "exceeded storage
#: allocation" beside X.3.4 "Message too big for system" or X.3.1 "Mail system full"; 550 "mailbox
#: unavailable" beside X.2.1 "Mailbox disabled, not accepting messages" (the mailbox exists).
_GENERIC_REPLY_WORDS: dict[str, tuple[re.Pattern[str], frozenset[str]]] = {
    "mailboxfull": (_STORAGE_ALLOCATION_RE, frozenset({"mesgtoobig", "systemfull"})),
    "userunknown": (_MAILBOX_UNAVAILABLE_RE, frozenset({"suspend"})),
}


def _other_status(status: str) -> bool:
    """RFC 3463's "Other or undefined ... status" codes (X.N.0), which name a
    subject but no cause."""
    return _detail(status).endswith(".0")


#: Words that make the connecting client the subject of a refusal: Postfix's reply prefix for
#: smtpd_client_restrictions "Client host rejected:" (postconf(5)), a connection refused "from" a host,
#: and an unknown host named by its IP address (a recipient's domain is a name, RFC 5321 2.3.5).
_CLIENT_HOST_RE = re.compile(
    r"client host rejected\s*:|connection from (?:an? )?(?:unknown )?host|unknown host \[?\d{1,3}(?:\.\d{1,3}){3}\b",
    re.IGNORECASE,
)
#: Commands answered before any recipient is named: the greeting (RFC 5321 4.1.1.1, the client
#: host's name) and MAIL (section 3.3, the sender). A refusal there says nothing about a recipient.
_BEFORE_RECIPIENTS = {"HELO": "blocked", "EHLO": "blocked", "MAIL": "rejected"}


def _decide_userunknown(status_reason: str | None, command: str | None) -> str:
    """"User unknown" words are only trusted at RCPT time (or with a 5.1.x).

    A server that accepted the recipient and refused the message later, or
    answered with a policy status, is filtering, whatever its wording.
    ``LOCAL`` is a local delivery program (mail.local, an LDA) speaking: it
    looked the mailbox up itself.
    """
    if command in _BEFORE_RECIPIENTS:
        return _BEFORE_RECIPIENTS[command]
    if status_reason in ("userunknown", "notaccept") or command in ("RCPT", "LOCAL"):
        return "userunknown"
    if command == "DATA":
        return "filtered"
    if status_reason in ("hostunknown", "nostatus", None):
        return "userunknown"  # no status, or a generic x.0.0
    return "filtered"


def classify(
    status: str | None,
    replycode: str | None,
    diagnostic: str | None,
    remote_host: str | None = None,
    *,
    action: str | None = None,
    extra_text: str | None = None,
    command: str | None = None,
    reason: str | None = None,
    status_is_final: bool = False,
    gave_up: bool = False,
    reporting_host: str | None = None,
    diagnostic_type: str | None = None,
) -> Classification:
    """Decide reason, hard/soft and category for one recipient.

    ``reason`` is what the format itself said (a detector that knows its
    provider); it wins. Otherwise: a decisive status (5.1.6, 5.7.26 ...);
    then the first matching phrase of the text table, with "user unknown"
    kept only where the SMTP stage allows it; then the status; then the
    bare reply code. ``action`` is the DSN Action: a delayed recipient with
    nothing specific said is an expiry. ``extra_text`` is read only when
    the diagnostic is empty (the human-readable part of a bounce).

    A *failed* recipient with a 4.x.x status is not an expiry by itself:
    relays give up on temporary errors for many reasons, and Sisimai (the
    reference) reports the cause the text names, or ``onhold``. Only when
    the caller knows the sending MTA gave up because the queue lifetime ran
    out (``gave_up``: a Postfix DSN whose recipient failed with a 4.x.x
    status, Exim's "retry timeout exceeded") does "nothing specific" become
    ``expired``.
    """
    command = (command or "").upper() or None
    action = (action or "").lower() or None
    field = normalise_status(status)
    status = choose_status(status, diagnostic, field_is_final=status_is_final)
    if action == "failed" and field and field[0] == "5" and status and status[0] == "4":
        # the report is final (5.x.x) while the remote server only ever said
        # "try later" (4.x.x): the sending MTA gave up after retrying
        gave_up = True
    nested = _nested_reply(diagnostic)
    if nested:
        replycode = nested[0]
    if not replycode and not is_faked_reply(diagnostic):
        replycode = find_replycode(diagnostic, status)
    if action == "failed" and field and field[0] == "5" and replycode and replycode[0] == "4" \
            and (status is None or status == field or status[0] == "4"):
        # the same give-up when the remote reply had no enhanced code ("450 Requested mail action not
        # taken: mailbox unavailable" under Exim's "Status: 5.0.0 ... retry timeout exceeded"): the
        # report is final while the server's only answer was a 4xx (RFC 5321 4.2.1: transient)
        gave_up = True
    if replycode and replycode[0] == "2" and action in ("failed", "delayed"):
        replycode = None  # a greeting or a number in the prose, not the answer
    if not status and not replycode and extra_text:
        status = find_status(extra_text)
    if not command:
        command = find_command(diagnostic)

    temporary = bool(status and status.startswith("4")) or action == "delayed"
    status_reason = reason_from_status(status)
    text = join_reply_lines(diagnostic if diagnostic else extra_text)
    if text:
        text = cjk_rejoined(exim_unescaped(text))
    chosen: str | None = reason
    if chosen is None and (action in ("delivered", "relayed", "expanded") or (status or "").startswith("2.")):
        chosen = "delivered"
    if chosen is None and (remote_host or reporting_host):
        chosen = reason_from_host(remote_host or "", diagnostic or text) or reason_from_host(reporting_host or "", diagnostic or text)
    if chosen is None and text:
        chosen = _STRONG_TEXT_TABLE.first(text)  # type: ignore[assignment]
        if chosen is None and status and status not in text:
            # Some provider rows name the enhanced code with the words (Exchange Online's "5.4.1
            # Recipient address rejected: Access denied", Postfix's own access-map wording otherwise):
            # a send log gives the code apart from the words, and the verdict must not depend on that
            chosen = _STRONG_TEXT_TABLE.first(f"{status} {text}")  # type: ignore[assignment]
    if chosen is None and status and _detail(status) in DECISIVE_STATUSES:
        chosen = status_reason
    if chosen is None:
        chosen = _first_text_rule(text) if text else None
        transient = temporary or (replycode or "").startswith("4")
        if chosen == "userunknown" and transient and _MAILBOX_UNAVAILABLE_RE.search(text or "") \
                and not (status or "").partition(".")[2].startswith("1."):
            # RFC 5321 4.2.2: "450 Requested mail action not taken: mailbox unavailable (e.g., mailbox
            # busy or temporarily blocked for policy reasons)": said with a transient code, the
            # generic words say nothing of the address
            chosen = "onhold"
        generic = _GENERIC_REPLY_WORDS.get(chosen)  # type: ignore[arg-type]
        if generic and status_reason in generic[1] and text and generic[0].search(text) \
                and _first_text_rule(generic[0].sub(" ", text)) != chosen:
            chosen = status_reason  # the words said no more than the code; the status says more
        if chosen == "userunknown":
            # an "other or undefined" status (X.0.0, X.5.0 ... RFC 3463 section 3.1) says no more than none
            chosen = _decide_userunknown(status_reason if status and not _other_status(status) else "nostatus", command)
        elif chosen == "hostunknown" and temporary and command not in _BEFORE_RECIPIENTS \
                and _detail(status or "") != "1.2":
            # a DNS failure that may pass; but X.1.2 (RFC 3463 "Bad destination system address")
            # is a server's verdict on the recipient's domain: Postfix's reject_unknown_recipient_domain
            # answers "450 4.1.2 ... Domain not found" for a domain with no MX and no A record, 450
            # being only its default unknown_address_reject_code (postconf(5))
            chosen = "networkerror"
    if chosen is None and not is_generic(status):
        chosen = status_reason
    if action == "expired" and (chosen is None or chosen in WEAK_REASONS or chosen == "networkerror"):
        chosen = "expired"  # some relays (SendGrid) write "Action: expired"
    if chosen == "networkerror" and (temporary or gave_up) and action in ("failed", "delayed", "expired") and text \
            and _TIMED_OUT_RE.search(text):
        chosen = "expired"  # the sender kept retrying a host that never answered, then gave up
    if chosen is None and diagnostic_type == "x-unix" and not (status or "").startswith("2"):
        chosen = "mailererror"  # a local delivery program (pipe, LDA) failed
    if action == "delayed" and (chosen is None or chosen in WEAK_REASONS):
        chosen = "expired"  # still retrying without a specific cause
    if gave_up and (chosen in (None, "onhold", "undefined")
                    or (chosen == "systemerror" and _GENERIC_TEMPORARY_RE.search(text or ""))):
        chosen = "expired"  # the queue lifetime ran out on a temporary error
    elif (gave_up or action == "delayed" or (field or "").endswith(".4.7")) and chosen == "blocked" \
            and _GREYLISTED_RE.search(text or ""):
        # greylisted until the queue lifetime ran out, or still being retried (a delay warning):
        # nothing ever refused it
        chosen = "expired"
    if chosen is None and replycode:
        chosen = REPLY_REASONS.get(replycode)
        if gave_up and chosen in WEAK_REASONS:
            chosen = "expired"
        if chosen == "userunknown":
            chosen = _decide_userunknown(status_reason, command)
        if chosen == "onhold":
            chosen = None  # a reply code that says nothing specific: a status such as 5.1.0 may
    if chosen is None and status and _detail(status) not in ("0.0", "2.0", "3.0"):
        chosen = status_reason  # "other ... status" (x.0.0, x.2.0, x.3.0) says nothing: on hold
    if chosen is None:
        chosen = "onhold" if (text or status or replycode) else "undefined"
    if chosen in HARD_REASONS and command in _BEFORE_RECIPIENTS:
        chosen = _BEFORE_RECIPIENTS[command]  # the sender's address or the client host, never the recipient
    elif chosen in HARD_REASONS and text and _CLIENT_HOST_RE.search(text):
        chosen = "blocked"  # "host not found" said of the sending client, not of the recipient's domain

    if status is None and chosen != "delivered":
        temporary = action == "delayed" or bool(replycode and replycode.startswith("4"))
        status = pseudo_status(chosen, temporary)
    return Classification(
        reason=chosen,
        hardbounce=is_hard(chosen, status, replycode),
        category=CATEGORIES.get(chosen, "other"),
        status=status,
        replycode=replycode,
    )


_REPLY_PREFIX_RE = re.compile(r"\s*([245]\d\d)[ -](?:([245]\.\d{1,3}\.\d{1,3})\s)?")


def join_reply_lines(text: str | None) -> str | None:
    """Drop the code prefixes of continuation lines in a multi-line reply.

    "550-5.7.1 Messages with multiple 550-5.7.1 addresses in From: ..." reads
    "Messages with multiple addresses in From: ..." once the repeated
    "550-5.7.1" of each joined line is gone, so phrases match across lines.
    """
    if not text:
        return text
    first = _REPLY_PREFIX_RE.match(text)
    if not first:
        return text
    code, status = first.group(1), first.group(2)
    if text.find(code, first.end()) < 0:
        return text  # the code is not repeated: nothing to drop
    repeat = rf"\s{code}[ -]" + (rf"(?:{re.escape(status)}\s)?" if status else "")
    return text[: first.end()] + re.sub(repeat, " ", text[first.end():])


@functools.cache
def _any_host_re() -> re.Pattern[str]:
    """The host patterns of ``HOST_RULES`` as one alternation: it finds
    something exactly when one of them does (same flags, no back-references).
    Compiled on first use, as the table itself."""
    return re.compile("|".join(f"(?:{host})" for host, _, _ in _HOST_RULES), RULE_FLAGS)


def host_has_rules(remote_host: str | None) -> bool:
    """Whether any row of ``HOST_RULES`` can apply to this host: when none
    can, the host changes no classification and callers may leave it out."""
    return bool(remote_host) and _any_host_re().search(remote_host.lower()) is not None  # type: ignore[union-attr]


def reason_from_host(remote_host: str, text: str | None) -> str | None:
    """Per-provider wording: the first row of ``HOST_RULES`` whose host and
    text patterns both match."""
    host = remote_host.lower()
    if not _any_host_re().search(host):
        return None  # no row's host pattern matches (most hosts)
    for host_pattern, text_pattern, reason in _HOST_RULES:
        if _rule_re(host_pattern).search(host) and (text_pattern is None or (text and _rule_re(text_pattern).search(text))):
            return reason
    return None


@functools.cache
def _rule_re(pattern: str) -> re.Pattern[str]:
    """A ``HOST_RULES`` pattern, compiled when a host first reaches its row
    (most rows' text patterns are never needed in a run)."""
    return re.compile(pattern, RULE_FLAGS)


# ---------------------------------------------------------------------------
# Plain-words explanations for support staff.
# ---------------------------------------------------------------------------

_CLASS_WORDS = {
    "2": "Success: the message was accepted.",
    "4": "Temporary failure: the sending server keeps retrying for a while.",
    "5": "Permanent failure: the message was not delivered and will not be retried.",
}

_GAVE_UP_WORDS = "Gave up after retrying: the temporary failure lasted until the queue lifetime ran out; not delivered."

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

#: Each reason in words a support agent can say to a customer. ``explain``
#: leads with these when a reply's words name a different cause than its
#: status would alone: Microsoft 365 writes ``5.1.10`` for an unknown
#: recipient where RFC 7505 registered the code for a null MX, and Gmail's
#: ``4.2.1`` rate limit is X.2.1 "mailbox disabled" in RFC 3463.
REASON_WORDS: dict[str, str] = {
    "userunknown": "the address does not exist at that domain",
    "hasmoved": "the address is no longer in use; the person has moved",
    "hostunknown": "the recipient's domain does not exist or has no mail server",
    "notaccept": "the recipient's domain accepts no mail",
    "suspend": "the mailbox exists but is disabled or suspended",
    "mailboxfull": "the recipient's mailbox is full",
    "exceedlimit": "the message is larger than the recipient's mailbox accepts",
    "systemfull": "the receiving server is out of storage",
    "spamdetected": "the receiving server's filter judged the message to be spam",
    "blocked": "the receiving server refused mail from the sending server's address or network",
    "badreputation": "the receiving server refused the sender because of its reputation",
    "speeding": "the receiving server is limiting how fast it accepts mail from this sender",
    "feedback": "a feedback or complaint report, not a delivery failure",
    "policyviolation": "the receiving organisation's policy refused the message",
    "filtered": "the recipient's own filter or settings refused the message",
    "authfailure": "the sender's authentication (SPF, DKIM or DMARC) failed",
    "requireptr": "the sending server's address has no valid reverse DNS name",
    "securityerror": "a security requirement (TLS encryption or SMTP authentication) was not met",
    "contenterror": "the receiving server refused the message's content",
    "mesgtoobig": "the message is larger than the receiving server accepts",
    "notcompliantrfc": "the message breaks the email format standards in a way the receiver refuses",
    "virusdetected": "the receiving server found a virus or a forbidden attachment",
    "expired": "delivery failed temporarily until the sending server gave up",
    "networkerror": "the receiving server could not be reached (DNS, connection or no answer)",
    "toomanyconn": "the receiving server refused because too many connections were open",
    "systemerror": "the receiving server had an internal error",
    "mailererror": "a delivery program at the receiving end failed",
    "syntaxerror": "the receiving server refused a command as malformed",
    "norelaying": "the server does not accept mail for that domain (relaying refused)",
    "rejected": "the sender's address was refused",
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


def meaning_words(status: str | None, replycode: str | None, reason: str | None = None) -> list[str]:
    """The "Meaning" and "SMTP nnn" sentences for a code, and for the reason
    its reply's words gave. Where those words name another cause than the
    status would alone, the words lead and the status's registered meaning
    follows as such: support must not read "null MX" to a customer whose
    address Microsoft 365 reported unknown under ``5.1.10``."""
    words: list[str] = []
    if status:
        subject, _, _ = status.partition(".")[2].partition(".")
        registered = _DETAIL_WORDS.get(status.partition(".")[2], _SUBJECT_WORDS.get(subject, "unknown status"))
        alone = classify(status, replycode, None).reason if reason else None
        if reason in REASON_WORDS and reason != alone:
            words.append(f"Meaning: {REASON_WORDS[reason]} (status {status} on its own means: {registered}).")
        else:
            words.append(f"Meaning: {registered}.")
    elif reason in REASON_WORDS and reason != classify(None, replycode, None).reason:
        words.append(f"Meaning: {REASON_WORDS[reason]}.")
    if replycode and replycode in _REPLY_WORDS:
        words.append(f"SMTP {replycode}: {_REPLY_WORDS[replycode]}.")
    return words


class Explanation(Record):
    """What a code means, in words a support agent can read to a customer."""

    code: str
    replycode: str | None
    status: str | None
    meaning: str
    reason: str
    category: str
    hardbounce: bool
    permanent: bool
    #: ``success`` (2xx / 2.x.x: nothing failed), ``temporary``, ``permanent``,
    #: or ``unrecognised`` (no reply or status code in the text).
    outcome: str = "unrecognised"


#: Letters beyond the codes: the text is a server's reply, worth reading as one.
_WORDS_RE = re.compile(r"[^\W\d_]{2,}")


def explain(code: str, reason: str | None = None) -> Explanation:
    """Explain ``"5.7.1"``, ``"550 5.1.1"``, ``"452-4.2.2"`` and the like.

    The reason comes from :func:`classify`, the function the parser and the
    send-log ingest use, fed the same way a log line's reply is: the
    status, the reply code and, when there are words beyond the codes
    (``"550 5.7.1 Rejected by policy"``), the text itself. A success code
    (2xx, 2.x.x) is no failure and gets no failure reason. ``reason``, the
    one a stored outcome already carries, words the meaning in its place.
    """
    text = code.strip()
    status = find_status(text)
    reply_match = re.match(r"\s*([245]\d\d)(?:[\s\-]|$)", text)
    replycode = reply_match.group(1) if reply_match else find_replycode(text, status)
    leading = (status or replycode or " ")[0]
    if leading not in _CLASS_WORDS:
        return Explanation(text, None, None, "Not a recognised SMTP or enhanced status code.", "undefined",
                           CATEGORIES.get("undefined", "other"), False, False, "unrecognised")
    words = [_CLASS_WORDS[leading]]
    if leading == "2":
        if replycode and replycode[0] == "2" and replycode in _REPLY_WORDS:
            words.append(f"SMTP {replycode}: {_REPLY_WORDS[replycode]}.")
        return Explanation(text, replycode, status, " ".join(words), "delivered",
                           CATEGORIES.get("delivered", "other"), False, False, "success")
    worded = _WORDS_RE.search(text) is not None
    result = classify(status, replycode, text if worded else None)
    if status and status.partition(".")[2] == "4.7" and leading == "4":
        # src: RFC 3463 X.4.7 "Delivery time expired ... useful only as a persistent transient error":
        # the retries are over, so "keeps retrying" would contradict the meaning that follows
        words[0] = _GAVE_UP_WORDS
    words.extend(meaning_words(status, replycode, reason or (result.reason if worded else None)))
    return Explanation(
        code=text,
        replycode=replycode,
        status=status,
        meaning=" ".join(words),
        reason=result.reason,
        category=result.category,
        hardbounce=is_hard(result.reason, status, replycode),
        permanent=leading == "5",
        outcome="permanent" if leading == "5" else "temporary",
    )
