"""The rule tables behind :mod:`ingest.bounces.classify`.

Everything here is data: read top to bottom, first match wins. To teach the
classifier a new phrase, add a row next to its siblings and a test with a
sample that shows it. Patterns are case-insensitive and matched against the
unfolded diagnostic text (and, for non-DSN bounces, the explanation text).

Reason names are Sisimai's; categories are PowerMTA's 17 bounce categories.
"""

from __future__ import annotations

import re

# ---------------------------------------------------------------------------
# 1. Diagnostic text → reason. Ordered: the more specific a phrase, the
#    earlier its row. Remote servers say "rejected" about everything, so the
#    generic phrases come last.
# ---------------------------------------------------------------------------
_TEXT_RULES: tuple[tuple[str, str], ...] = (
    # The recipient's mailbox is full.
    (r"mailbox (?:is |was )?full|mailbox full|full mailbox|over ?quota|quota (?:exceeded|exceed|full)"
     r"|exceeded (?:storage|(?:his|her|their|the) (?:mailbox )?quota)|exceeds? (?:the )?(?:mailbox )?quota"
     r"|insufficient (?:mailbox )?quota|mailbox size limit|mailbox (?:has )?exceeded|disk quota"
     r"|not enough (?:storage|space) (?:for|in) (?:the )?(?:user|mailbox)|user(?:'s)? (?:mailbox|disk) (?:is )?full"
     r"|too much mail data|storage limit (?:exceeded|reached)|mail ?box is over|mailfolder is full"
     r"|maildir (?:over|exceeded)|account is full|is over (?:the )?(?:storage|size) (?:allocation|limit)",
     "mailboxfull"),
    # The message itself is too big.
    (r"message (?:is )?too (?:large|big)|message size exceeds|size (?:of (?:the )?message )?exceeds (?:the )?(?:maximum|fixed|size)"
     r"|exceeds (?:the )?(?:maximum|max) (?:allowed )?(?:message )?size|message file (?:exceeds|too big)"
     r"|message exceeds (?:local |the )?(?:size|maximum)|mail size limit|size limit exceeded|too big for (?:the )?system",
     "mesgtoobig"),
    (r"header (?:size )?exceeds|too many recipients|recipient limit|exceeded (?:the )?(?:message|recipient) limit",
     "exceedlimit"),
    (r"procmail|command died with status|command output:|pipe to \||unknown mailer error", "mailererror"),
    (r"duplicate header|message content rejected|header (?:line )?too long|headers? (?:are |is )?too large", "contenterror"),
    (r"multiple (?:addresses|senders) in (?:the )?from|not rfc ?5322 compliant|missing (?:a )?(?:valid )?(?:message-id|date)",
     "notcompliantrfc"),
    # Accounts that exist but cannot receive.
    (r"account (?:has been |is |was )?(?:disabled|suspended|deactivated|inactive|locked|frozen|closed|expired)"
     r"|mailbox (?:has been |is |was )?(?:disabled|suspended|deactivated|inactive|locked|frozen|closed)"
     r"|user (?:account )?(?:is |was )?(?:disabled|suspended|deactivated|inactive)|inactive (?:user|account|mailbox)"
     r"|(?:disabled|suspended|deactivated|dormant) (?:user|account|mailbox|recipient)|not an active (?:user|account|address)"
     r"|recipient (?:is |was )?(?:disabled|suspended|inactive)|this account has been disabled or discontinued"
     r"|(?:mailbox|address|account) (?:is )?(?:temporarily )?unavailable for (?:delivery|receiving)|is no longer active"
     r"|(?:user|account|mailbox|recipient)\b.{0,60}\b(?:temporar(?:y|ily) )?locked\b"
     # au (KDDI): "The user(s) account is temporarily limited." (service stopped)
     r"|account is temporarily limited",
     "suspend"),
    (r"has moved|address (?:has )?changed|no longer (?:with|at|works)|user not local; please try|moved permanently"
     r"|forwarding address|new (?:e-?mail )?address is",
     "hasmoved"),
    (r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed))|not (?:permitted|allowed|authori[sz]ed) to relay"
     r"|unable to relay|we do not relay|relaying (?:is )?(?:prohibited|disallowed|not supported)|no relaying|open relay"
     r"|relay (?:is )?not (?:permitted|allowed)|cannot relay|email address is not verified|relaying mail to .* is not allowed",
     "norelaying"),
    (r"does not accept (?:e-?)?mail|accepts? no (?:e-?)?mail|null mx|not accepting (?:any )?(?:e-?)?mail"
     r"|domain (?:has )?(?:a )?null mx|does(?:n.t| not) receive (?:e-?)?mail"
     # RFC 3463 X.3.2 "System not accepting network messages", in its own words
     r"|system not accepting network messages",
     "notaccept"),
    (r"\b(?:bad|poor|low|very low) (?:sender |ip |domain )?reputation|reputation (?:is|was) (?:too )?(?:low|poor|bad)"
     r"|\bblocked due to (?:poor|bad) reputation|low reputation of the sending|unexpected volume or user complaints"
     # Outlook.com: "451 4.7.650 The mail server [IP] has been temporarily rate limited due to IP reputation"
     r"|(?:limited|blocked|deferred|rejected) due to (?:\w+ )?reputation",
     "badreputation"),
    (r"blacklisted (?:url|link|uri|domain) in (?:the )?message|\buribl\b|\bsurbl\b|\bspam\b|spam (?:score|content|message|detected)|\buce\b|unsolicited (?:bulk |commercial )?(?:e-?)?mail"
     r"|junk ?mail|bulk mail|content (?:was )?rejected as|classified as (?:spam|bulk|junk)"
     r"|looks? like spam|rejected (?:as|for) (?:spam|bulk)|spamassassin|identified as spam|spam-?like"
     r"|suspected spam|probable spam|scored? too high|high spam|considered (?:spam|unsolicited)",
     "spamdetected"),
    # Authentication of the sender (SPF, DKIM, DMARC, reverse DNS).
    (r"reverse dns|reverse (?:dns )?lookup|\bptr\b|\brdns\b|reverse hostname|cannot find your hostname"
     r"|cannot resolve your (?:address|hostname)|ip name (?:lookup|possibly forged)|no reverse|hostname lookup failed"
     r"|does not have (?:a )?(?:valid )?reverse|mismatches client ip|not have (?:a )?(?:valid )?ptr|resolve (?:the )?ptr",
     "requireptr"),
    (r"\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework|not designated (?:as )?(?:a )?permitted sender"
     r"|domainkeys|unauthenticated (?:e-?)?mail|authentication (?:checks? )?(?:did not pass|failed)(?! .*(?:password|login))"
     r"|not authori[sz]ed to send (?:e-?mail|mail|on behalf)|does not have authentication information|fails to pass authentication|5\.7\.2[0-46]|5\.7\.29|authentication results? failed",
     "authfailure"),
    (r"\bvirus|malware|infected|trojan|worm\b|malicious (?:content|attachment|payload)", "virusdetected"),
    (r"too many (?:concurrent |simultaneous |smtp )?(?:connections|sessions)|connection (?:rate )?limit"
     r"|too many (?:concurrent|simultaneous)|connections? from your (?:host|ip) (?:is|are) too many",
     "toomanyconn"),
    (r"rate limit|(?:too many|many) (?:messages|emails|mails)|sending (?:rate|too fast)|slow down"
     r"|exceeded (?:the )?(?:sending|message) rate|too fast|throttl",
     "speeding"),
    # The domain publishes no usable mail exchanger (null MX, no MX, broken MX answer).
    (r"(?:couldn't|could not|unable to) find (?:a|any) mail exchanger|no mx (?:record )?(?:found )?for (?:domain|the domain)"
     r"|no mx (?:record )?found|type=mx: malformed|indicated no smtp service|mx (?:record )?(?:points|pointing) to (?:an )?invalid",
     "notaccept"),
    # "553 mail.example.org does not exist": a bare host name, not a mailbox.
    (r"(?<![@\w.<-])(?:[a-z0-9-]+\.)+[a-z]{2,} does not exist", "hostunknown"),
    # The sender's own address or domain, named as such.
    (r"all recipient addresses rejected ?: access denied|unroutable sender|sender was rejected|from:? (?:header )?domain (?:is )?invalid|provide a valid from"
     r"|sending to/from an address that has been (?:black|block)listed|sender address (?:has been )?(?:black|block)listed",
     "rejected"),
    # One connection sending too much, too often.
    (r"(?:ip|connection|connect) frequency limit|frequency limited|too many connections? (?:from|per)", "toomanyconn"),
    (r"content presents a potential", "policyviolation"),
    (r"did not accept our requests to connect", "expired"),
    (r"line limit exceeded|line too long", "mesgtoobig"),
    (r"invalid ip for sending", "blocked"),
    (r"not listed in (?:the )?(?:domino |public )*(?:directory|address book)|recipient name is not recognized"
     r"|ディレクトリのリストにありません|ディレクトリには見つかりません"
     r"|invalid final delivery userid|please check if (?:the )?address is correct",
     "userunknown"),
    # The recipient address does not exist.
    (r"user(?:name)? (?:is )?unknown|unknown (?:user|recipient|local[- ]?part|mailbox|address|e-?mail address)"
     r"|no such (?:user|recipient|mailbox|person|address|account|local user)|user (?:does ?n[o']t|not) exists?"
     r"|(?:user|recipient|mailbox|address|account) (?:was |is )?not found|(?:user|recipient|mailbox|address|account|e-?mail address)"
     r" (?:does ?n[o']t|do(?:es)? not|did not) exists?|invalid (?:recipient|mailbox|user|address|e-?mail address|e-?mail)"
     r"|(?:recipient|mailbox|address|user) (?:is )?(?:invalid|unavailable|not (?:valid|available|listed))"
     r"|not a (?:valid|known) (?:mailbox|user|recipient|address)|no mailbox (?:here|found|by that name)"
     r"|mailbox (?:name )?not (?:allowed|found|exist)|no valid recipients"
     r"|bad (?:destination )?(?:mailbox|recipient)|addressee unknown|unknown or illegal alias|account (?:is )?(?:not|n't) (?:exist|valid|available)"
     r"|not (?:our|a local) (?:customer|user)|no account (?:by that name|for)|undeliverable address"
     r"|recipient (?:not|no longer) (?:exist|on file|here)|user(?:'s)? (?:account|mailbox) (?:does not|doesn't) exist"
     r"|destination address (?:is )?(?:invalid|unknown)|is not a (?:known|valid) user"
     r"|no mailbox with that name|mailbox unavailable|requested action not taken: mailbox|unknown alias|email address could not be found"
     r"|alias (?:is )?(?:unknown|not found)",
     "userunknown"),
    (r"host (?:or domain name )?(?:not found|unknown)|unknown host|domain (?:name )?(?:not found|does not exist|doesn't exist|unknown)"
     r"|no such domain|unrouteable (?:mail )?domain|name service error|no (?:mx|dns)(?: or a)? records?|non-existent (?:host|domain)"
     r"|nxdomain|unrouteable address|invalid domain|domain (?:is )?(?:invalid|not (?:valid|exist))|unknown domain|mx (?:record )?(?:lookup|not found)"
     r"|host not found|dns (?:error|lookup).{0,40}(?:not found|failed|nxdomain)|domain (?:has )?no mx|not a valid domain|domain (?:is )?not reachable"
     r"|(?:recipient|destination) domain (?:is )?(?:not|invalid)|nodename nor servname|unable to resolve",
     "hostunknown"),
    # The sender (envelope MAIL FROM) was refused.
    (r"sender (?:address |domain )?(?:rejected|refused|denied|invalid|unknown|verify failed|not (?:allowed|accepted|permitted))"
     r"|(?:invalid|bad|unknown|unverified|illegal) sender|sender (?:domain|address) (?:must|does not|doesn't|not) (?:exist|resolve|found)"
     r"|mail from (?:address )?(?:rejected|refused|denied)|domain of sender address|sender verification|envelope sender"
     r"|return ?path|from address (?:is )?(?:invalid|rejected)|null sender|sender (?:is )?not authori",
     "rejected"),
    # The sending host or IP was refused. (A connection refused by the
    # loopback address is the sender's own relay being down, not a block.)
    (r"blocked using|listed (?:in|on|at|by)|black ?list|block ?list|\brbl\b|\bdnsbl\b|spamhaus|spamcop|sorbs|barracuda"
     r"|client host (?:\[[^\]]*\] )?(?:rejected|blocked)|your (?:ip|host|server|network)|(?:ip|host|client|sender ip) (?:address )?(?:is )?(?:\S+ )?(?:blocked|banned|denied|rejected|blacklisted)"
     r"|dynamic (?:ip|address)|dial-?up|residential|(?:access|connection) (?:denied|refused) (?:from|to|by|for)(?! \[?127\.)|banned"
     r"|refused to talk|not allowed to send|blocked by|temporarily (?:deferred|blocked|rejected)|\bblocked\b|access denied"
     # "554 IP=192.0.2.1 - A problem occurred. (Ask your postmaster ...) (BL)": a block-list tag
     r"|service unavailable; client|rejected because of your|\(BL\)|mail from .{0,60} (?:refused|rejected)",
     "blocked"),
    (r"polic(?:y|ies)|prohibited|not (?:allowed|permitted) (?:by|under|due)|violat|forbidden|not accepted by local",
     "policyviolation"),
    (r"delivery not authori[sz]ed|starttls|\btls\b|encryption (?:is )?required|authentication (?:is )?required|must (?:be )?authenticat"
     r"|smtp auth|not authenticated|unauthenticated senders?|certificate|secure connection|requires? (?:a )?secure",
     "securityerror"),
    (r"filter|this user doesn.t have an? .{1,30}account|refused by (?:the )?recipient|recipient (?:has )?(?:refused|blocked|rejected)|rejected by (?:the )?recipient"
     r"|user(?:'s)? (?:settings?|preference)|(?:declined|refused) (?:to accept|delivery)|does not (?:wish|want) to receive"
     r"|not accept(?:ing)? (?:messages )?from|only accept|restricted|recipient preferences",
     "filtered"),
    # Retries ran out.
    (r"retry time(?:out)? (?:not reached|exceeded)|delivery time ?(?:expired|exceeded)|message (?:has )?expired|expired after"
     r"|timed? ?out (?:in|while in) (?:the )?queue|too long in (?:the )?queue|could not be delivered (?:for|within) |giving up"
     r"|has been delayed|was not delivered within|queue lifetime|retry period (?:exceeded|expired)|maximum (?:time|delivery attempts)"
     r"|unable to deliver (?:for|within)|delivery (?:has )?(?:been )?(?:delayed|postponed)|will be retried|still (?:being )?retried"
     r"|delivery attempts? (?:will )?continue|expired|delayed",
     "expired"),
    (r"no route to host|connection (?:timed out|refused(?! by \[?127\.)|reset|closed|lost|dropped)|network (?:is )?unreachable|host unreachable"
     r"|lost connection|timed? ?out|could not connect|couldn't connect|unable to connect|connect to .{0,80} failed"
     r"|read error|broken pipe|too many hops|hop count|mail (?:for .{0,80} )?loops back|routing loop|mail loop|loop detected"
     r"|no answer|not responding|conversation with"
     # sendmail: "Deferred: Name server: example.jp.: host name lookup failure" (DNS did not answer)
     r"|host name lookup failure",
     "networkerror"),
    (r"system (?:is )?full|insufficient (?:system )?(?:storage|disk space)|out of (?:disk )?(?:space|storage)|queue (?:is )?full"
     r"|no space left",
     "systemfull"),
    (r"command (?:died|failed|exited|not found)|mailer (?:error|failed)|unknown mailer|pipe to |procmail|program (?:exited|failed)"
     r"|exit code|returned (?:exit )?status|local delivery failed|delivery to program",
     "mailererror"),
    (r"not (?:rfc|rfc ?5322|rfc ?2822) compliant|(?:rfc|rfc ?5322|rfc ?2822) complian|not compliant with (?:rfc|the rfc)"
     r"|missing (?:a )?(?:valid )?(?:message-id|date|from) header|duplicate header|malformed (?:header|message)"
     r"|message-id header|invalid (?:header|date|from|message-id)",
     "notcompliantrfc"),
    (r"content|attachment|mime|header line too long|8-?bit|charset|message body|line too long|illegal character",
     "contenterror"),
    (r"syntax error|command unrecognized|bad sequence|unrecognized command|command not (?:recognized|implemented)"
     r"|improper use of smtp|parameter not (?:recognized|implemented)|pipelining",
     "syntaxerror"),
    (r"system error|insufficient permission|(?:queue )?file write error|could not load drd for domain|unable to contact ldap server|transaction failed|internal (?:server )?error|configuration error|local (?:error|problem)|temporary local (?:problem|failure)"
     r"|server (?:error|busy)|service (?:not available|unavailable|temporarily)|resources? (?:temporarily )?unavailable"
     r"|too busy|database|unavailable",
     "systemerror"),
)

#: Phrases so specific to one provider's verdict that they beat the status
#: code and the SMTP stage (checked before both).
_STRONG_TEXT_RULES: tuple[tuple[str, str], ...] = (
    # amavisd-new: "Message content rejected, UBE" (unsolicited bulk e-mail)
    (r"\bUBE\b", "spamdetected"),
    # Yahoo: "554 delivery error: dd This user doesn't have a yahoo.com account"
    (r"delivery error: dd (?:this user doesn't have|requested mail ?box)", "userunknown"),
    # Gmail / Google Workspace: "the address couldn't be found, or is unable to receive mail"
    (r"because the address couldn't be found|the email account that you tried to reach does not exist", "userunknown"),
    # Exchange Online: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
    # (its 5.1.10 is not the RFC 7505 null MX meaning)
    (r"RESOLVER\.ADR\.RecipientNotFound|recipient not found by smtp address lookup", "userunknown"),
    # Gmail: "552-5.7.0 This message was blocked because its content presents a potential security issue"
    (r"content presents a potential", "policyviolation"),
    # Exchange Online: "550 5.4.312 Message expired, DNS query failed" (the cause, not the expiry)
    (r"dns query failed", "networkerror"),
    # Japanese ISPs (Outbound Port 25 Blocking): "Please use the smtp server of your ISP"
    (r"use the smtp server of your isp", "blocked"),
    # Outlook.com / Hotmail's SC-001..SC-004 refusals: "550 SC-004 ... Unfortunately,
    # messages from 192.0.2.1 weren't sent": the sending network is on its block list.
    (r"\bSC-00[1-4]\b|messages from \S+ weren.t sent", "blocked"),
    # Per-hour recipient caps (GoDaddy's "IB607 ... has sent to too many recipients this hour"):
    # the sender is going too fast, not the message too wide.
    (r"too many recipients (?:this|per|in the last) hour", "speeding"),
)

STRONG_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), reason) for pattern, reason in _STRONG_TEXT_RULES
)

TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), reason) for pattern, reason in _TEXT_RULES
)

# ---------------------------------------------------------------------------
# 2. Enhanced status code (RFC 3463 and registry) → reason. Exact code first,
#    then class-less "subject.detail". Codes whose meaning depends on the
#    text (X.7.1 "delivery not authorized") map to the text-less default.
# ---------------------------------------------------------------------------
STATUS_REASONS: dict[str, str] = {
    "1.0": "userunknown",   # other address status
    "1.1": "userunknown",   # bad destination mailbox address
    "1.2": "hostunknown",   # bad destination system address
    "1.3": "userunknown",   # bad destination mailbox address syntax
    "1.4": "userunknown",   # destination mailbox address ambiguous
    "1.5": "userunknown",   # destination address valid (used wrongly for unknowns)
    "1.6": "hasmoved",      # destination mailbox has moved, no forwarding address
    "1.7": "rejected",      # bad sender's mailbox address syntax
    "1.8": "rejected",      # bad sender's system address
    "1.9": "rejected",      # message relayed to non-compliant mailer
    "1.10": "notaccept",    # recipient address has null MX (RFC 7505)
    "2.0": "filtered",      # other or undefined mailbox status
    "2.1": "suspend",       # mailbox disabled, not accepting messages
    "2.2": "mailboxfull",   # mailbox full
    "2.3": "exceedlimit",   # message length exceeds administrative limit
    "2.4": "systemerror",   # mailing list expansion problem
    "3.0": "systemerror",   # other or undefined mail system status
    "3.1": "systemfull",    # mail system full
    "3.2": "systemerror",   # system not accepting network messages
    "3.3": "systemerror",   # system not capable of selected features
    "3.4": "mesgtoobig",    # message too big for system
    "3.5": "systemerror",   # system incorrectly configured
    "4.0": "networkerror",  # other or undefined network or routing status
    "4.1": "networkerror",  # no answer from host
    "4.2": "networkerror",  # bad connection
    "4.3": "systemerror",   # directory server failure
    "4.4": "hostunknown",   # unable to route
    "4.5": "toomanyconn",   # mail system congestion
    "4.6": "networkerror",  # routing loop detected
    "4.7": "expired",       # delivery time expired
    "5.0": "syntaxerror",   # other or undefined protocol status
    "5.1": "syntaxerror",   # invalid command
    "5.2": "syntaxerror",   # syntax error
    "5.3": "exceedlimit",   # too many recipients
    "5.4": "syntaxerror",   # invalid command arguments
    "5.5": "syntaxerror",   # wrong protocol version
    "5.6": "syntaxerror",   # authentication exchange line too long
    "6.0": "contenterror",  # other or undefined media error
    "6.1": "contenterror",  # media not supported
    "6.2": "contenterror",  # conversion required and prohibited
    "6.3": "contenterror",  # conversion required but not supported
    "6.4": "contenterror",  # conversion with loss performed
    "6.5": "contenterror",  # conversion failed
    "6.6": "contenterror",  # message content not available
    "6.7": "contenterror",  # non-ASCII addresses not permitted
    "6.8": "contenterror",
    "6.9": "contenterror",
    "6.10": "contenterror",
    "7.0": "securityerror",  # other or undefined security status
    "7.1": "rejected",       # delivery not authorized, message refused
    "7.2": "systemerror",    # mailing list expansion prohibited
    "7.3": "securityerror",  # security conversion required but not possible
    "7.4": "securityerror",  # security features not supported
    "7.5": "securityerror",  # cryptographic failure
    "7.6": "securityerror",  # cryptographic algorithm not supported
    "7.7": "securityerror",  # message integrity failure
    "7.8": "securityerror",  # authentication credentials invalid
    "7.9": "policyviolation",  # authentication mechanism is too weak
    "7.10": "securityerror",   # encryption needed
    "7.11": "securityerror",   # encryption required for requested mechanism
    "7.12": "securityerror",   # a password transition is needed
    "7.13": "suspend",         # user account disabled
    "7.14": "securityerror",   # trust relationship required
    "7.15": "securityerror",   # priority level is too low
    "7.16": "mesgtoobig",      # message too big for specified priority
    "7.17": "hasmoved",        # mailbox owner has changed
    "7.18": "hasmoved",        # domain owner has changed
    "7.19": "securityerror",   # RRVS test cannot be completed
    "7.20": "authfailure",     # no passing DKIM signature found
    "7.21": "authfailure",     # no acceptable DKIM signature found
    "7.22": "authfailure",     # no valid author-matched DKIM signature found
    "7.23": "authfailure",     # SPF validation failed
    "7.24": "authfailure",     # SPF validation error
    "7.25": "requireptr",      # reverse DNS validation failed
    "7.26": "authfailure",     # multiple authentication checks failed
    "7.27": "notaccept",       # sender address has null MX
    "7.28": "spamdetected",    # mail flood detected
    "7.29": "authfailure",     # ARC validation failure
    "7.30": "securityerror",   # REQUIRETLS support required
}

#: Statuses too vague to trust over the diagnostic text.
GENERIC_STATUSES = frozenset({"0.0", "0.000", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "7.0", "7.1"})

#: Statuses so specific that they beat the diagnostic text.
DECISIVE_STATUSES = frozenset({"1.6", "1.10", "7.13", "7.20", "7.21", "7.22", "7.23", "7.24", "7.25", "7.26", "7.29"})

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
    "421": "systemerror",   # service not available, closing channel
    # 450 and 451 say only "try again later": a recipient that failed with
    # nothing more is on hold (or expired, when the sender says it gave up).
    "452": "mailboxfull",   # insufficient system storage
    "454": "securityerror",  # TLS not available / temporary auth failure
    "500": "syntaxerror",
    "501": "syntaxerror",
    "502": "syntaxerror",
    "503": "syntaxerror",
    "504": "syntaxerror",
    "521": "notaccept",     # host does not accept mail (RFC 7504)
    "523": "mesgtoobig",
    "530": "securityerror",  # authentication required
    "534": "securityerror",
    "535": "securityerror",
    "550": "userunknown",   # mailbox unavailable
    "551": "hasmoved",      # user not local
    "552": "mailboxfull",   # exceeded storage allocation
    "553": "userunknown",   # mailbox name not allowed
    "554": "onhold",        # transaction failed: says nothing more
    "556": "notaccept",     # domain does not accept mail (RFC 7504)
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
    # au (KDDI) answers "550 : User unknown", with no address, when the
    # recipient's own reception settings refuse the sender.
    (r"ezweb\.ne\.jp|\bau\.com", r"\b550 : user unknown", "filtered"),
    # Exchange Online Protection refuses recipients its directory does not
    # know with "550 5.4.1 Recipient address rejected: Access denied".
    (r"\.protection\.outlook\.com$", r"recipient address rejected: access denied", "userunknown"),
    # Yahoo's TSS04: "temporarily deferred due to unexpected volume or user complaints".
    (r"yahoodns\.net|\byahoo\.com$", r"\[TSS04\]", "rejected"),
    # Orange / La Poste (France): the code in brackets or after OFR_/LPN names the cause.
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bOFR_?416\b|\[416\]", "userunknown"),
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bLPN007_?426\b|\[426\]", "suspend"),
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bOFR005_?505\b|\[505\]", "systemerror"),
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bOFR_?999\b|\[999\]", "blocked"),
    # "550 5.2.0 Mail rejete. Mail rejected. ofr_506 [506]": Orange's spam filter.
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bOFR_?506\b|\[506\]", "spamdetected"),
    (r"(?:^|\.)(?:orange|wanadoo|laposte)\.(?:fr|net)$", r"\bLPN000_?630\b|client host rejected", "policyviolation"),
    # Symantec MessageLabs refuses recipients its address list does not know
    # with "542 <address> Rejected".
    (r"(?:^|\.)messagelabs\.com$", r"^542 \S+ rejected|no such user", "userunknown"),
    # Mimecast: "554 Email rejected due to security policies" is its anti-virus verdict.
    (r"(?:^|\.)mimecast\.com$", r"rejected due to security polic", "virusdetected"),
    # NTT docomo answers a bare "550 Unknown user" (no 5.1.1) when the
    # recipient's reception settings refuse the sender.
    (r"(?:^|\.)docomo\.ne\.jp$", r"^550 unknown user", "rejected"),
    # Amazon SES inbound (receiving) reports every refused recipient as
    # filtered, whatever its wording (matched on its reporting MTA).
    (r"^inbound-smtp\.[\w-]+\.amazonaws\.com$", r"mailbox does not exist|user unknown|no such user", "filtered"),
)

HOST_RULES: tuple[tuple[re.Pattern[str], re.Pattern[str] | None, str], ...] = tuple(
    (re.compile(host, re.IGNORECASE), re.compile(text, re.IGNORECASE) if text else None, reason)
    for host, text, reason in _HOST_RULES
)
