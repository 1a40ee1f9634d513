"""Last-resort stage: flufl.bounce's heuristic detectors for non-DSN bounces.

flufl.bounce knows many old formats, but its generic detectors will find
"a failed address" in almost anything, including DSN success notices (its
LLNL detector reads the returned ``To:``). So it only runs on messages that
look like bounces by their envelope and subject, and never on a DSN (those
are fully handled by :mod:`bounceledger.ingest.bounces.rfc3464`).
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _flufl
from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.bounces.classify import classify, find_replycode, find_status
from bounceledger.ingest.bounces.returned import Keys, returned_headers
from bounceledger.ingest.records import Verdict

#: Senders that only ever write bounces.
#: RFC 5321 section 4.5.1's postmaster and the MAILER-DAEMON of sendmail,
#: Postfix and Exim, with the separators gateways write ("post_master@",
#: "mailer_daemon@"), and the display names MTAs ship. Courier writes its
#: notices from the empty address ``"Courier mail server at <host>" <@>``
#: (Courier's courierdsn documentation).
BOUNCE_SENDERS = lazy(
    r"mailer[-_. ]?daemon|post[-_.]?master|mail delivery (?:system|subsystem)|\bmdaemon\b|mail ?administrator"
    r"|\bmaildelivery|mailerdaemon|\bbounce[sd]?@|\bnoreply-?dsn|\bdelivery-?(?:status|notification)|<@>",
    re.IGNORECASE,
)

#: A mailing list's bounce address: GNU Mailman's ``<list>-bounces@<host>`` (its
#: ``IMailingList.bounces_address``, the envelope and From of the notices it sends members
#: and posters; src: GNU Mailman 3.3.10, mailman/model/mailinglist.py ``bounces_address`` and
#: mailman/app/notifications.py ``send_user_disable_warning``), also in its VERP form
#: ``<list>-bounces+<member>@``.
LIST_BOUNCES = lazy(r"^[^@\s]+-bounces(?:\+[^@\s]*)?@", re.IGNORECASE)

#: Subjects bounces use, across vendors and languages (Courier's: "NOTICE: mail
#: delivery status.", its courierdsn documentation). Japanese ISPs' notices say
#: "配信エラー" / "配送エラー" (delivery error), Korean ones "발송 실패" (sending
#: failed) or "반송" (returned), Russian ones "Недоставленное сообщение" (Yandex) or
#: "не доставлено" (not delivered); only a notice's envelope makes any of them count.
BOUNCE_SUBJECTS = lazy(
    r"undeliver|undelivered|returned (?:mail|to sender)|delivery (?:status )?notification \((?:failure|delay)"
    r"|^notice: mail delivery status"
    r"|delivery (?:failure|failed|problem|report)|failure notice|mail delivery (?:failed|failure|system|error)"
    r"|non[- ]?deliver|could not (?:be )?deliver|delivery (?:has )?failed|not (?:be )?delivered|warning: could not"
    r"|mail system error|rejected|bounce|unzustellbar|non remis|no entregado|non recapitabile|返送|不達|退信"
    r"|配信エラー|配送エラー|발송 ?실패|반송|недоставленн|не доставлен"
    # src: grommunio/gromox local bounce templates' subjects: "投递失败，收件人不存在" (gb2312), "投遞失敗" (big5)
    r"|投递失败|投遞失敗",
    re.IGNORECASE,
)


#: The subject wording of MTAs' and servers' own notices, which people do not
#: write in a reply: Exchange / Outlook "Undeliverable:" and its translations
#: ("Unzustellbar:", "Non remis :", "No entregado:", "Non recapitabile:"),
#: sendmail "Returned mail:", Exim "Mail delivery failed", qmail "failure
#: notice", Gmail "Delivery Status Notification (Failure)".
NDR_SUBJECTS = lazy(
    r"undeliverable|returned mail|mail delivery (?:failed|failure)|failure notice|delivery status notification"
    r"|non[- ]?delivery|unzustellbar|non remis|no entregado|non recapitabile",
    re.IGNORECASE,
)

#: Reply and forward prefixes a person's mail program puts before a subject:
#: "Re:" (RFC 5322 section 3.6.5) and "Fwd:"/"Fw:", and the localised forms
#: that Outlook, Thunderbird and Apple Mail write (AW/WG German, TR French,
#: SV/VS Nordic, RV/RIF Spanish/Italian, Antw/Doorst Dutch, Odp/PD Polish,
#: Vá/Továbbítás Hungarian).
REPLY_PREFIX = lazy(r"^\s*(?:re|aw|sv|rv|antw|odp|vá|ответ|回复|답장)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
FORWARD_PREFIX = lazy(r"^\s*(?:fwd?|wg|tr|vs|rif|doorst|pd|továbbítás|転送)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)


def bounce_envelope(msg: Message) -> bool:
    """A null return path, Exim's ``X-Failed-Recipients`` or a daemon-ish sender.

    A daemon's *address* (MAILER-DAEMON@, postmaster@) is one. A daemon's
    *name* on another address ("Mail Delivery System" <mailer@...>) is one
    unless the return path shows a person's or a program's envelope: RFC 5321
    section 4.5.5 sends every notice from the null path (MAILER-DAEMON where
    a relay wrote it back), and phishing that copies the name keeps its own.
    A mailing list's ``Sender:`` is its bounce address (Mailman's
    "<list>-bounces@", RFC 2369 list headers beside it), not a notice's,
    unless the subject is an MTA's own. Asked by several stages: worked out
    once per message.
    """
    return m.memoized(msg, "bounce_envelope", _bounce_envelope)


def _bounce_envelope(msg: Message) -> bool:
    return_path = m.header(msg, "Return-Path").strip()
    if return_path in ("<>", "< >", "MAILER-DAEMON", "<MAILER-DAEMON>"):
        return True
    if m.header(msg, "X-Failed-Recipients"):
        return True
    sender = m.header(msg, "From")
    # a list's post keeps its list headers; a notice about one (Exchange's "Non-Delivery:" of a list's
    # mail, which copies them) has an MTA's own subject
    listed = (m.header(msg, "List-Id") or m.header(msg, "List-Post") or m.header(msg, "List-Unsubscribe")) \
        and not NDR_SUBJECTS.search(m.header(msg, "Subject"))
    address = m.address_of(sender) or ""
    # the list manager's own notices (Mailman's "Your subscription ... has been disabled") come from
    # and return to the list's bounce address, with the list headers: the list's, not a notice's
    list_notice = bool(listed) and bool(LIST_BOUNCES.search(address))
    if (BOUNCE_SENDERS.search(address) and not list_notice) or "<@>" in sender:
        return True
    named = (BOUNCE_SENDERS.search(sender) and not list_notice) \
        or (not listed and BOUNCE_SENDERS.search(m.header(msg, "Sender")))
    if not named:
        return False
    return not return_path or bool(BOUNCE_SENDERS.search(return_path))


#: Subjects of a filter's digest of mail it holds *for* this mailbox (messages sent to us,
#: not ours returned): Barracuda Email Security Service "Quarantine Notification",
#: Mimecast "Hold Summary", Proofpoint "End User Digest", Microsoft 365 quarantine
#: notifications ("You have messages in quarantine"), Sophos and Trend Micro "Quarantine
#: Summary" / "Spam Quarantine Digest".
DIGEST_SUBJECTS = lazy(
    r"quarantine (?:notification|summary|digest|report)|spam quarantine|hold summary|messages? (?:on|in) hold"
    r"|end user digest|messages? in quarantine|quarantined messages? (?:summary|report)",
    re.IGNORECASE,
)


def is_quarantine_digest(msg: Message) -> bool:
    """A filter's digest of the mail it holds for this mailbox: the addresses it lists
    sent mail *to* us, none of ours failed."""
    return bool(DIGEST_SUBJECTS.search(m.header(msg, "Subject")))


#: Outlook's and Exchange's reports on a recall the sender asked for ("Recall Success: <subject>",
#: "Message Recall Failure: <subject>", Exchange Online's cloud recall "Message recall report for
#: message: <subject>"; src: Microsoft support, "Recall or replace an email message that you sent").
#: They say whether a delivered copy could be taken back: "Failed: the message has already been
#: read" names a recipient whose delivery succeeded.
RECALL_SUBJECTS = lazy(r"^\s*(?:message )?recall (?:success|failure|report)\b", re.IGNORECASE)


def is_recall_report(msg: Message) -> bool:
    """A report on a message recall: about delivered copies, never a delivery failure."""
    return bool(RECALL_SUBJECTS.search(m.header(msg, "Subject")))


def is_person_mail(msg: Message) -> bool:
    """A person's reply or forward, or a mailing list's copy of a post.

    Such mail may quote a whole bounce ("Fwd: Returned mail") or talk about
    one; its own envelope carries no bounce signal, and its subject prefix,
    list headers (RFC 2919 List-Id, RFC 2369 List-Post, List-Unsubscribe of
    bulk mail), the mail program it names or its quoting say what it is.
    A reply prefix before an NDR's own subject wording is a gateway's, not
    a person's ("RE: ... : non remis").
    """
    if bounce_envelope(msg):
        return False
    if m.header(msg, "List-Id") or m.header(msg, "List-Post") or m.header(msg, "List-Unsubscribe"):
        return True  # a list's post, or bulk mail (RFC 2369 List-Unsubscribe): never a notice of ours
    if PERSON_MAILER.search(m.header(msg, "X-Mailer") or m.header(msg, "User-Agent")):
        return True
    subject = m.header(msg, "Subject")
    if FORWARD_PREFIX.match(subject):
        return True
    if not REPLY_PREFIX.match(subject):
        return False
    return not NDR_SUBJECTS.search(subject) or bool(QUOTED_REPLY.search(m.body_text(msg)[:20_000]))


#: The mail programs people write with, as they name themselves in ``X-Mailer`` /
#: ``User-Agent``: Apple Mail ("Apple Mail (2.3774...)", "iPhone Mail (...)"), Thunderbird
#: ("Mozilla Thunderbird"), Outlook ("Microsoft Outlook 16.0", "Microsoft-MacOutlook"),
#: Mutt, Roundcube ("Roundcube Webmail/1.6"), Evolution, KMail, K-9 Mail, Claws Mail.
#: A mail system's notice names no such program (and its envelope is checked first).
PERSON_MAILER = lazy(
    r"^\s*(?:apple mail|iphone mail|ipad mail|mozilla thunderbird|microsoft outlook|microsoft-macoutlook|mutt/"
    r"|roundcube webmail|evolution \d|kmail/|k-9 mail|claws mail)",
    re.IGNORECASE,
)


#: A person's reply quoting what it answers: the attribution line a mail program writes
#: above the quote, then lines quoted with ">" (RFC 3676 4.5). Thunderbird, Gmail and Apple
#: Mail write "On <date>, <name> wrote:", localised as "Am ... schrieb ...:" (German),
#: "Le ... a écrit :" (French), "El ... escribió:" (Spanish), "Il ... ha scritto:" (Italian),
#: "Op ... schreef ...:" (Dutch). A gateway's "RE: ...: non remis" notice has neither.
QUOTED_REPLY = lazy(
    r"^(?:on\b.{1,200}\bwrote|am\b.{1,200}\bschrieb\b.{0,120}|le\b.{1,200}\ba (?:é|e)crit ?|el\b.{1,200}\bescribi(?:ó|o)"
    r"|il\b.{1,200}\bha scritto|op\b.{1,200}\bschreef\b.{0,120}):[ \t]*\r?\n(?:[ \t]*\r?\n)?>.*\r?\n>",
    re.IGNORECASE | re.M,
)


def looks_like_bounce(msg: Message) -> bool:
    """True when the envelope or headers say "this is a bounce".

    Any of: a null return path, a daemon-ish sender, Exim's
    ``X-Failed-Recipients`` header, or a bounce-ish subject on mail that is
    not a person's reply or forward nor a list's copy of a post
    (:func:`is_person_mail`).
    """
    if bounce_envelope(msg):
        return True
    if is_person_mail(msg):
        return False
    return bool(BOUNCE_SUBJECTS.search(m.header(msg, "Subject")) or NDR_SUBJECTS.search(m.header(msg, "Subject")))


def written_by_a_mailer(msg: Message, body: str) -> bool:
    """Structure that only a mail system's notice has: a bounce envelope (a null return
    path, ``X-Failed-Recipients``, a daemon sender), the returned original (a message
    part, or a marker where its copy starts), or a server's own words (an RFC 3463
    status or an SMTP reply code) under an MTA's own subject (:data:`NDR_SUBJECTS`).

    A bounce-like subject alone is not enough: a shop's "Delivery failed? Track your
    parcel" or a newsletter about undeliverable mail has one too. The plain-text
    reader, which takes any address near failure words, asks for this (flufl.bounce's
    detectors look for their formats' own layouts).
    """
    from bounceledger.ingest.bounces.detectors._common import notice, quotes_original  # local: an import cycle

    if bounce_envelope(msg) or returned_headers(msg) is not None or quotes_original(body):
        return True
    if not NDR_SUBJECTS.search(m.header(msg, "Subject")):
        return False  # a server's code pasted into a newsletter or a person's question is no notice
    text = notice(body)
    return find_status(text) is not None or find_replycode(text) is not None


def _flufl_failures(msg: Message) -> tuple[set[str], set[str]]:
    if not _flufl.AVAILABLE:  # the heuristic stage is optional
        return set(), set()
    try:
        temporary, permanent = _flufl.all_failures(msg)
    except Exception:
        return set(), set()
    decode = lambda items: {  # noqa: E731
        # flufl.bounce keeps what surrounds an address in the text: angle brackets, single quotes
        (a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)).strip().strip("<>'\"").lower()
        for a in items
        if a
    }
    return decode(temporary), decode(permanent)


def _context_for(address: str, body: str) -> str:
    """The bounce's words about ``address`` (see detectors.plaintext)."""
    from bounceledger.ingest.bounces.detectors._common import notice
    from bounceledger.ingest.bounces.detectors.plaintext import _context

    lines = notice(body).splitlines()
    for index, line in enumerate(lines):
        if address in line.lower():
            return _context(lines, index, address)
    return ""


def _only_in_quoted_headers(address: str, lines: list[str]) -> bool:
    from bounceledger.ingest.bounces.detectors._common import quoted_header_line  # local: avoid an import cycle

    at = [i for i, line in enumerate(lines) if address in line.lower()]
    return bool(at) and all(quoted_header_line(lines, i) for i in at)


def _lists_recipients(lines: list[str], own: set[str]) -> bool:
    """The notice names an address outside a quoted header block: not one of its own, nor a role
    mailbox it points people to ("write to postmaster@")."""
    from bounceledger.ingest.bounces.detectors._common import quoted_header_line  # local: avoid an import cycle

    return any(
        not quoted_header_line(lines, i) and any(
            (found := m.address_found(a.group(0))) not in own
            and found.split("@", 1)[0] not in m.ROLE_LOCAL_PARTS
            for a in m.ADDRESS_RE.finditer(line))
        for i, line in enumerate(lines) if "@" in line
    )


def verdicts(msg: Message, keys: Keys, body: str, own_addresses: set[str] | None = None) -> list[Verdict]:
    """Verdicts for the addresses flufl.bounce finds in a bounce-looking message."""
    if not looks_like_bounce(msg):
        return []
    temporary, permanent = _flufl_failures(msg)
    own = {a.lower() for a in (own_addresses or set())}
    found: list[Verdict] = []
    from bounceledger.ingest.bounces.detectors._common import notice as notice_of  # local: avoid an import cycle

    notice = notice_of(body)
    candidates = {a for a in permanent | temporary if "@" in a and a not in own}
    # Where the notice lists recipients of its own, an address it names only on the To:/Cc: line
    # of a header block it quotes (Oracle's "a message you sent with the following header
    # fields") is a recipient of the message, not one it says failed. A notice that names
    # nobody else (Yahoo's "Subject: ... To: <the failed address>") means that one.
    lines = notice.splitlines()
    quoted_only = {a for a in candidates if _only_in_quoted_headers(a, lines)}
    if quoted_only and _lists_recipients(lines, own):
        candidates -= quoted_only
    failed = sorted((address, address not in permanent) for address in candidates)
    for address, is_temporary in failed:
        context = _context_for(address, body) or None
        # The notice's other words may say why *another* recipient failed
        # (Exim lists each address with its own reason, and "retry timeout
        # exceeded" carries no code): with several recipients, a recipient
        # with words of its own is read from those alone.
        extra_text = notice[:4000] if len(failed) == 1 or not context else None
        result = classify(None, None, context, None, action="delayed" if is_temporary else None,
                          extra_text=extra_text)
        found.append(
            Verdict(
                kind="delay" if is_temporary else "bounce",
                recipient=address,
                reason=result.reason,
                hardbounce=result.hardbounce and not is_temporary,
                category=result.category,
                action="delayed" if is_temporary else "failed",
                status=result.status,
                replycode=result.replycode,
                diagnostic=context,
                original_message_id=keys.original_message_id,
                envelope_id=keys.envelope_id,
                next_hop_queue_id=keys.next_hop_queue_id,
                return_path_token=keys.return_path_token,
                detector="flufl",
            )
        )
    return found
