"""Auto-replies (vacation, out-of-office): recorded, never treated as bounces.

RFC 3834 ``Auto-Submitted: auto-replied`` is the standard marker, but the
same RFC (section 2) lets every automatic response carry it, and Postfix,
Exim and others put it on their bounces and delay warnings. So the header
proves "automatic", not "vacation": a message is only an auto-reply when
no bounce signal is present (:func:`bounce_signal`), and this module is
consulted after the DSN and bounce detectors have declined the message.
Vendors' own headers and subject lines catch the rest.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.bounces.heuristic import BOUNCE_SENDERS, REPLY_PREFIX
from bounceledger.ingest.bounces.returned import Keys
from bounceledger.ingest.records import Verdict

#: (header, value pattern) pairs that mark an automatic reply.
AUTOREPLY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Auto-Submitted", r"^auto-replied"),
    ("X-Autoreply", r"."),
    ("X-Autorespond", r"."),
    ("X-Autoresponder", r"."),
    ("X-Auto-Reply", r"."),
    ("Precedence", r"^auto[_-]reply"),
    ("X-Vacation", r"."),
    ("X-Mail-Autoreply", r"."),
    ("X-Ms-Exchange-Inbox-Rules-Loop", r"."),  # Exchange rule auto-replies
)

#: Outlook's and Exchange's "Automatic reply:" subject prefix in the languages not spelled out
#: beside the others below (src: Microsoft's localised names of Automatic Replies in Outlook and
#: Microsoft Graph's mailboxSettings pages: zh-CN "自动答复", ko "자동 회신", tr, cs, sk, hu, el,
#: he, ar, uk, ro, hr/sr, sl, bg, vi, th, id, et, lv, lt, ca), and Exchange 2003's "Out of Office
#: AutoReply:".
_OUTLOOK_AUTOMATIC_REPLY = (
    r"automatick(?:á|a) odpove(?:ď|d)|otomatik yan(?:ı|i)t|自动答复|자동 회신|תשובה אוטומטית|رد تلقائي"
    r"|αυτόματη απάντηση|automatikus v(?:á|a)lasz|автоматична відповідь|r(?:ă|a)spuns automat"
    r"|automatski odgovor|samodejni odgovor|автоматичен отговор|tr(?:ả|a) l(?:ờ|o)i t(?:ự|u) (?:độ|do)ng"
    r"|ตอบกลับอัตโนมัติ|balasan otomatis|automaatvastus|autom(?:ā|a)tisk(?:ā|a) atbilde|automatinis atsakymas"
    r"|resposta autom(?:à|a)tica|out of office autoreply"
)

#: Subject phrases of out-of-office replies, in several languages.
VACATION_SUBJECTS = lazy(
    r"out of (?:the )?office|auto(?:matic|mated)?[ -]?(?:reply|response|answer)|autoreply|vacation|away from"
    r"|\baway until\b|on leave|on holiday|abwesenheit|automatische antwort|nicht im b(?:ü|ue)ro"
    r"|r(?:é|e)ponse automatique|absence|absent|en cong(?:é|e)s?"
    r"|respuesta autom(?:á|a)tica|fuera de (?:la )?oficina|ausente|vacaciones"
    r"|risposta automatica|fuori (?:sede|ufficio)|assente"
    r"|resposta autom(?:á|a)tica|aus(?:ê|e)ncia|fora do escrit(?:ó|o)rio|f(?:é|e)rias"
    r"|automatisch antwoord|afwezig|niet aanwezig"
    r"|autosvar|fr(?:å|a)nvar|fravær|frav(?:æ|ae)rende|poissa|automaattinen vastaus"
    r"|nieobecno(?:ść|sc)|automatyczna odpowied(?:ź|z)|automatick(?:á|a) odpov(?:ěď|ed)"
    r"|автоответ|автоматический ответ|отсутств|отпуск"
    r"|自動応答|自動返信|不在|自动回复|自動回覆|休假|부재|자동 응답"
    # Outlook / Exchange "Automatic reply" in the other languages it ships: _OUTLOOK_AUTOMATIC_REPLY
    r"|" + _OUTLOOK_AUTOMATIC_REPLY,
    re.IGNORECASE,
)

#: Subjects that say "bounce", which an auto-reply must not.
_BOUNCE_SUBJECT = lazy(
    r"undeliver|delivery (?:status )?notification|returned mail|mail delivery|failure notice|delivery fail"
    r"|non[- ]?delivery|could not be delivered",
    re.IGNORECASE,
)


#: The prefix an automatic responder writes before the subject it answers:
#: RFC 5230 (Sieve vacation) section 4.1 "Auto:", Outlook / Exchange
#: "Automatic reply:" and its translations (the same words as in
#: :data:`VACATION_SUBJECTS`). What follows is the answered message's
#: subject, so bounce words there ("Automatic reply: Delivery failed: your
#: parcel") are a shop's subject, not a bounce's.
AUTOREPLY_PREFIX = lazy(
    r"^\s*(?:auto|autoreply|auto(?:matic|mated)?[ -]?(?:reply|response|answer)|out of (?:the )?office(?: reply)?"
    r"|automatische antwort|abwesenheitsnotiz|r(?:é|e)ponse automatique|respuesta autom(?:á|a)tica"
    r"|risposta automatica|resposta autom(?:á|a)tica|automatisch antwoord|autosvar|automatisk svar"
    r"|automaattinen vastaus|automatyczna odpowied(?:ź|z)|odpowied(?:ź|z) automatyczna"
    r"|автоматический ответ|автоответ|自動応答|自動返信|自动回复|自動回覆|자동 응답"
    r"|automatick(?:á|a) odpov(?:ěď|ed)|" + _OUTLOOK_AUTOMATIC_REPLY + r")\s*[:：]",  # CJK input writes the full-width colon
    re.IGNORECASE,
)


#: Subjects of MTAs' delay warnings: Exim's default warn message
#: ("Warning: message <id> delayed <time>", exim spec "delay_warning") and
#: Postfix's / sendmail's "Delayed Mail (still being retried)" /
#: "Warning: could not send message for past <n> hours".
_DELAY_SUBJECT = lazy(
    r"^warning: message \S+ delayed\b|delayed mail \(still being retried\)|warning: could not send message",
    re.IGNORECASE,
)


def bounce_signal(msg: Message) -> str | None:
    """What says this message is a bounce or delay notice, or ``None``.

    Structure only, no reading of the body's prose: Exim's
    ``X-Failed-Recipients`` header, a daemon sender, a report-type
    ``delivery-status`` content, or a bounce or delay-warning subject. Any
    of these rules out an auto-reply, whatever ``Auto-Submitted`` says.
    """
    if m.header(msg, "X-Failed-Recipients"):
        return "X-Failed-Recipients"
    sender = m.header(msg, "From")
    # the senders that only ever write bounces (an out-of-office reply comes from a person)
    if BOUNCE_SENDERS.search(sender) or BOUNCE_SENDERS.search(m.header(msg, "Sender")):
        return "daemon sender"
    if "delivery-status" in m.header(msg, "Content-Type").lower():
        return "delivery-status report"
    subject = m.header(msg, "Subject")
    if (_BOUNCE_SUBJECT.search(subject) or _DELAY_SUBJECT.search(subject)) and not _answers_a_subject(msg, subject):
        return "bounce subject"
    return None


def _answers_a_subject(msg: Message, subject: str) -> bool:
    """The subject opens with an auto-reply's prefix, or with a reply's ("Re:", as Gmail's
    vacation responder writes it) on an automatic response to a message: what follows
    is the answered message's subject, whatever words it holds."""
    return (bool(AUTOREPLY_PREFIX.search(subject)) or _prefixed_topic(msg, subject)
            or (bool(REPLY_PREFIX.match(subject)) and _automatic_response(msg)))


def _prefixed_topic(msg: Message, subject: str) -> bool:
    """Exchange and Outlook write the conversation's subject in ``Thread-Topic`` (MS-OXOMSG
    PidTagConversationTopic: the subject without its prefix) on every message, an NDR's and an
    out-of-office reply's alike. Where the subject is a prefix followed by that topic, the
    bounce words in the topic belong to the answered message, whatever language the prefix is
    in; an NDR keeps its own words in the prefix ("Undeliverable: <topic>")."""
    topic = m.header(msg, "Thread-Topic").strip()
    if not topic or not subject.endswith(topic):
        return False
    prefix = subject[: -len(topic)].strip()
    return bool(prefix) and prefix.endswith((":", "：")) and not (
        _BOUNCE_SUBJECT.search(prefix) or _DELAY_SUBJECT.search(prefix))


def is_autoreply(msg: Message) -> bool:
    """True for RFC 3834 / vendor-marked or vacation-subject replies, and
    automatic responses to a message (:func:`_automatic_response`), that
    carry no bounce signal."""
    subject = m.header(msg, "Subject")
    if bounce_signal(msg) or m.content_type(msg) == "multipart/report":
        # a report (a read receipt, a complaint, a status) is never a vacation reply,
        # whatever its headers: RFC 8098 section 2.1 sends every read receipt from
        # the null return path, which alone would make it look automatic here
        return False
    for name, pattern in AUTOREPLY_HEADERS:
        value = m.header(msg, name)
        if value and re.search(pattern, value, re.IGNORECASE):
            return True
    return bool(VACATION_SUBJECTS.search(subject)) or _automatic_response(msg)


#: ``Precedence`` values that automatic responders write on their replies and a person's mail
#: program never does: vacation(1)'s documented ``.vacation.msg`` carries ``Precedence: bulk``
#: (src: vacation(1) man page, Debian package vacation 3.3.3), procmail's autoreply recipes add
#: ``Precedence: junk`` with ``formail -r -I"Precedence: junk"`` (src: procmailex(5), procmail
#: 3.22), Pigeonhole's Sieve vacation writes ``Precedence: bulk`` (src: Dovecot Pigeonhole
#: 0.5.19, seen here). Neither writes ``Auto-Submitted``.
_RESPONDER_PRECEDENCE = lazy(r"^\s*(?:bulk|junk)\s*$", re.IGNORECASE)


def _automatic_response(msg: Message) -> bool:
    """A response to a message (``In-Reply-To`` or ``References``, RFC 3834
    section 3.1.5) that says it was sent by a program: any ``Auto-Submitted``
    but "no" (section 5; responders such as help desks' acknowledgements
    write "auto-generated" where "auto-replied" is meant), or a null return
    path (section 3.3: responders send with ``MAIL FROM:<>``, which a
    person's mail program never does), or a ``Precedence: bulk``/``junk`` that
    responders write (:data:`_RESPONDER_PRECEDENCE`). Without ``In-Reply-To``
    (vacation(1) writes none) a null return path with such a Precedence is
    needed. Checked after every bounce reader has declined the message and
    with no bounce signal present."""
    null_path = m.header(msg, "Return-Path").strip() in ("<>", "< >")
    responder_precedence = bool(_RESPONDER_PRECEDENCE.search(m.header(msg, "Precedence")))
    if not (m.header(msg, "In-Reply-To") or m.header(msg, "References")):
        # vacation(1) writes no In-Reply-To: its null-path (-z) reply with the documented
        # Precedence is still a program's answer
        return null_path and responder_precedence
    if responder_precedence:
        return True
    submitted = m.header(msg, "Auto-Submitted").strip().lower()
    if submitted and not submitted.startswith("no"):
        return True
    return null_path


def verdicts(msg: Message, keys: Keys) -> list[Verdict]:
    """One ``autoreply`` verdict for the person who is away, or nothing."""
    if not is_autoreply(msg):
        return []
    sender = m.address_of(m.header(msg, "From")) or m.address_of(m.header(msg, "Reply-To"))
    return [
        Verdict(
            kind="autoreply",
            recipient=sender,
            reason="vacation",
            hardbounce=False,
            category="other",
            diagnostic=m.header(msg, "Subject") or None,
            original_message_id=keys.original_message_id
            or _in_reply_to(msg),
            return_path_token=keys.return_path_token,
            detector="autoreply",
        )
    ]


def _in_reply_to(msg: Message) -> str | None:
    """Auto-replies quote the original Message-ID in In-Reply-To."""
    value = m.header(msg, "In-Reply-To") or m.header(msg, "References")
    match = re.search(r"<([^<>\s]+)>", value)
    return match.group(1) if match else None
