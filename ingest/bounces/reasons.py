"""The rule tables behind :mod:`bounceledger.ingest.bounces.classify`.

Everything here is data: read top to bottom, first match wins. To teach the
classifier a new phrase, add a row next to its siblings and a test with a
sample that shows it. Patterns are case-insensitive and matched against the
unfolded diagnostic text (and, for non-DSN bounces, the explanation text).

Reason names are Sisimai's; categories are PowerMTA's 17 bounce categories.

Every rule says where its wording comes from. The convention, checked by
``tests/bounces/test_rule_sources.py``: each row of the rule tables
(``_TEXT_RULES``, ``_STRONG_TEXT_RULES``, ``_HOST_RULES``, ``STATUS_REASONS``,
``REPLY_REASONS``) carries a ``# src: ...`` comment, either at the end of the
row's first line or in the block of comment lines directly above the row.
The source is an RFC (with its words), a provider's published error list, or
an MTA's documented message or source text; a sample in a test corpus is
not a source. A row that only one corpus message supports does not belong
here.
"""

from __future__ import annotations

import re

# ---------------------------------------------------------------------------
# 1. Diagnostic text → reason. Ordered: the more specific a phrase, the
#    earlier its row. Remote servers say "rejected" about everything, so the
#    generic phrases come last.
# ---------------------------------------------------------------------------
_TEXT_RULES: tuple[tuple[str, str], ...] = (
    # The sender's own sending quota ("quota exceeded" said of the sender, not the recipient's mailbox).
    # src: Google Workspace SMTP errors 550 5.4.5 "Daily user sending limit exceeded", "Daily SMTP relay
    # limit exceeded"; Exchange Online sending limits "554 5.2.0 STOREDRV.Submission.Exception:
    # SubmissionQuotaExceededException" (the sending account's daily limit)
    (r"daily (?:user )?sending (?:quota|limit) exceeded|daily smtp relay (?:sending )?limit exceeded"
     r"|(?:sending|submission) (?:quota|limit) (?:has been |was )?exceeded|submissionquotaexceeded"
     # src: Gmail 421 4.7.28 "Gmail has detected this sender exceeded the quota for sending messages that have the same Message-ID:"
     r"|exceeded the quota for sending messages",
     "speeding"),
    # The recipient's mailbox is full.
    # src: RFC 3463 X.2.2 "Mailbox full" (a per-mailbox quota or capacity); RFC 5321 552 "exceeded storage
    # allocation"; Gmail "The email account that you tried to reach is over quota"; Microsoft 5.2.2 "mailbox
    # full"; Dovecot LDA/LMTP quota_exceeded_message "Quota exceeded (mailbox for user is full)"; Exim appendfile
    # "mailbox is full (MTA-imposed quota exceeded ...)"; Courier maildrop "maildir over quota"; EDQUOT strerror
    # "Disk quota exceeded"; "Mailbox quota usage exceeded" (the X.2.2 quota meaning, "usage" worded)
    (r"mailbox (?:is |was )?full|mailbox full|full mailbox|over ?quota|quota (?:usage )?(?:exceeded|exceed|full)"
     r"|exceeded (?:storage|(?:his|her|their|the) (?:mailbox )?quota)|exceeds? (?:the )?(?:mailbox )?quota"
     r"|insufficient (?:mailbox )?quota|mailbox size limit|mailbox (?:has )?exceeded|disk quota"
     r"|not enough (?:storage|space) (?:for|in) (?:the )?(?:user|mailbox)|user(?:'s)? (?:mailbox|disk) (?:is )?full"
     r"|too much mail data|storage limit (?:exceeded|reached)|mail ?box is over|mailfolder is full"
     r"|maildir (?:over|exceeded)|account is full|is over (?:the )?(?:storage|size) (?:allocation|limit)"
     # src: Google Workspace "SMTP error reference": 452 4.2.2 / 552 5.2.2 "The recipient's inbox is out of
     # storage space" (the recipient's mailbox, not the system's disk of the systemfull row)
     r"|(?:inbox|mailbox) is out of (?:storage|space)"
     # src: GMX help, "Email returned as undeliverable": "User has too many messages on server" means the
     # recipient's account has run out of space (WEB.DE, its sister service: "User has exhausted allowed
     # storage space"); Microsoft support on Exchange's "MapiExceptionMaxObjsExceeded" (a folder of the
     # recipient's mailbox reached its item limit) and "MapiExceptionShutoffQuotaExceeded" (the mailbox is
     # over its prohibit-receive quota)
     r"|too many messages on (?:the )?server|exhausted (?:the )?allowed storage|mapiexception(?:maxobjs|shutoffquota|quota)exceeded"
     # src: QQ Mail help "退信原因" (qqmailbox.com/transceivers/169.html): "收件人空间不足" (the recipient's
     # space is not enough)
     r"|收件人空间不足"
     # src: grommunio/gromox local bounce templates (data/local_bounce/<charset>/BOUNCE_MAILBOX_FULL):
     # "因为收件人邮箱已满" (gb2312), "因為收件人郵箱已滿" (big5), "受信者のメールボックスが一杯" (euc-jp, shift-jis)
     r"|(?:邮箱|郵箱)已(?:满|滿)|メールボックスが一杯",
     "mailboxfull"),
    # The message itself is too big.
    # src: RFC 3463 X.3.4 "Message too big for system"; RFC 1870 (SIZE) 552 "message size exceeds fixed
    # maximum message size"; Postfix cleanup "552 5.3.4 Message size exceeds fixed limit"; qmail-smtpd "sorry,
    # that message size exceeds my databytes limit"; emersion go-smtp "552 5.3.4 Max message size exceeded";
    # Exim "message too big"; Microsoft 5.3.4 "Message size exceeds fixed maximum message size"
    (r"message (?:is )?too (?:large|big)|message size exceeds|size (?:of (?:the )?message )?exceeds (?:the )?(?:maximum|fixed|size)"
     r"|exceeds (?:the )?(?:maximum|max) (?:allowed )?(?:message )?size|message file (?:exceeds|too big)"
     r"|message exceeds (?:local |the )?(?:size|maximum)|mail size limit|size limit exceeded|too big for (?:the )?system"
     r"|max(?:imum)? message size exceeded"
     # src: Dovecot quota plugin (src/plugins/quota/quota.c, quota_max_mail_size, doc.dovecot.org/2.3/settings/plugin/quota-plugin/):
     # "Mail size is larger than the maximum size allowed by server configuration"
     r"|mail size is larger than the maximum size"
     # src: Gmail 552 5.3.4 "The number of attachments (num) exceeds Google's limit of N attachments"
     r"|number of attachments \(\d+\) exceeds",
     "mesgtoobig"),
    # src: RFC 3463 X.2.3 "Message length exceeds administrative limit", X.5.3 "Too many recipients";
    # RFC 5321 4.5.3.1.10 "452 Too many recipients"; Exchange "552 5.3.4 Header size exceeds fixed maximum size"
    # src: Google Workspace 452 4.5.3 "Domain policy size per transaction exceeded, please try this recipient in a separate transaction"
    (r"header (?:size )?exceeds|too many recipients|recipient limit|exceeded (?:the )?(?:message|recipient) limit"
     r"|policy size per transaction exceeded",
     "exceedlimit"),
    # src: Postfix local(8)/pipe(8) "Command died with status N ... Command output:"; Exim "pipe to |<command>"
    # transport errors; sendmail deliver.c "unknown mailer error N"; procmail as the local delivery agent
    (r"procmail|command died with status|command output:|pipe to \||unknown mailer error"
     # src: Exim transports/pipe.c "Child process of %s transport returned %d%s from command: %s"
     r"|child process of \S+ transport returned", "mailererror"),
    # src: RFC 5322 3.6 (fields that may occur once) and 2.1.1 (998-character lines); amavisd-new
    # "Message content rejected"
    (r"multiple (?:addresses|senders) in (?:the )?from|not rfc ?5322 compliant|missing (?:a )?(?:valid )?(?:message-id|date)"
     r"|must be rfc ?5322 section [\d.]+ compliant"
     # src: Gmail 550 5.7.1 "Messages missing a valid address in the From: header, or having no From: header, are
     # not accepted"; "Encoded-word syntax is not permitted in message header <name>"
     r"|missing a valid address in the from:? header|encoded-word syntax is not permitted",
     "notcompliantrfc"),
    # src: RFC 5322 3.6 (fields that may occur once) and 2.1.1 (998-character lines); amavisd-new "Message content
    # rejected" (not Telstra/BigPond's "558 5.7.1 Message content rejected due to suspected spam", a spam verdict)
    (r"duplicate header|message content rejected(?!.{0,40}\bspam)|header (?:line )?too long|headers? (?:are |is )?too large", "contenterror"),
    # src: Gmail SMTP errors 550 5.7.1 "Messages with multiple addresses in From: header are not accepted",
    # "This message is not RFC 5322 compliant", "Messages missing a valid Message-ID header are not accepted";
    # Exchange Online NDR 5.7.512 "Access denied, message must be RFC 5322 section 3.6.2 compliant" (a From
    # header is required: before the block rows, whose "access denied" it also says)
    # Accounts that exist but cannot receive.
    # src: RFC 3463 X.2.1 "Mailbox disabled, not accepting messages"; RFC 5248 X.7.13 "User Account Disabled";
    # Gmail 550 5.2.1 "The email account that you tried to reach is disabled"; Yahoo 554 "delivery error: dd
    # This account has been disabled or discontinued"; Microsoft 5.2.1 "mailbox disabled"; Verizon "550 4.2.1 mailbox
    # temporarily disabled: <address>" (RFC 3463 X.2.1, said with a 550)
    # src: Coremail bounce-hint list (icoremail.vip support) "This account has been temporarily suspended"
    (r"account (?:has been |is |was )?(?:temporarily )?(?:disabled|suspended|deactivated|inactive|locked|frozen|closed|expired)"
     r"|mailbox (?:has been |is |was )?(?:temporarily )?(?:disabled|suspended|deactivated|inactive|locked|frozen|closed)"
     r"|user (?:account )?(?:is |was )?(?:disabled|suspended|deactivated|inactive)|inactive (?:user|account|mailbox)"
     r"|(?:disabled|suspended|deactivated|dormant) (?:user|account|mailbox|recipient)|not an active (?:user|account|address)"
     r"|recipient (?:is |was )?(?:disabled|suspended|inactive)|this account has been disabled or discontinued"
     r"|(?:mailbox|address|account) (?:is )?(?:temporarily )?unavailable for (?:delivery|receiving)|is no longer active"
     r"|(?:user|account|mailbox|recipient)\b.{0,60}\b(?:temporar(?:y|ily) )?locked\b"
     # au (KDDI): "The user(s) account is temporarily limited." (service stopped)
     r"|account is temporarily limited"
     # src: AT&T postmaster (rbl.att.net): "550 [suspend] Mailbox currently suspended--Please contact
     # correspondent directly"
     r"|mailbox (?:is )?currently suspended",
     "suspend"),
    # src: RFC 3463 X.1.6 "Destination mailbox has moved, No forwarding address"; RFC 5321 551 "User not local;
    # please try <forward-path>"
    (r"has moved|address (?:has )?changed|no longer (?:with|at|works)|user not local; please try|moved permanently"
     # (not Exchange's RESOLVER.FWD.Invalid "The recipient's forwarding address is misconfigured", "misconfigured
     # forwarding address": a broken rule of a live mailbox)
     r"|(?<!misconfigured )forwarding address(?! is misconfigured)|new (?:e-?mail )?address is",
     "hasmoved"),
    # src: Postfix smtpd "554 5.7.1 Relay access denied"; sendmail "550 5.7.1 Relaying denied"; Exim "550 relay
    # not permitted"; qmail-smtpd err_nogateway "553 sorry, that domain isn't in my list of allowed rcpthosts
    # (#5.7.1)"; Microsoft 5.4.1/5.7.54 "Relay Access Denied", "Unable to relay recipients"; Amazon SES sandbox
    # "Email address is not verified"
    (r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed))|not (?:permitted|allowed|authori[sz]ed) to relay"
     r"|unable to relay|we do not relay|relaying (?:is )?(?:prohibited|disallowed|not supported)|no relaying|open relay"
     r"|relay (?:is )?not (?:permitted|allowed)|cannot relay|email address is not verified|relaying mail to .* is not allowed"
     r"|isn.t in my list of allowed rcpthosts"
     # src: Domino SMTP inbound relay controls refuse with "554 Relay rejected for policy reasons.", as its
     # sender controls say "554 Mail from rejected for policy reasons." (IBM Redbook "Lotus Domino 6 spam Survival Guide")
     r"|relay rejected"
     # src: Libero Mail / Virgilio Mail (Italiaonline) help, "Messaggi di errore più frequenti dopo invio email":
     # "RELAYING NOT ALLOWED (550 Relay Disabled)"
     r"|relay(?:ing)? (?:is )?disabled",
     "norelaying"),
    # src: RFC 7505 X.7.27 "Sender address has null MX": the sender's domain takes no mail (so no DSN
    # could return); said of the sender, it is not the recipient's null MX of the row below. RFC 7505 4.2
    # has servers refuse mail *from* a null-MX domain (550 5.7.27): a sentence that names the sender's
    # address or domain and then a null MX ("the sender's domain doesn't publish an MX record or has a null
    # MX record") is about the sender too
    (r"sender(?:'s)? (?:address|domain)\b[^.;]{0,80}\bnull mx", "rejected"),
    # src: RFC 7505 null MX ("a domain that accepts no mail"); RFC 7504 521 "Host does not accept mail", 556
    # "Domain does not accept mail"; Postfix dns_lookup "Domain %s does not accept mail (nullMX)";
    # RFC 3463 X.3.2 "System not accepting network messages". Only the wholesale refusal: "does not accept
    # mail from <an IP, a domain, a sender>" names whose mail is refused, a policy of the rows below, as does
    # Exchange Online NDR 5.7.510 "Access denied, contoso.com does not accept email over IPv4" (it takes mail
    # over the other IP version: a block of that path, not a domain without mail)
    (r"does not accept (?:e-?)?mail(?! from| over ipv[46])|accepts? no (?:e-?)?mail|null mx|not accepting (?:any )?(?:e-?)?mail(?! from)"
     r"|domain (?:has )?(?:a )?null mx|does(?:n.t| not) receive (?:e-?)?mail(?! from)"
     # RFC 3463 X.3.2 "System not accepting network messages", in its own words
     r"|system not accepting network messages",
     "notaccept"),
    # Content a gateway's policy refuses.
    # src: Broadcom KB 162445 "Outbound Mail returned by MAILER-DAEMON@messagelabs.com", "the recipient server
    # finds something suspicious in the message content": "550 5.7.1 Message rejected due to content
    # restrictions", "552 MS-Office file containing VBA macros found inside of the email"
    (r"rejected due to content restrictions|file containing vba macros"
     # src: Gmail "552-5.7.0 Our system detected an illegal attachment on your message" (Sisimai PolicyViolation doc)
     r"|illegal attachment", "policyviolation"),
    # src: Gmail 421/550 4.7.0/5.7.1 "very low reputation of the sending IP address/domain"; Yahoo TSS04
    # "temporarily deferred due to unexpected volume or user complaints"; Outlook.com 4.7.650 "rate limited due
    # to IP reputation"
    # Broadcom Email Security.cloud KB 177117 "IP Address Has a Negative Reputation" (the sending IP's standing)
    (r"\b(?:bad|poor|low|very low|negative) (?:sender |ip |domain )?reputation|reputation (?:is|was) (?:too )?(?:low|poor|bad)"
     r"|\bblocked due to (?:poor|bad) reputation|low reputation of the sending|unexpected volume or user complaints"
     # Outlook.com: "451 4.7.650 The mail server [IP] has been temporarily rate limited due to IP reputation";
     # Broadcom Email Security.cloud: "Message rejected due to sender IP reputation"
     r"|(?:limited|blocked|deferred|rejected) due to (?:\w+ ){0,2}reputation",
     "badreputation"),
    # The sending host was refused for the spam it sent, not for this message.
    # src: Rackspace "Common email bounces": "451 4.3.0 <server[ip]>: Client host rejected: Throttled - Too much
    # spam from your mail server"; Microsoft Learn "Email non-delivery reports and SMTP errors in Exchange
    # Online": 4.7.500-699 "Access denied, please try again later" (suspicious activity seen from the sending
    # IP, restricted while it is evaluated), as in "451 4.7.500 Server busy. Please try again later from [ip]".
    # Below the reputation row, which reads 4.7.650's own words ("rate limited due to IP reputation"), and
    # above the spam row, which would take Rackspace's "spam" for the message's own.
    (r"throttled - too much spam from your mail server|(?<![\d.])4\.7\.[56]\d\d(?!\d)", "blocked"),
    # A DNSBL listing of the connecting client, whatever the list's zone or comment says ("Currently Sending
    # Spam" is the name of a SORBS zone, not a verdict on this message).
    # src: Postfix postconf(5) reject_rbl_client default reply "Service unavailable; Client host [$client_address]
    # blocked using $rbl_domain${rbl_reason?; $rbl_reason}"; SORBS zone "spam.dnsbl.sorbs.net" / "Currently
    # Sending Spam" (the listing comment SORBS returns as TXT)
    (r"client host \[[^\]]*\] blocked using ", "blocked"),
    # src: cPanel's Exim RBL ACL: "550 JunkMail rejected - <host> [<ip>]:<port> is in an RBL: <text>" (the
    # connecting host is on a block list; "JunkMail" names the ACL, not a verdict on this message)
    (r"is in an rbl\b|junkmail rejected - .{0,120}\brbl\b", "blocked"),
    # src: Google Workspace "SMTP error reference", 550 5.7.26: "This message does not have authentication
    # information or fails to pass authentication checks (SPF or DKIM). To best protect our users from spam,
    # the message has been blocked." The cause is the missing authentication; "spam" names what the check
    # guards against (read as one reply once its continuation lines are joined, RFC 5321 4.2.1)
    (r"does not have authentication information|fails to pass authentication checks", "authfailure"),
    # src: RFC 2505 (UBE/UCE); Gmail 550 5.7.1 "likely unsolicited mail", "message is likely spam";
    # Microsoft EOP 5.7.1/5.7.350 "Message rejected as spam by Content Filtering"; SpamAssassin/amavisd-new
    # "spam score"; URIBL/SURBL ("blacklisted URL in message")
    (r"blacklisted (?:url|link|uri|domain) in (?:the )?message|\buribl\b|\bsurbl\b|\bspam\b|spam (?:score|content|message|detected)|\buce\b|unsolicited (?:bulk |commercial )?(?:e-?)?mail"
     r"|junk ?mail|bulk mail|content (?:was )?rejected as|classified as (?:spam|bulk|junk)"
     r"|looks? like spam|rejected (?:as|for) (?:spam|bulk)|spamassassin|identified as spam|spam-?like"
     r"|suspected spam|probable spam|scored? too high|high spam|considered (?:spam|unsolicited)"
     # src: iCloud "550 5.7.1 Your email was rejected due to having a domain present in the Spamhaus DBL" (a domain
     # in the message; Spamhaus DBL lists domains found in message bodies)
     r"|domain present in the spamhaus dbl",
     "spamdetected"),
    # The sending MTA's own TLS requirement for the next hop was not met (its words, with no "TLS" in them),
    # ahead of the SPF/DKIM row below, whose "authentication failed" these are not.
    # src: sendmail 8.17 cf/m4/proto.m4, ruleset tls_server/tls_client (TLS_Srv/TLS_Rcpt in the access map):
    # "454 4.7.0" (TLS_ERRCODE/TLS_DSNCODE) or the map's code with " authentication failed" (VERIFY, the peer's
    # certificate failed verification), " authentication failure <verify>", " no authentication requested",
    # " encryption too weak <bits> less than <required>", "DANE check failed."; Exim 4.96
    # src/transports/smtp.c (hosts_require_dane) "DANE error: <host> lookup not DNSSEC", "DANE error: TLSA lookup
    # not DNSSEC" (RFC 7672 2.2: DANE needs DNSSEC-validated lookups)
    (r"encryption too weak \d+ less than \d+|no authentication requested|dane check failed|\bdane error\b"
     r"|^\s*(?:[45]\d\d[ -])?(?:[45]\.7\.0 )?authentication (?:failed|failure [a-z_]+)\.?\s*$",
     "securityerror"),
    # Authentication of the sender (SPF, DKIM, DMARC, reverse DNS).
    # src: RFC 7372 X.7.25 "Reverse DNS validation failed"; Postfix reject_unknown_client_hostname "Client host
    # rejected: cannot find your hostname"/"cannot find your reverse hostname"; sendmail "IP name lookup
    # failed", "IP name possibly forged"; Gmail 550 5.7.25 "The IP address sending this message does not have
    # a PTR record setup"
    (r"reverse dns|reverse (?:dns )?lookup|\bptr\b|\brdns\b|reverse hostname|cannot find your hostname"
     r"|cannot resolve your (?:address|hostname)|ip name (?:lookup|possibly forged)|no reverse|hostname lookup failed"
     r"|does not have (?:a )?(?:valid )?reverse|mismatches client ip|not have (?:a )?(?:valid )?ptr|resolve (?:the )?ptr",
     "requireptr"),
    # src: RFC 7372 X.7.20-X.7.26 (DKIM, SPF, multiple checks); RFC 7208 SPF "not designated as permitted
    # sender"; Gmail 5.7.26 "This message does not have authentication information or fails to pass
    # authentication checks", "Unauthenticated email ... is not accepted due to domain's DMARC policy";
    # Microsoft 5.7.509 "sending domain does not pass DMARC verification", 5.7.515 "Access denied, sending domain
    # [domain] doesn't meet the required authentication level" (SPF, DKIM and DMARC for high-volume senders)
    (r"required authentication level|\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework|not designated (?:as )?(?:a )?permitted sender"
     r"|domainkeys|unauthenticated (?:e-?)?mail|authentication (?:checks? )?(?:did not pass|failed)(?! .*(?:password|login))"
     r"|not authori[sz]ed to send (?:e-?mail|mail|on behalf)|does not have authentication information|fails to pass authentication|5\.7\.2[0-46](?!\d)|5\.7\.29(?!\d)|authentication results? failed",
     "authfailure"),
    # src: Exim content scanning (exiscan) "This message contains malware"; amavisd-new "INFECTED";
    # ClamAV "virus found"; Microsoft EOP 5.7.1 malware rejections
    (r"\bvirus|malware|infected|trojan|worm\b|malicious (?:content|attachment|payload)", "virusdetected"),
    # src: Exim smtp_accept_max "421 Too many concurrent SMTP connections; please try again later"; Postfix
    # anvil "421 4.7.0 Error: too many connections from ..."; a 552 with these words is still a connection
    # limit (RFC 3463 X.4.5 "Mail system congestion" is the status for it)
    # sendmail's refusal once MaxDaemonChildren are busy: "421 4.3.2 Too many open connections"
    (r"too many (?:concurrent |simultaneous |smtp |open )?(?:connections|sessions)|connection (?:rate )?limit"
     r"|too many (?:concurrent|simultaneous)|connections? from your (?:host|ip) (?:is|are) too many"
     # src: Exchange SmtpResponse.TooManyConnectionsPerSource "421 4.3.2 The maximum number of concurrent
     # connections has exceeded a limit, closing transmission channel"
     r"|maximum number of concurrent (?:server )?connections",
     "toomanyconn"),
    # src: Postfix anvil limits "450 4.7.1 Error: too many messages from ..."; Exim ratelimit ACL
    # ("sending rate"); Microsoft 4.7.500-4.7.699 "rate limited"; Gmail 4.7.28 "unusual rate"; Gmail
    # 450 4.2.1 "The user you are trying to contact is receiving mail at a rate that prevents additional
    # messages from being delivered" (a rate limit, though its code is X.2.1 "mailbox disabled"); Exchange
    # Online 5.2.121 "Recipient's per hour message receive limit from specific sender exceeded" and 5.2.122
    # "The recipient has exceeded their limit for the number of messages they can receive per hour"; Gmail
    # 450 4.2.1 "The user you are trying to contact is receiving mail too quickly. Please resend your message
    # at a later time"; Exchange Online NDR 432 4.3.2 "STOREDRV.Deliver; recipient thread limit exceeded"
    # (the recipient mailbox throttled for receiving too many messages too quickly; its X.3.2 code reads
    # "System not accepting network messages")
    # Google's current wording says "email" where it said "mail": "450 4.2.1 The recipient is receiving email
    # too quickly", "550 5.2.1 ... receiving email at a rate that prevents additional messages from being
    # delivered" (Google Workspace "SMTP error reference")
    (r"receiving (?:e-?)?mail too quickly|recipient thread limit exceeded|rate limit|(?:too many|many) (?:messages|emails|mails)|sending (?:rate|too fast)|slow down"
     r"|exceeded (?:the )?(?:sending|message) rate|too fast|throttl|receiving (?:e-?)?mail at a rate that prevents"
     r"|message receive limit|number of messages they can receive"
     # src: Postfix smtpd(8) anvil limits, smtpd_client_message_rate_limit: "450 4.7.1 Error: too much mail
     # from <address>"; Rackspace error code G30 "Mailbox received too much email in a short period of time";
     # Google Workspace "SMTP error reference" 450 4.2.1 "Peak SMTP relay limit exceeded for this customer";
     # Apple iCloud "421 4.7.1 Messages to <address> deferred due to excessive volume"; Exchange Server receive
     # connector MessageRateLimit: "421 4.4.2 Message submission rate for this client has exceeded the
     # configured limit"
     r"|too much (?:e-?)?mail (?:from|in a short)|relay limit exceeded|due to excessive volume"
     r"|submission rate for this client"
     # src: Exchange AckReason.SenderRecipientThrottlingMessageRejected "450 4.5.0 Message rejected.  Excessive
     # message rate from sender to recipient."; Sisimai Speeding doc "Client host rejected: Please try again slower"
     r"|excessive message rate|try again slower",
     "speeding"),
    # The sender's own address or domain does not exist: said of the sender, never of the recipient.
    # src: RFC 3463 X.1.8 "Bad sender's system address: the sender's system specified in the address does not
    # exist or is incapable of accepting return mail", X.1.7 "Bad sender's mailbox address syntax"
    (r"\b(?:envelope )?sender(?:'s)? (?:e-?mail )?(?:address|domain)(?: \S+)? (?:does not exist|doesn't exist"
     r"|does not resolve|not found|is unknown|(?:has|with) no mx)"
     # src: Yahoo Sender Hub SMTP error codes, "Unresolvable RFC.5321 or RFC.5322 from domain": the domain of the
     # MAIL FROM or header From does not appear to be valid (451 or 554)
     r"|unresolvable rfc\.?532[12] from domain",
     "rejected"),
    # The domain publishes no usable mail exchanger (null MX, no MX, broken MX answer).
    # src: RFC 5321 5.1 (no MX and no address record: no mail service) and RFC 7505; OpenSMTPD mta.c
    # DNS_ENOTFOUND "No MX found for domain"; Postfix "Name service error for name=... type=MX: Malformed
    # or unexpected name server reply"
    (r"(?:couldn't|could not|unable to) find (?:a|any) mail exchanger|no mx (?:record )?(?:found )?for (?:domain|the domain)"
     r"|no mx (?:record )?found|type=mx: malformed|indicated no smtp service|mx (?:record )?(?:points|pointing) to (?:an )?invalid",
     "notaccept"),
    # "553 mail.example.org does not exist": a bare host name, not a mailbox.
    # src: RFC 3463 X.1.2 "The destination system specified in the address does not exist" (said of a host
    # name, not of a mailbox)
    (r"(?<![@\w.<-])(?:[a-z0-9-]+\.)+[a-z]{2,} does not exist", "hostunknown"),
    # The sender's own address or domain, named as such.
    # src: Exchange Online Protection 550 5.4.1 "All recipient addresses rejected : Access denied"; RFC 3463
    # X.1.7/X.1.8 (the sender's address or system); Gmail "provide a valid From" (5.7.1 "Our system has
    # detected that this message is not RFC 5322 compliant ... From header"); Exchange Online NDR 5.7.124
    # "Sender not in allowed-senders list" (the recipient group takes mail only from the senders it lists)
    (r"not in (?:the )?allowed[- ]senders? list|all recipient addresses rejected ?: access denied|unroutable sender|sender was rejected|from:? (?:header )?domain (?:is )?invalid|provide a valid from"
     # src: MXroute "Your sending address has been blocked by admins" (a sender the server's admins banned);
     # Forpsi KB a3302 "550 5.1.1 <address> sender is blocklisted"
     r"|sender (?:address (?:has been )?|is )(?:black|block)listed"
     r"|sending(?:/recipient| to/from)? (?:an )?address (?:that )?has been (?:blocked|(?:black|block)listed)"
     # src: AT&T postmaster (rbl.att.net): "550 [permfail] bellsouth.net requires valid sender domain"
     r"|requires (?:a )?valid sender domain"
     # A list or group that takes posts from its members only: the sender is refused, not the address.
     # src: Google Groups' delivery notice "the group you tried to contact (...) may not exist, or you may not
     # have permission to post messages to the group" (as users quote it from mailer-daemon@googlemail.com);
     # ezmlm-idx's text/sub-nop "Sorry, only subscribers may post"
     r"|not have permission to post messages to the group|only subscribers may post"
     # A relay that sends only for identities it has verified, a recipient's list of blocked senders, a
     # provider that refuses its own domain from outside. (Amazon SES's "Email address is not verified"
     # stays with the relay refusals, as Sisimai 5 reads it.)
     # src: SendGrid "550 The from address does not match a verified Sender Identity"; Mailgun "Sandbox
     # subdomains are for test purposes only" (a sandbox domain sends only to authorised recipients); Mimecast
     # SMTP Error Codes (community.mimecast.com DOC-1369): "Envelope blocked - User Entry", "Rejected by
     # header based (manually) Blocked Senders: <address>" (the sender on a user's or an administrator's
     # block list); STRATO FAQ "550 Forbidden domain '...' in Envelope-From"
     r"|not match a verified sender identity|sandbox subdomains are for test purposes only"
     r"|envelope blocked - user entry|rejected by header based (?:manually )?blocked senders|in envelope-from\b"
     # src: Mimecast SMTP Error Codes, "550 Administrative prohibition - envelope blocked" (the sender on a
     # blocked senders policy)
     r"|administrative prohibition - envelope blocked",
     "rejected"),
    # One connection sending too much, too often.
    # src: Tencent QQ Mail SMTP errors "Connection frequency limited", "Ip frequency limited"; Postfix anvil
    # "too many connections from"
    (r"(?:ip|connection|connect) frequency limit|frequency limited|too many connections? (?:from|per)", "toomanyconn"),
    # src: Coremail (NetEase, Sina and others) bounce list "Requested mail action not taken: Invalid IP"
    (r"\binvalid ip\b", "blocked"),
    # src: Gmail delivery notices "The recipient server did not accept our requests to connect" (its give-up
    # after retries; support.google.com/mail/answer/7720)
    (r"did not accept our requests to connect", "expired"),
    # src: RFC 5321 4.5.3.1.6 (1000-octet text line limit); Exim "message has lines too long for transport"
    (r"line limit exceeded|lines? too long", "mesgtoobig"),
    # src: HCL/Lotus Domino router "User ... not listed in Domino Directory" / "... public Name & Address
    # Book" and its Japanese localisation; Microsoft Exchange MTA "The recipient name is not recognized"
    # (KB Q133403); Ipswitch IMail Server notices "Invalid final delivery userid"
    # German Domino: "... ist nicht im Domino-Verzeichnis aufgeführt" (HCL Domino's German help names its
    # directory "Domino-Verzeichnis")
    (r"not listed in (?:the )?(?:domino |public )*(?:name (?:&|and) )?(?:directory|address book)|recipient name is not recognized"
     r"|nicht im domino-verzeichnis"
     r"|ディレクトリのリストにありません|ディレクトリには見つかりません|invalid final delivery userid"
     # src: QQ Mail help "退信原因" (qqmailbox.com/transceivers/169.html): "该用户不存在" (this user does
     # not exist), "该用户未开通QQ邮箱" (this user has no QQ Mail account)
     r"|该用户不存在|该用户未开通qq邮箱"
     # src: gromox local bounce templates (BOUNCE_NO_USER): "因为该收件人并不存在" (gb2312), "因為該收件人並不存在"
     # (big5), "受信者が存在していない" (euc-jp, shift-jis); Plesk (its qmail) for an address it has no
     # mailbox for: "This address no longer accepts mail." (Russian locale: "этот адрес больше не принимает писем")
     r"|收件人(?:并|並)?不存在|受信者が存在していない|this address no longer accepts mail|этот адрес больше не принимает писем",
     "userunknown"),
    # The recipient address does not exist.
    # src: RFC 3463 X.1.1 "Bad destination mailbox address"; RFC 5321 550 "mailbox unavailable", 553 "mailbox
    # name not allowed"; Postfix "User unknown in local recipient table"/"virtual mailbox table"; sendmail
    # "User unknown"; qmail "Sorry, no mailbox here by that name. (#5.1.1)"; Exim "Unrouteable address";
    # Gmail 5.1.1 "The email account that you tried to reach does not exist"; Microsoft 5.1.1
    # "RESOLVER.ADR.RecipNotFound; not found"; Courier "No such user"; Yahoo "This user doesn't have a
    # yahoo.com account"; MDaemon/Exchange "Recipient address rejected"; Alibaba Mail's error list (Alibaba
    # Cloud document 36612) "Rcptto account isn't a local account" (no such mailbox, a mistyped address)
    # src: docspell "SMTP Gateway with Exim" transcript "550 Recipient unknown"; Oracle Communications Messaging
    # Server "Mailbox unknown. Either there is no mailbox associated with this name ..."
    (r"user(?:name)? (?:is )?unknown|(?:recipient|mailbox) (?:is )?unknown|unknown (?:user|recipient|local[- ]?part|mailbox|address|e-?mail address)"
     r"|no such (?:user|recipient|mailbox|person|address|account|local user)|user (?:does ?n[o']t|not) exists?"
     r"|(?:user|recipient|mailbox|address|account) (?:was |is )?not found|(?:user|recipient|mailbox|address|account|e-?mail address)"
     r" (?:does ?n[o']t|do(?:es)? not|did not) exists?|invalid (?:recipient|mailbox|user|address|e-?mail address|e-?mail)"
     r"|(?:recipient|mailbox|address|user) (?:is )?(?:invalid|unavailable|not (?:valid|available|listed))"
     r"|not a (?:valid|known) (?:mailbox|user|recipient|address)|no mailbox (?:here|found|by that name)"
     r"|mailbox (?:name )?not (?:allowed|found|exist)|no valid recipients"
     r"|bad (?:destination )?(?:mailbox|recipient)|addressee unknown|unknown or illegal alias|account (?:is )?(?:not|n't) (?:exist|valid|available)"
     r"|not (?:our|a local) (?:customer|user)|account (?:is not|isn.t) a local account|no account (?:by that name|for)|undeliverable address"
     r"|recipient (?:not|no longer) (?:exist|on file|here)|user(?:'s)? (?:account|mailbox) (?:does not|doesn't) exist"
     r"|destination address (?:is )?(?:invalid|unknown)|is not a (?:known|valid) user"
     r"|no mailbox with that name|mailbox unavailable|requested action not taken: mailbox|unknown alias|email address could not be found"
     r"|alias (?:is )?(?:unknown|not found)",
     "userunknown"),
    # src: RFC 3463 X.1.2 "Bad destination system address", X.4.4 "Unable to route"; Postfix "Host or domain
    # name not found. Name service error for name=... type=MX: Host not found"; Exim "Unrouteable mail
    # domain"; sendmail "Host unknown (Name server: ...: host not found)"; getaddrinfo/gai_strerror EAI_NONAME
    # "Name or service not known" (glibc), "nodename nor servname provided, or not known" (BSD)
    (r"host (?:or domain name )?(?:not found|unknown)|unknown host|domain (?:name )?(?:not found|does not exist|doesn't exist|unknown)"
     r"|no such domain|unrouteable (?:mail )?domain|name service error|no (?:mx|dns)(?: or a)? records?|non-existent (?:host|domain)"
     r"|nxdomain|unrouteable address|invalid domain|domain (?:is )?(?:invalid|not (?:valid|exist))|unknown domain|mx (?:record )?(?:lookup|not found)"
     r"|host not found|dns (?:error|lookup).{0,40}(?:not found|failed|nxdomain)|domain (?:has )?no mx|not a valid domain|domain (?:is )?not reachable"
     r"|(?:recipient|destination) domain (?:is )?(?:not|invalid)|nodename nor servname|unable to resolve"
     r"|name or service not known"
     # src: MailEnable delivery failure notice "The message could not be delivered because the domain name
     # (%s) does not appear to be registered." (its DNS lookup of the recipient domain found nothing)
     r"|domain name \(\S+\) does not appear to be registered"
     # src: Go's net package (dnsclient_unix.go / net.go): DNSError "lookup <name> on <server>: no such
     # host" is errNoSuchHost, the answer NXDOMAIN (DNSError.IsNotFound); chasquid and other Go MTAs quote it
     r"|lookup \S+(?: on \S+)?: no such host",
     "hostunknown"),
    # The sender (envelope MAIL FROM) was refused.
    # src: RFC 3463 X.1.7 "Bad sender's mailbox address syntax", X.1.8 "Bad sender's system address";
    # Postfix "Sender address rejected: Domain not found", reject_unverified_sender "Sender address rejected:
    # undeliverable address"; Exim "Sender verify failed"; sendmail "Domain of sender address ... does not
    # exist"
    (r"sender (?:address |domain )?(?:rejected|refused|denied|invalid|unknown|verify failed|not (?:allowed|accepted|permitted))"
     r"|(?:invalid|bad|unknown|unverified|illegal) sender|sender (?:domain|address) (?:must|does not|doesn't|not) (?:exist|resolve|found)"
     r"|mail from (?:address )?(?:rejected|refused|denied)|domain of sender address|sender verification|envelope sender"
     r"|return ?path|from address (?:is )?(?:invalid|rejected)|null sender|sender (?:is )?not authori",
     "rejected"),
    # src: Google Workspace "SMTP error reference", 451 4.3.0: "Mail server temporarily rejected message."
    # (the receiving mail system's own transient state, RFC 3463 X.3.0 "Other or undefined mail system
    # status"; no block of the sender, which Google words as "blocked" / "rate limited")
    (r"mail server temporarily rejected message", "systemerror"),
    # The sending host or IP was refused. (A connection refused by the
    # loopback address is the sender's own relay being down, not a block.)
    # src: Postfix reject_rbl_client "Service unavailable; Client host [IP] blocked using <zone>"; Spamhaus,
    # SpamCop, SORBS and Barracuda BRBL rejection texts; Microsoft 5.7.606-649 "Access denied, banned sending
    # IP"; Outlook.com "part of their network is on our block list (S3150)"; Proofpoint "554 5.7.1 Blocked";
    # Yahoo Sender Hub SMTP error codes, TSS09: "All messages from [IP] will be permanently deferred; Retrying
    # will NOT succeed" (the IP is blocked, whatever the 421 says). Greylisting, the anti-spam deferral of a
    # sender not seen before: postgrey(8) --greylist-text default "Greylisted, see
    # http://postgrey.schweikert.ch/help/%r.html" (after Postfix's "Recipient address rejected:"),
    # "greylisting in action" / "greylisted, please try again"
    (r"greylist|will be permanently deferred|blocked using|listed (?:in|on|at|by)|black ?list|block ?list|\brbls?\b|\bdnsbls?\b|spamhaus|spamcop|sorbs|barracuda"
     r"|client host (?:\[[^\]]*\] )?(?:rejected|blocked)|your (?:ip|host|server|network)|(?:ip|host|client|sender ip) (?:address )?(?:is )?(?:\S+ )?(?:blocked|banned|denied|rejected|blacklisted)"
     r"|dynamic (?:ip|address)|dial-?up|residential|(?:access|connection) (?:denied|refused) (?:from|to|by|for)(?! \[?127\.)|banned"
     r"|refused to talk|not allowed to send|blocked by|temporarily (?:deferred|blocked|rejected)|\bblocked\b|access denied"
     # "554 IP=192.0.2.1 - A problem occurred. (Ask your postmaster ...) (BL)": a block-list tag
     r"|service unavailable; client|rejected because of your|\(BL\)|mail from .{0,60} (?:refused|rejected)"
     # src: Trend Micro Email Reputation Services: "450 4.7.1 Mail from <ip> deferred using Trend Micro Email
     # Reputation database" (the sending IP's reputation)
     r"|email reputation database"
     # src: Google Workspace 421 4.7.0 "IP not in whitelist for RCPT domain, closing connection"; Yahoo help SLN5066
     # "553 Mail from x.x.x.x not allowed" (open relay / open proxy); AT&T rbl.att.net "550 unauthorized interface
     # for <IP>" (the sending system is not recognized as a valid source of e-mail)
     r"|ip not in (?:white|allow) ?list|mail from \[?\d{1,3}(?:\.\d{1,3}){3}\]? not allowed|unauthorized interface for",
     "blocked"),
    # src: RFC 3463 X.7.1 "Delivery not authorized, message refused" (per-host or per-recipient policy);
    # Exim "Administrative prohibition" (the reply of an ACL "deny" that sets no message); Yahoo "554 5.7.9
    # Message not accepted for policy reasons"
    (r"polic(?:y|ies)|prohibit(?:ed|ion)|not (?:allowed|permitted) (?:by|under|due)|violat|forbidden|not accepted by local",
     "policyviolation"),
    # src: RFC 3463 X.7.0-X.7.8; RFC 3207 STARTTLS "530 5.7.0 Must issue a STARTTLS command first"; RFC 4954
    # "530 5.7.0 Authentication required", X.7.11 "Encryption required"; RFC 8689 REQUIRETLS
    (r"delivery not authori[sz]ed|starttls|\btls\b|encryption (?:is )?required|authentication (?:is )?required|must (?:be )?authenticat"
     r"|smtp auth|not authenticated|unauthenticated senders?|certificate|secure connection|requires? (?:a )?secure",
     "securityerror"),
    # src: RFC 3463 X.2.0/X.7.1 (per-recipient filtering); Gmail 5.7.1 "The user you are trying to contact
    # is not receiving mail from this sender"; Japanese carriers' reception settings; Yahoo "This user doesn't
    # have a yahoo.com account" when sent after DATA
    (r"filter|this user doesn.t have an? .{1,30}account|refused by (?:the )?recipient|recipient (?:has )?(?:refused|blocked|rejected)|rejected by (?:the )?recipient"
     r"|user(?:'s)? (?:settings?|preference)|(?:declined|refused) (?:to accept|delivery)|does not (?:wish|want) to receive"
     r"|not accept(?:ing)? (?:messages )?from|only accept|restricted|recipient preferences"
     # src: Interia Poczta help "Dlaczego wiadomość nie została dostarczona?": "550 5.7.1 Recipient doesn't want
     # your mail" (the recipient has put the sender on its blocked list)
     r"|(?:doesn.t|does not) want your (?:e-?)?mail",
     "filtered"),
    # src: Exchange Online Protection "451 4.4.4 Mail received as unauthenticated, incoming to a recipient domain
    # configured in a hosted tenant which has no mail-enabled subscriptions. ATTR5": the domain's mail service is not
    # enabled in that tenant (Sisimai notaccept, "the mail service is not enabled")
    (r"no mail-enabled subscriptions", "notaccept"),
    # Retries ran out.
    # src: RFC 3463 X.4.7 "Delivery time expired"; Exim "retry timeout exceeded", "retry time not reached for
    # any host after a long failure period"; Postfix bounce "message ... delayed for N days"/"maximal_queue
    # _lifetime"; sendmail "Message could not be delivered for N days"; Gmail "has been delayed"
    (r"retry time(?:out)? (?:not reached|exceeded)|delivery time ?(?:expired|exceeded)|message (?:has )?expired|expired after"
     r"|timed? ?out (?:in|while in) (?:the )?queue|too long in (?:the )?queue|could not be delivered (?:for|within) |giving up"
     r"|has been delayed|was not delivered within|queue lifetime|retry period (?:exceeded|expired)|maximum (?:time|delivery attempts)"
     r"|unable to deliver (?:for|within)|delivery (?:has )?(?:been )?(?:delayed|postponed)|will be retried|still (?:being )?retried"
     r"|delivery attempts? (?:will )?continue|expired|delayed",
     "expired"),
    # src: RFC 3463 X.4.1 "No answer from host", X.4.2 "Bad connection", X.4.6 "Routing loop detected";
    # strerror ECONNREFUSED/ETIMEDOUT/EHOSTUNREACH/ENETUNREACH/ECONNRESET; Postfix "connect to ...: Connection
    # timed out", "lost connection with ... while ...", "conversation with ... timed out", "mail for ...
    # loops back to myself"; Exim "Too many \"Received\" headers - suspected mail loop"; getaddrinfo EAI_AGAIN
    # "Temporary failure in name resolution"
    (r"no route to host|connection (?:timed out|refused(?! by \[?127\.)|reset|closed|lost|dropped)|network (?:is )?unreachable|host unreachable"
     r"|lost connection|timed? ?out|could not connect|couldn't connect|unable to connect|connect to .{0,80} failed"
     r"|read error|broken pipe|too many hops|hop count|mail (?:for .{0,80} )?loops back|routing loop|mail loop|loop detected"
     # src: Exim src/routers/rf_self_action.c (a router's "self" option: the host it found is this
     # host): "lowest numbered MX record points to local host", "remote host address is the local host"
     r"|mx record points to (?:the )?local host|remote host address is the local host"
     r"|no answer|not responding|conversation with"
     # sendmail: "Deferred: Name server: example.jp.: host name lookup failure" (DNS did not answer)
     r"|host name lookup failure|temporary failure in name resolution"
     # src: Exchange AckReason.DnsMxLoopback "554 5.4.4 SMTPSEND.DNS.MxLoopback; DNS records for this domain are
     # configured in a loop"
     r"|configured in a loop|mxloopback"
     # src: Postfix local(8) src/local/alias.c dsb_simple(..., "5.4.6", "alias database loop for %s") and
     # src/local/recipient.c, src/pipe/pipe.c, src/smtp/smtp.c "mail forwarding loop for %s" (5.4.6; RFC 3463
     # X.4.6 "Routing loop detected"): the words name a loop, never a database failure
     r"|alias database loop|mail forwarding loop"
     # src: nullmailer 2.2 smtp protocol module (/usr/lib/nullmailer/smtp, Debian 1:2.2-4): "Connect failed"
     # when no TCP connection to the smarthost could be made, the Diagnostic-Code of its give-up
     r"|\bconnect failed\b",
     "networkerror"),
    # src: RFC 3463 X.3.1 "Mail system full"; RFC 5321 452 "Requested action not taken: insufficient system
    # storage"; ENOSPC strerror "No space left on device"
    (r"system (?:is )?full|insufficient (?:system )?(?:storage|disk space)|out of (?:disk )?(?:space|storage)|queue (?:is )?full"
     r"|no space left"
     # src: Exim smtp_in.c "452 Space shortage, please try later" (the spool disk is short)
     r"|space shortage",
     "systemfull"),
    # src: Postfix pipe(8)/local(8) "Command died with status", "Command time limit exceeded"; sendmail
    # "unknown mailer error"; Exim "Child process of ... transport returned N"
    (r"command (?:died|failed|exited|not found)|mailer (?:error|failed)|unknown mailer|pipe to |procmail|program (?:exited|failed)"
     r"|exit code|returned (?:exit )?status|local delivery failed|delivery to program",
     "mailererror"),
    # src: RFC 5322 3.6 (required Date and From fields, single Message-ID); Gmail "This message is not RFC
    # 5322 compliant"
    (r"not (?:rfc|rfc ?5322|rfc ?2822) compliant|(?:rfc|rfc ?5322|rfc ?2822) complian|not compliant with (?:rfc|the rfc)"
     r"|missing (?:a )?(?:valid )?(?:message-id|date|from) header|duplicate header|malformed (?:header|message)"
     r"|message-id header|invalid (?:header|date|from|message-id)",
     "notcompliantrfc"),
    # src: RFC 3463 X.6.0-X.6.5 (media errors, conversion); RFC 6152 8BITMIME; RFC 2045 MIME (the word:
    # Mimecast's replies carry community.mimecast.com links); RFC 5321 2.3.8 (CR and LF only as CRLF), as
    # Exchange Online words it: "550 5.6.11 SMTPSEND.BareLinefeedsAreIllegal"
    (r"content|attachment|\bmime\b|bare ?line ?feeds|header line too long|8-?bit|charset|message body|line too long|illegal character",
     "contenterror"),
    # src: RFC 5321 500 "Syntax error, command unrecognized", 501 "Syntax error in parameters", 503 "Bad
    # sequence of commands", 504 "Command parameter not implemented"; RFC 2920 PIPELINING
    (r"syntax error|command unrecognized|bad sequence|unrecognized command|command not (?:recognized|implemented)"
     r"|improper use of smtp|parameter not (?:recognized|implemented)|pipelining",
     "syntaxerror"),
    # src: RFC 5321 421 "Service not available", 451 "local error in processing"; RFC 3463 X.3.0/X.3.5;
    # Postfix "temporary local problem"/"queue file write error"; Exchange "Could not load DRD for domain";
    # Active Directory/LDAP lookups "unable to contact LDAP server"
    (r"system error|insufficient permission|(?:queue )?file write error|could not load drd for domain|unable to contact ldap server|transaction failed|internal (?:server )?error|configuration error|local (?:error|problem)|temporary local (?:problem|failure)"
     r"|server (?:error|busy)|service (?:not available|unavailable|temporarily)|resources? (?:temporarily )?unavailable"
     r"|too busy|database|unavailable"
     # src: Postfix smtpd(8) "451 4.3.0 <address>: Temporary lookup failure" (a lookup table of the
     # receiving server did not answer: its own fault, RFC 3463 X.3.0 "Other or undefined mail system status")
     r"|temporary lookup failure"
     # src: gromox local bounce templates (BOUNCE_OPERATION_ERROR): "我们的邮件系统出错" (gb2312),
     # "我們的郵件系統出錯" (big5), "システムエラーがあった" (euc-jp, shift-jis)
     r"|邮件系统出错|郵件系統出錯|システムエラーがあった",
     "systemerror"),
)

#: Phrases so specific to one provider's verdict that they beat the status
#: code and the SMTP stage (checked before both).
_STRONG_TEXT_RULES: tuple[tuple[str, str], ...] = (
    # src: NetEase (163.com / 126.com / yeah.net and its enterprise mail) bounce-code list, "退信代码说明":
    # DT:SPM content judged spam; HL:ICC too many concurrent connections from the IP; HL:IFC too much mail
    # from the IP in a short time, MI:SFQ the sender's 15-minute quota, MI:DMC too many messages in one
    # connection; HL:REP / HL:MEP abnormal sending (unknown recipients, forged domains), DT:RBL the IP on
    # an RBL, WM:BLI / WM:BLU the IP or sender not on the allowed list
    (r"\bDT:SPM\b", "spamdetected"),
    # src: NetEase bounce-code list, as above: HL:ICC
    (r"\bHL:ICC\b", "toomanyconn"),
    # src: NetEase bounce-code list, as above: HL:IFC, MI:SFQ, MI:DMC
    (r"\bHL:IFC\b|\bMI:(?:SFQ|DMC)\b", "speeding"),
    # src: NetEase bounce-code list, as above: HL:REP, HL:MEP, DT:RBL, WM:BLI, WM:BLU
    (r"\bHL:(?:REP|MEP)\b|\bDT:RBL\b|\bWM:BL[IU]\b", "blocked"),
    # src: Postfix smtpd.c, smtpd_client_recipient_rate_limit (anvil): "450 4.7.1 Error: too many recipients from %s"
    (r"error: too many recipients from", "speeding"),
    # src: Postfix smtp_sasl_glue.c "SASL authentication failed; server %s said: %s"; RFC 4954 "535 5.7.8
    # Authentication credentials invalid" (our relay credentials, not SPF/DKIM/DMARC)
    (r"sasl authentication failed|authentication credentials invalid", "securityerror"),
    # src: amavisd-new: "Message content rejected, UBE" (unsolicited bulk e-mail)
    (r"\bUBE\b", "spamdetected"),
    # src: Yahoo: "554 delivery error: dd This user doesn't have a yahoo.com account"
    (r"delivery error: dd (?:this user doesn't have|requested mail ?box)", "userunknown"),
    # src: Gmail / Google Workspace: "the address couldn't be found, or is unable to receive mail"
    (r"because the address couldn't be found|the email account that you tried to reach does not exist", "userunknown"),
    # src: Exchange Online: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
    # (its 5.1.10 is not the RFC 7505 null MX meaning)
    (r"RESOLVER\.ADR\.RecipientNotFound|recipient not found by smtp address lookup", "userunknown"),
    # src: Google Workspace "SMTP error reference": 550 5.7.1 "The IP you're using to send mail is not authorized to
    # send email directly to our servers. Please use the SMTP relay at your service provider instead." (the sending
    # IP, not the sender's authentication)
    (r"ip you.re using to send (?:e-?)?mail is not authori[sz]ed to send (?:e-?)?mail directly", "blocked"),
    # src: Microsoft support, "NDR error code 550 5.4.1 Recipient address rejected: Access denied" (Exchange
    # Online's Directory-Based Edge Blocking: the recipient does not exist in the accepted domain)
    (r"5\.4\.1 recipient address rejected: access denied", "userunknown"),
    # src: HCL Domino administrator help, "Domain failure": "No route found to domain <domain> from server
    # <server>" (the recipient's domain is unknown to Domino's routing); "Server failure": "Server is not a
    # known TCP/IP host"
    (r"no route found to domain \S+ from server|server is not a known tcp/ip host", "hostunknown"),
    # src: Gmail: "552-5.7.0 This message was blocked because its content presents a potential security issue"
    (r"content presents a potential", "policyviolation"),
    # src: Yandex Mail help, "Report on non-delivery to Yandex": "Policy rejection on the target address" means
    # the recipient's account has been blocked for User Agreement violations (the mailbox, not our message)
    (r"policy rejection on the target address", "suspend"),
    # src: Symantec.cloud / MessageLabs bounce list: "553-you are trying to use me [server-N.tower-N.messagelabs.com]
    # as a relay, but I have not been configured to let you (<ip>, <helo>) do this" (a relay refusal that names
    # no mailbox; the 553 would otherwise read "mailbox name not allowed")
    (r"trying to use me\b.{0,120}\bas a relay|not been configured to let you\b", "norelaying"),
    # src: hMailServer source, ExternalDelivery.cpp (no MX or A record for the recipient's domain): "No mail
    # servers appear to exists for the recipient's address." (RFC 3463 X.1.2, bad destination system)
    (r"no mail servers appear to exists? for the recipient", "hostunknown"),
    # src: Exchange Online: "550 5.4.312 Message expired, DNS query failed" (the cause, not the expiry)
    (r"dns query failed", "networkerror"),
    # src: Haraka outbound/hmail.js try_deliver(): when no MX of the domain could be delivered to it writes
    # DSN.addr_bad_dest_system("Tried all MXs <domain>") (550 5.1.2, haraka-dsn) and retries, then bounces
    # with it: Haraka's own words for every host failing, not a server's verdict on the domain
    (r"\btried all mxs\b", "networkerror"),
    # src: amavisd-new (its documentation of banned_filename_re): "554 5.7.0 Reject, id=... - BANNED: P=...,
    # T=exe,N=invoice.exe" (a banned attachment name or type: the content, not the sender)
    (r"reject, id=\S+ - banned\b", "policyviolation"),
    # src: Japanese ISPs (Outbound Port 25 Blocking): "Please use the smtp server of your ISP"
    (r"use the smtp server of your isp", "blocked"),
    # src: Outlook.com postmaster troubleshooting: RP-001 and RP-002, the sending IP "has exceeded the rate
    # limit allowed" (its reply: "We have limits for how many messages can be sent per hour and per day")
    (r"\bRP-00[12]\b", "speeding"),
    # src: Outlook.com postmaster troubleshooting: RP-003, the sending IP "has exceeded the connection limit allowed"
    (r"\bRP-003\b", "toomanyconn"),
    # src: Google Workspace "SMTP error reference": 421 4.7.0 / 451 4.7.23 / 550 5.7.25 "The IP address sending
    # this message does not have a PTR record ..." (the cause it names, ahead of the "temporarily rate limited"
    # it ends with)
    (r"(?:does not|doesn.t) have a ptr record", "requireptr"),
    # src: Google Workspace "SMTP error reference": 451 4.7.24 "The SPF record of the sending domain has one or more
    # suspicious entries" (the cause, ahead of its "temporarily rate limited")
    (r"spf record of the sending domain has one or more suspicious entries", "authfailure"),
    # src: Microsoft, "Email non-delivery reports and SMTP errors in Exchange Online": 5.1.90 "you've reached
    # your daily limit for message recipients", 5.7.233 "your tenant has exceeded its daily limit for sending
    # email to external recipients" (the sender's own limits)
    (r"(?:reached|exceeded) (?:your|its) daily limit for (?:message recipients|sending)", "speeding"),
    # src: Outlook.com / Hotmail's SC-001..SC-004 refusals: "550 SC-004 ... Unfortunately,
    # messages from 192.0.2.1 weren't sent": the sending network is on its block list.
    (r"\bSC-00[1-4]\b|messages from \S+ weren.t sent", "blocked"),
    # The receiving Postfix's own lookup tables failed, whatever restriction asked them: smtpd(8) answers
    # "<%s>: %s rejected: %s" with the restriction's prefix ("Client host", "Helo command", "Sender
    # address", "Recipient address") and, for a table it cannot open or query, "451 4.3.5 Server
    # configuration error" or "451 4.3.0 <%s>: Temporary lookup failure". The prefix names what was being
    # checked, not a block of the sender: the cause is the server's (RFC 3463 X.3.5 "System incorrectly
    # configured", X.3.0). Before the sender and HELO rows below, which would take the prefix for the cause.
    # src: Postfix 3.7 smtpd(8) reply texts (strings of /usr/lib/postfix/sbin/smtpd: "451 4.3.5 Server
    # configuration error", "<%s>: Temporary lookup failure", "<%s>: %s rejected: %s"); seen from a real
    # Postfix 3.7.11 with a missing hash: table in smtpd_client_restrictions (sweep BX)
    (r"(?:client host|helo command|sender address|recipient address|etrn command|data command) rejected: "
     r"(?:server configuration error|temporary lookup failure)",
     "systemerror"),
    # The envelope sender was refused, whatever the words after it say ("Domain not found", "User unknown
    # in local recipient table" are about the sender's address, never the recipient's).
    # src: Postfix postconf(5) smtpd_sender_restrictions: every sender restriction replies "<address>: Sender
    # address rejected: ..." (reject_unknown_sender_domain, reject_unlisted_sender, reject_unverified_sender);
    # Exim specification, "Access control lists", verify = sender: "Sender verify failed" (after
    # "Verification failed for <address>" and the called host's answer)
    (r"sender address rejected\s*:|sender verify failed", "rejected"),
    # A recipient check still running: nothing is known about the address yet.
    # src: Postfix ADDRESS_VERIFICATION_README: "450 4.1.1 <address>: Recipient address rejected: unverified
    # address: Address verification in progress" (reject_unverified_recipient while its probe is pending)
    (r"address verification in progress", "onhold"),
    # The client's HELO/EHLO name was refused: said of the sending host, never of the recipient's domain.
    # src: Postfix postconf(5) smtpd_helo_restrictions: reject_unknown_helo_hostname "Helo command rejected:
    # Host not found", reject_invalid_helo_hostname "Helo command rejected: Invalid name",
    # reject_non_fqdn_helo_hostname "Helo command rejected: need fully-qualified hostname"
    (r"helo command rejected\s*:", "blocked"),
    # src: Per-hour recipient caps (GoDaddy's "IB607 ... has sent to too many recipients this hour"; Cisco
    # AsyncOS host access table, "Max. Recipients Per Hour" default reply "452 Too many recipients received
    # this hour"): the sender is going too fast, not the message too wide.
    (r"too many recipients (?:received )?(?:this|per|in the last) hour", "speeding"),
    # src: Google Workspace "SMTP error reference", 421 4.7.28: "... To protect our users from spam, mail sent from
    # your IP address [or domain] has been temporarily rate limited" (the rate, not the spam it guards against;
    # Outlook.com's "has been temporarily rate limited due to IP reputation" names its cause, a row below)
    (r"mail (?:sent from your (?:ip address|ip netblock|(?:spf |dkim )?domain)|with the url) has been temporarily rate limited", "speeding"),
    # src: Google Workspace "SMTP error reference", 550 5.7.1: "Our system has detected an unusual rate of unsolicited
    # mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been
    # blocked." (the sending IP or netblock is refused, as in the rate-limited row above; "spam" names what the
    # block guards against, not a verdict on this message)
    (r"mail sent from your ip (?:address|netblock) has been blocked", "blocked"),
    # src: Gmail 421 4.7.29 / 550 5.7.29 "... because you're not using a TLS connection" / "... wasn't sent over a TLS
    # connection. Gmail requires all bulk email senders to use TLS/SSL" (Google reuses X.7.29, RFC 8617's ARC code)
    (r"not using a tls connection|wasn.t sent over a tls connection", "securityerror"),
    # src: Microsoft Learn, "Email non-delivery reports and SMTP errors in Exchange Online": 5.7.322-325
    # "certificate-expired", "tlsa-invalid: The domain failed DANE validation.", "dnssec-invalid",
    # "certificate-host-mismatch" (the destination's TLS / DANE set-up, not the message)
    (r"\b(?:tlsa-invalid|dnssec-invalid|certificate-expired|certificate-host-mismatch)\b|failed dane validation",
     "securityerror"),
    # src: the same page, 5.7.508 "Access denied, [$SenderIPAddress] has exceeded permitted limits within $range
    # range": the sending IPv6 range sent too many messages in too short a time (its "access denied" is no block)
    (r"has exceeded permitted limits within", "speeding"),
    # src: Microsoft, external forwarding control: "5.7.520 Access denied, Your organization does not allow external forwarding"
    (r"does not allow external forwarding", "policyviolation"),
    # src: Yahoo Sender Hub SMTP error codes, "Excessive unknown recipients": Yahoo refuses the sending server
    (r"excessive unknown recipients", "blocked"),
    # src: Cox postmaster error codes: CXCNCT "There is a limit to the number of concurrent SMTP connections per IP address"
    (r"AUP#CXCNCT\b", "toomanyconn"),
    # src: Cox postmaster "Error Codes" (postmaster.cox.net): CXBL "The sending IP address has been blocked by Cox due
    # to exhibiting spam-like behavior", CDRBL "... temporarily blocked ...", IPBL0001-IPBL1111 "The sending IP is
    # listed in the Spamhaus Zen / Return Path / Invaluement ivmSIP / Cloudmark CSI DNSBL(s)"
    (r"AUP#(?:CXBL|CDRBL|IPBL[01]{4})\b", "blocked"),
)

#: Flags every pattern of the tables here is compiled with.
RULE_FLAGS = re.IGNORECASE

# The compiled tables (same rows, patterns compiled with RULE_FLAGS) are
# made on first use by the module ``__getattr__`` at the end: the classifier
# reads the pattern texts above through its own lazily compiled tables, so
# compiling every row at import would be spent for nothing.
STRONG_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...]
TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...]

# ---------------------------------------------------------------------------
# 2. Enhanced status code (RFC 3463 and registry) → reason. Exact code first,
#    then class-less "subject.detail". Codes whose meaning depends on the
#    text (X.7.1 "delivery not authorized") map to the text-less default.
# ---------------------------------------------------------------------------
STATUS_REASONS: dict[str, str] = {
    # Every row: the IANA "SMTP Enhanced Status Codes" registry (RFC 5248) entry, its defining RFC and its
    # words. X.1.5 "Destination address valid", X.1.9 "Message relayed to non-compliant mailer" and X.3.6
    # "Requested priority was changed" report success, so they name no failure reason and have no row.
    "1.0": "userunknown",    # src: RFC 3463 X.1.0 "Other address status": the address caused the DSN
    "1.1": "userunknown",    # src: RFC 3463 X.1.1 "Bad destination mailbox address"
    "1.2": "hostunknown",    # src: RFC 3463 X.1.2 "Bad destination system address"
    "1.3": "userunknown",    # src: RFC 3463 X.1.3 "Bad destination mailbox address syntax"
    "1.4": "userunknown",    # src: RFC 3463 X.1.4 "Destination mailbox address ambiguous"
    "1.6": "hasmoved",       # src: RFC 3463 X.1.6 "Destination mailbox has moved, No forwarding address"
    "1.7": "rejected",       # src: RFC 3463 X.1.7 "Bad sender's mailbox address syntax"
    "1.8": "rejected",       # src: RFC 3463 X.1.8 "Bad sender's system address"
    "1.10": "notaccept",     # src: RFC 7505 / RFC 7504 X.1.10 "Recipient address has null MX"
    "2.0": "filtered",       # src: RFC 3463 X.2.0 "Other or undefined mailbox status": the mailbox exists
    "2.1": "suspend",        # src: RFC 3463 X.2.1 "Mailbox disabled, not accepting messages"
    "2.2": "mailboxfull",    # src: RFC 3463 X.2.2 "Mailbox full"
    "2.3": "exceedlimit",    # src: RFC 3463 X.2.3 "Message length exceeds administrative limit" (per mailbox)
    "2.4": "systemerror",    # src: RFC 3463 X.2.4 "Mailing list expansion problem"
    "3.0": "systemerror",    # src: RFC 3463 X.3.0 "Other or undefined mail system status"
    "3.1": "systemfull",     # src: RFC 3463 X.3.1 "Mail system full"
    # src: RFC 3463 X.3.2 "System not accepting network messages"; RFC 7504 pairs it with 521 "Host
    # does not accept mail", so it reads as the 521 does (notaccept), in code and in words alike
    "3.2": "notaccept",
    "3.3": "systemerror",    # src: RFC 3463 X.3.3 "System not capable of selected features"
    "3.4": "mesgtoobig",     # src: RFC 3463 X.3.4 "Message too big for system"
    "3.5": "systemerror",    # src: RFC 3463 X.3.5 "System incorrectly configured"
    "4.0": "networkerror",   # src: RFC 3463 X.4.0 "Other or undefined network or routing status"
    "4.1": "networkerror",   # src: RFC 3463 X.4.1 "No answer from host"
    "4.2": "networkerror",   # src: RFC 3463 X.4.2 "Bad connection"
    "4.3": "systemerror",    # src: RFC 3463 X.4.3 "Directory server failure"
    "4.4": "hostunknown",    # src: RFC 3463 X.4.4 "Unable to route" (e.g. a DNS answer with only an SOA)
    "4.5": "toomanyconn",    # src: RFC 3463 X.4.5 "Mail system congestion"
    "4.6": "networkerror",   # src: RFC 3463 X.4.6 "Routing loop detected"
    "4.7": "expired",        # src: RFC 3463 X.4.7 "Delivery time expired"
    "5.0": "syntaxerror",    # src: RFC 3463 X.5.0 "Other or undefined protocol status"
    "5.1": "syntaxerror",    # src: RFC 3463 X.5.1 "Invalid command"
    "5.2": "syntaxerror",    # src: RFC 3463 X.5.2 "Syntax error"
    "5.3": "exceedlimit",    # src: RFC 3463 X.5.3 "Too many recipients"
    "5.4": "syntaxerror",    # src: RFC 3463 X.5.4 "Invalid command arguments"
    "5.5": "syntaxerror",    # src: RFC 3463 X.5.5 "Wrong protocol version"
    "5.6": "syntaxerror",    # src: RFC 4954 X.5.6 "Authentication Exchange line is too long"
    "6.0": "contenterror",   # src: RFC 3463 X.6.0 "Other or undefined media error"
    "6.1": "contenterror",   # src: RFC 3463 X.6.1 "Media not supported"
    "6.2": "contenterror",   # src: RFC 3463 X.6.2 "Conversion required and prohibited"
    "6.3": "contenterror",   # src: RFC 3463 X.6.3 "Conversion required but not supported"
    "6.4": "contenterror",   # src: RFC 3463 X.6.4 "Conversion with loss performed"
    "6.5": "contenterror",   # src: RFC 3463 X.6.5 "Conversion Failed"
    "6.6": "contenterror",   # src: RFC 4468 X.6.6 "Message content not available"
    "6.7": "contenterror",   # src: RFC 6531 X.6.7 "Non-ASCII addresses not permitted for that sender/recipient"
    "6.8": "contenterror",   # src: RFC 6531 X.6.8 "UTF-8 string reply is required, but not permitted by the SMTP client"
    "6.9": "contenterror",   # src: RFC 6531 X.6.9 "UTF-8 header message cannot be transferred to one or more recipients"
    "6.10": "contenterror",  # src: RFC 6531 X.6.10, a deprecated duplicate of X.6.8
    "7.0": "securityerror",  # src: RFC 3463 X.7.0 "Other or undefined security status"
    # src: RFC 3463 X.7.1 "Delivery not authorized, message refused": "the sender is not authorized to send
    # to the destination"; a generic status, so the words (block list, spam, relay ...) decide first
    "7.1": "rejected",
    "7.2": "rejected",       # src: RFC 3463 X.7.2 "Mailing list expansion prohibited" (the sender is not authorized)
    "7.3": "securityerror",  # src: RFC 3463 X.7.3 "Security conversion required but not possible"
    "7.4": "securityerror",  # src: RFC 3463 X.7.4 "Security features not supported"
    "7.5": "securityerror",  # src: RFC 3463 X.7.5 "Cryptographic failure"
    "7.6": "securityerror",  # src: RFC 3463 X.7.6 "Cryptographic algorithm not supported"
    "7.7": "securityerror",  # src: RFC 3463 X.7.7 "Message integrity failure"
    "7.8": "securityerror",  # src: RFC 4954 X.7.8 "Authentication credentials invalid"
    "7.9": "securityerror",  # src: RFC 4954 X.7.9 "Authentication mechanism is too weak"
    "7.10": "securityerror",  # src: RFC 5248 X.7.10 "Encryption Needed"
    "7.11": "securityerror",  # src: RFC 4954 X.7.11 "Encryption required for requested authentication mechanism"
    "7.12": "securityerror",  # src: RFC 4954 X.7.12 "A password transition is needed"
    # src: RFC 5248 X.7.13 "User Account Disabled" ("permanent until the user contacts their system
    # administrator to get the account re-enabled"): an account that exists but is switched off
    "7.13": "suspend",
    "7.14": "securityerror",  # src: RFC 5248 X.7.14 "Trust relationship required"
    "7.15": "policyviolation",  # src: RFC 6710 X.7.15 "Priority Level is too low" (the receiver's policy)
    "7.16": "mesgtoobig",     # src: RFC 6710 X.7.16 "Message is too big for the specified priority"
    "7.17": "hasmoved",       # src: RFC 7293 X.7.17 "Mailbox owner has changed"
    "7.18": "hasmoved",       # src: RFC 7293 X.7.18 "Domain owner has changed"
    "7.19": "securityerror",  # src: RFC 7293 X.7.19 "RRVS test cannot be completed"
    "7.20": "authfailure",    # src: RFC 7372 X.7.20 "No passing DKIM signature found"
    "7.21": "authfailure",    # src: RFC 7372 X.7.21 "No acceptable DKIM signature found"
    "7.22": "authfailure",    # src: RFC 7372 X.7.22 "No valid author-matched DKIM signature found"
    "7.23": "authfailure",    # src: RFC 7372 X.7.23 "SPF validation failed"
    "7.24": "authfailure",    # src: RFC 7372 X.7.24 "SPF validation error"
    "7.25": "requireptr",     # src: RFC 7372 X.7.25 "Reverse DNS validation failed"
    "7.26": "authfailure",    # src: RFC 7372 X.7.26 "Multiple authentication checks failed"
    # src: RFC 7505 X.7.27 "Sender address has null MX": the *sender's* domain takes no mail (so no
    # DSN could return); the recipient's address is not at fault
    "7.27": "rejected",
    "7.28": "spamdetected",   # src: draft-levine-mailbomb-header X.7.28 "Mail flood detected"
    "7.29": "authfailure",    # src: RFC 8617 X.7.29 "ARC validation failure"
    "7.30": "securityerror",  # src: RFC 8689 X.7.30 "REQUIRETLS support required"
}

#: Statuses too vague to trust over the diagnostic text.
GENERIC_STATUSES = frozenset({"0.0", "0.000", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "7.0", "7.1"})

#: Statuses so specific that they beat the diagnostic text.
DECISIVE_STATUSES = frozenset({"7.8", "1.6", "1.7", "1.8", "1.10", "7.13", "7.20", "7.21", "7.22", "7.23", "7.24", "7.25", "7.26", "7.29"})

#: Reply codes RFC 5321 and its extensions define; other numbers are prose.
KNOWN_REPLYCODES = frozenset(
    "211 214 220 221 235 250 251 252 334 354 421 422 430 432 450 451 452 453 454 455 458 459"
    " 500 501 502 503 504 521 523 524 525 530 531 532 533 534 535 538 550 551 552 553 554 555 556 557".split()
)

#: Reasons that mean "nothing specific was said"; a failed or delayed
#: delivery with only these is reported as an expiry.
WEAK_REASONS = frozenset({"systemerror", "onhold", "undefined"})

# ---------------------------------------------------------------------------
# 3. SMTP reply code → reason, the last resort (RFC 5321 meanings).
# ---------------------------------------------------------------------------
REPLY_REASONS: dict[str, str] = {
    "421": "systemerror",    # src: RFC 5321 4.2.3 "421 <domain> Service not available, closing transmission channel"
    # 450 and 451 say only "try again later": a recipient that failed with
    # nothing more is on hold (or expired, when the sender says it gave up).
    "452": "mailboxfull",    # src: RFC 5321 4.2.3 "452 Requested action not taken: insufficient system storage"
    "454": "securityerror",  # src: RFC 3207 "454 TLS not available due to temporary reason"; RFC 4954 "454 4.7.0 Temporary authentication failure"
    "500": "syntaxerror",    # src: RFC 5321 4.2.3 "500 Syntax error, command unrecognized"
    "501": "syntaxerror",    # src: RFC 5321 4.2.3 "501 Syntax error in parameters or arguments"
    "502": "syntaxerror",    # src: RFC 5321 4.2.3 "502 Command not implemented"
    "503": "syntaxerror",    # src: RFC 5321 4.2.3 "503 Bad sequence of commands"
    "504": "syntaxerror",    # src: RFC 5321 4.2.3 "504 Command parameter not implemented"
    "521": "notaccept",      # src: RFC 7504 "521 Host does not accept mail"
    "523": "securityerror",  # src: RFC 5248 X.7.10 "Encryption Needed" (its associated reply code is 523)
    "530": "securityerror",  # src: RFC 4954 "530 5.7.0 Authentication required"; RFC 3207 "530 Must issue a STARTTLS command first"
    "534": "securityerror",  # src: RFC 4954 "534 5.7.9 Authentication mechanism is too weak"
    "535": "securityerror",  # src: RFC 4954 "535 5.7.8 Authentication credentials invalid"
    "550": "onhold",         # src: RFC 5321 4.2.3 "550 ... mailbox unavailable (e.g., mailbox not found, no access, or command rejected for policy reasons)": alone it does not say which
    "551": "hasmoved",       # src: RFC 5321 4.2.3 "551 User not local; please try <forward-path>"
    "552": "mailboxfull",    # src: RFC 5321 4.2.3 "552 Requested mail action aborted: exceeded storage allocation"
    "553": "userunknown",    # src: RFC 5321 4.2.3 "553 Requested action not taken: mailbox name not allowed"
    "554": "onhold",         # src: RFC 5321 4.2.3 "554 Transaction failed": says nothing more
    "556": "notaccept",      # src: RFC 7504 "556 Domain does not accept mail"
}

# ---------------------------------------------------------------------------
# 4. Reason → PowerMTA bounce category.
# ---------------------------------------------------------------------------
CATEGORIES: dict[str, str] = {
    "userunknown": "bad-mailbox",
    "hasmoved": "bad-mailbox",
    "hostunknown": "bad-domain",
    "notaccept": "bad-domain",
    "suspend": "inactive-mailbox",
    "mailboxfull": "quota-issues",
    "exceedlimit": "quota-issues",
    "systemfull": "quota-issues",
    "spamdetected": "spam-related",
    "blocked": "spam-related",
    "badreputation": "spam-related",
    "speeding": "spam-related",
    "feedback": "spam-related",
    "policyviolation": "policy-related",
    "filtered": "policy-related",
    "authfailure": "policy-related",
    "requireptr": "policy-related",
    "securityerror": "policy-related",
    "contenterror": "content-related",
    "mesgtoobig": "content-related",
    "notcompliantrfc": "content-related",
    "virusdetected": "virus-related",
    "expired": "message-expired",
    "networkerror": "no-answer-from-host",
    "toomanyconn": "bad-connection",
    "systemerror": "bad-configuration",
    "mailererror": "bad-configuration",
    "syntaxerror": "protocol-errors",
    "norelaying": "relaying-issues",
    "rejected": "invalid-sender",
    "onhold": "other",
    "undefined": "other",
    "vacation": "other",
    "delivered": "other",
}

#: Sisimai's pseudo status codes, used when a bounce names no status at all,
#: so that every record carries a comparable code ("5.0.911" = user unknown).
PSEUDO_STATUS: dict[str, str] = {
    "undefined": "900",
    "onhold": "901",
    "syntaxerror": "902",
    "norelaying": "909",
    "filtered": "910",
    "userunknown": "911",
    "hostunknown": "912",
    "hasmoved": "916",
    "rejected": "918",
    "suspend": "921",
    "mailboxfull": "922",
    "exceedlimit": "923",
    "systemerror": "930",
    "systemfull": "931",
    "notaccept": "932",
    "mesgtoobig": "934",
    "mailererror": "939",
    "networkerror": "944",
    "expired": "947",
    "contenterror": "960",
    "securityerror": "970",
    "blocked": "971",
    "requireptr": "973",
    "policyviolation": "972",
    "spamdetected": "980",
    "virusdetected": "981",
    "toomanyconn": "945",
    "authfailure": "974",
    "badreputation": "975",
    "notcompliantrfc": "976",
    "speeding": "946",
}

#: Reasons that mean "this address will never work".
HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved"})

#: PowerMTA writes its own verdict into its DSNs
#: (``X-PowerMTA-BounceCategory: bad-mailbox``); the unambiguous ones name
#: the reason outright.
POWERMTA_CATEGORIES: dict[str, str] = {
    "bad-mailbox": "userunknown",
    "bad-domain": "hostunknown",
    "inactive-mailbox": "suspend",
    "quota-issues": "mailboxfull",
    "virus-related": "virusdetected",
    "relaying-issues": "norelaying",
}

# ---------------------------------------------------------------------------
# 5. Per-provider wording: (remote host, text, reason). Providers that say
#    things their own way, matched on the remote MTA's name. Checked before
#    the general text table.
# ---------------------------------------------------------------------------
_HOST_RULES: tuple[tuple[str, str | None, str], ...] = (
    # src: au (KDDI) ezweb.ne.jp / au.com MTAs: they answer "550 : User unknown", with no address, when the
    # recipient's own reception settings refuse the sender.
    (r"ezweb\.ne\.jp|\bau\.com", r"\b550 : user unknown", "filtered"),
    # src: Microsoft Learn, Exchange Online NDR 5.4.1: Directory-Based Edge Blocking refuses recipients its
    # directory does not know with "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)".
    (r"\.protection\.outlook\.com$", r"recipient address rejected: access denied", "userunknown"),
    # src: Yahoo Sender Hub "SMTP error codes", TSS04: "temporarily deferred due to unexpected volume or user complaints".
    (r"yahoodns\.net|\byahoo\.com$", r"\[TSS04\]", "rejected"),
    # src: Comcast postmaster "Mail delivery error codes": BLnnn / BL000nnn name the block list the sending IP is on
    # src: Comcast postmaster "Mail delivery error codes" / Xfinity "Email error codes": ES000001 / ES000010, mail
    # from Comcast's own or external dynamic/residential IP space (the sending IP is blocked)
    (r"(?:^|\.)comcast\.net$", r"\bBL0\d+\b|\bES0000(?:01|10)\b", "blocked"),
    # src: AT&T rbl.att.net "421-failure in DNS look-up": the sending IP's reverse DNS lookup failed
    (r"(?:^|\.)(?:prodigy|att|sbcglobal|bellsouth)\.net$", r"failure in dns look-?up", "requireptr"),
    # src: 1&1 "SMTP Error Messages for the 1&1 Mail Server": 421/450 "Reject due to policy violations" = the IP of
    # the sending server is blocked (poor delivery rate, changing HELO)
    (r"(?:^|\.)(?:ionos|kundenserver|1and1|web|gmx)\.(?:de|net|com)$", r"reject due to policy violations", "blocked"),
    # src: Orange / La Poste (France) MTA replies ("421 mwinf... Service refuse. ... OFR_999 [999]"): the code
    # in brackets or after OFR_/LPN names the cause, one row per code (416 unknown recipient, 426 mailbox
    # closed, 505 system error, 999 refused sender, 506 spam, 630 client host refused)
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bOFR_?416\b|\[416\]", "userunknown"),
    # src: Orange / La Poste reply code LPN007_426, as above
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bLPN007_?426\b|\[426\]", "suspend"),
    # src: Orange / La Poste reply code OFR005_505, as above
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bOFR005_?505\b|\[505\]", "systemerror"),
    # src: Orange / La Poste reply code OFR_999, as above
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bOFR_?999\b|\[999\]", "blocked"),
    # src: Orange "550 5.2.0 Mail rejete. Mail rejected. ofr_506 [506]": its spam filter.
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bOFR_?506\b|\[506\]", "spamdetected"),
    # src: Orange / La Poste reply code LPN000_630 / "Client host rejected", as above
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bLPN000_?630\b|client host rejected", "policyviolation"),
    # src: Symantec (Broadcom) Email Security.cloud / MessageLabs refuses recipients its address list does not know
    # with "542 <address> Rejected".
    (r"(?:^|\.)messagelabs\.com$", r"^542 \S+ rejected|no such user", "userunknown"),
    # src: Mimecast "SMTP Error Codes" article: "554 Email rejected due to security policies" (its
    # anti-virus / signature verdict).
    (r"(?:^|\.)mimecast\.com$", r"rejected due to security polic", "virusdetected"),
    # src: NTT docomo (docomo.ne.jp) MTAs answer a bare "550 Unknown user" (no 5.1.1) when the
    # recipient's reception settings refuse the sender.
    (r"(?:^|\.)docomo\.ne\.jp$", r"^550 unknown user", "rejected"),
    # src: Amazon SES inbound (receiving, inbound-smtp.<region>.amazonaws.com) reports every refused recipient as
    # filtered, whatever its wording (matched on its reporting MTA).
    (r"^inbound-smtp\.[\w-]+\.amazonaws\.com$", r"mailbox does not exist|user unknown|no such user", "filtered"),
)

HOST_RULES: tuple[tuple[re.Pattern[str], re.Pattern[str] | None, str], ...]


def _compiled_table(name: str) -> tuple:
    """``TEXT_RULES``, ``STRONG_TEXT_RULES`` or ``HOST_RULES``: that table
    above with its patterns compiled."""
    if name == "HOST_RULES":
        return tuple((re.compile(host, RULE_FLAGS), re.compile(text, RULE_FLAGS) if text else None, reason)
                     for host, text, reason in _HOST_RULES)
    rows = _TEXT_RULES if name == "TEXT_RULES" else _STRONG_TEXT_RULES
    return tuple((re.compile(pattern, RULE_FLAGS), reason) for pattern, reason in rows)


def __getattr__(name: str) -> object:
    """The compiled tables, each made on first use (PEP 562) and kept as a
    module global from then on."""
    if name in ("STRONG_TEXT_RULES", "TEXT_RULES", "HOST_RULES"):
        table = globals()[name] = _compiled_table(name)
        return table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
