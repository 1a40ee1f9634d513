"""The classifier's tables: text first, then enhanced status, then reply code."""

from __future__ import annotations

import pytest

from bounceledger.ingest.bounces.classify import classify, explain, find_replycode, find_status, is_hard


@pytest.mark.parametrize(
    ("status", "reply", "text", "reason"),
    [
        ("5.1.1", None, "550 5.1.1 <a@b>: Recipient address rejected: User unknown", "userunknown"),
        ("5.0.0", None, "550 Requested action not taken: mailbox unavailable", "userunknown"),
        ("5.2.2", None, "552 5.2.2 Mailbox full", "mailboxfull"),
        ("5.7.1", None, "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "blocked"),
        ("5.7.1", None, "550 5.7.1 Message rejected as spam by Content Filtering", "spamdetected"),
        ("5.7.1", None, "554 5.7.1 <a@b>: Relay access denied", "norelaying"),
        ("5.7.1", None, "550 5.7.1 Mailbox full", "mailboxfull"),  # words beat lazy codes
        ("5.4.4", None, "Host or domain name not found. Name service error", "hostunknown"),
        ("5.7.26", None, "550 5.7.26 This message does not have authentication information", "authfailure"),
        ("5.7.25", None, "550 5.7.25 The IP address sending this message does not have a PTR record", "requireptr"),
        ("5.3.4", None, "552 5.3.4 Message size exceeds fixed limit", "mesgtoobig"),
        ("4.4.1", None, "connect to mx.example[192.0.2.9]:25: Connection timed out", "networkerror"),
        ("5.1.10", None, None, "notaccept"),
        ("5.7.13", None, None, "suspend"),
        (None, "552", None, "mailboxfull"),
        # the wording says it plainly (issue 13, class 4); sources in reasons.py
        (None, None, "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", "norelaying"),
        ("5.0.0", None, "553 sorry, that domain isn't in my list of allowed rcpthosts.", "norelaying"),
        (None, None, "552 Mailbox quota usage exceeded", "mailboxfull"),
        (None, None, "552 Max message size exceeded", "mesgtoobig"),
        ("5.0.0", None, "Name or service not known", "hostunknown"),
        ("4.4.3", None, "Temporary failure in name resolution", "networkerror"),
        ("5.0.0", None, "552 too many connections", "toomanyconn"),
        ("5.4.5", None, "550 5.4.5 Daily user sending limit exceeded", "speeding"),
        ("5.7.1", None, "554 5.7.1 Your account has been suspended", "suspend"),
        ("5.3.2", None, None, "notaccept"),   # RFC 3463 X.3.2, read as RFC 7504's 521
        (None, "521", None, "notaccept"),
        ("5.7.27", None, None, "rejected"),   # the sender's null MX, not the recipient's
        # the envelope sender refused: what follows is said of the sender, never of the recipient
        ("5.1.8", None, "550 5.1.8 <bounces@news.example>: Sender address rejected: Domain not found", "rejected"),
        ("4.1.8", None, "450 4.1.8 <bounces@news.example>: Sender address rejected: Domain not found", "rejected"),
        ("5.1.0", None, "550 5.1.0 <bounces@news.example>: Sender address rejected: User unknown in local recipient table",
         "rejected"),
        (None, None, "550-Verification failed for <bounces@news.example>\n550-Unrouteable address\n550 Sender verify failed",
         "rejected"),
        ("4.3.0", None, "451 4.3.0 <a@b.example>: Temporary lookup failure", "systemerror"),
        # Postfix's restriction prefix before its own table failure: the server's fault, no block
        ("4.3.5", "451", "451 4.3.5 <localhost[127.0.0.1]>: Client host rejected: Server configuration error", "systemerror"),
        ("4.3.5", "451", "451 4.3.5 <x.example>: Helo command rejected: Server configuration error", "systemerror"),
        ("4.3.5", "451", "451 4.3.5 <a@b.example>: Sender address rejected: Server configuration error", "systemerror"),
        ("4.3.0", "451", "451 4.3.0 <mx.example[192.0.2.1]>: Client host rejected: Temporary lookup failure", "systemerror"),
        ("4.3.0", "451", "451 4.3.0 <a@b.example>: Sender address rejected: Temporary lookup failure", "systemerror"),
        # refused before any recipient was named (RFC 5321 3.3, 4.1.1.1): the sender or the client host
        ("5.1.1", None, "550 5.1.1 <bounces@news.example>... User unknown (in reply to MAIL FROM command)", "rejected"),
        ("5.1.0", None, "550 5.1.0 Address rejected bounces@news.example (in reply to MAIL FROM command)", "rejected"),
        ("5.7.1", None, "550 5.7.1 <mta.news.example>: Helo command rejected: Host not found", "blocked"),
        (None, None, "550 Host not found (in reply to HELO command)", "blocked"),
        ("5.1.1", None, "550 5.1.1 <a@b.example>: user unknown (in reply to end of DATA command)", "userunknown"),
        ("4.1.1", None, "450 4.1.1 <a@b.example>: Recipient address rejected: unverified address: "
                        "Address verification in progress", "onhold"),
        # the connecting client refused, not the recipient's domain
        ("5.7.1", None, "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: Host not found", "blocked"),
        ("5.7.1", None, "550 5.7.1 Access denied: unknown host 192.0.2.1", "blocked"),
        # RFC 7504/7505's wholesale "does not accept mail", not a refusal of one sender or client
        ("5.3.2", "521", "521 5.3.2 mx.example.org does not accept mail", "notaccept"),
        ("5.7.1", None, "550 5.7.1 This server does not accept mail from your IP address", "blocked"),
        ("5.7.1", None, "553 5.7.1 The recipient does not accept mail from this sender", "filtered"),
        # the sender's own address or domain (RFC 3463 X.1.7, X.1.8), whatever the words say
        ("5.1.8", None, "553 5.1.8 Sender domain news.example does not exist", "rejected"),
        ("5.1.7", None, "501 5.1.7 Bad sender address syntax", "rejected"),
        ("5.7.1", None, "550 5.7.1 Message rejected: Sender domain does not exist", "rejected"),
        ("5.7.1", None, "554 5.7.1 Sender domain has no MX record", "rejected"),
        ("5.1.2", None, "550 5.1.2 <a@b.example>: Recipient address rejected: Domain not found", "hostunknown"),
        ("5.2.2", None, "552-5.2.2 The recipient's inbox is out of storage space and inactive.", "mailboxfull"),
        ("5.2.121", None, "550 5.2.121 Recipient's per hour message receive limit from specific sender exceeded",
         "speeding"),
        ("5.7.9", None, None, "securityerror"),  # RFC 4954 AUTH: mechanism too weak
        # providers' published replies (Exchange Online NDR list, Google's SMTP error reference, Yahoo's
        # Sender Hub error codes); sources beside the rows in reasons.py
        ("5.7.510", None, "550 5.7.510 Access denied, contoso.com does not accept email over IPv4", "blocked"),
        ("5.7.512", None, "550 5.7.512 Access denied, message must be RFC 5322 section 3.6.2 compliant",
         "notcompliantrfc"),
        ("5.7.515", None, "550 5.7.515 Access denied, sending domain contoso.com doesn't meet the required "
                          "authentication level", "authfailure"),
        ("5.7.124", None, "550 5.7.124 Sender not in allowed-senders list", "rejected"),
        ("5.6.11", None, "550 5.6.11 SMTPSEND.BareLinefeedsAreIllegal; message contains bare linefeeds",
         "contenterror"),
        ("5.6.211", None, None, "contenterror"),  # RFC 3463 3.7: every X.6.XXX is about the content
        ("4.3.2", None, "432 4.3.2 STOREDRV.Deliver; recipient thread limit exceeded", "speeding"),
        ("4.2.1", None, "450 4.2.1 The user you are trying to contact is receiving mail too quickly. "
                        "Please resend your message at a later time.", "speeding"),
        ("4.7.28", None, "421 4.7.28 Gmail has detected an unusual rate of mail originating from your SPF domain "
                         "[news.example]. To protect our users from spam, mail sent from your domain has been "
                         "temporarily rate limited.", "speeding"),
        ("4.7.650", None, "451 4.7.650 The mail server [192.0.2.25] has been temporarily rate limited due to IP "
                          "reputation.", "badreputation"),
        ("4.7.0", None, "421 4.7.0 [TSS09] All messages from 192.0.2.1 will be permanently deferred; "
                        "Retrying will NOT succeed.", "blocked"),
        # Cisco AsyncOS's per-hour recipient cap: the sender's rate, not the message's width
        (None, "452", "452 Too many recipients received this hour", "speeding"),
        # Exim's reply to an ACL deny without a message of its own
        (None, "550", "550 Administrative prohibition", "policyviolation"),
        # greylisting (postgrey's default text after Postfix's own words): an anti-spam deferral
        ("4.2.0", "450", "450 4.2.0 <a@b.example>: Recipient address rejected: Greylisted, see "
                         "http://postgrey.schweikert.ch/help/b.example.html", "blocked"),
        # greylisted until the sender gave up: an expiry, nothing ever refused it
        ("4.4.7", "451", "451 4.2.0 <a@b.example>: Recipient address rejected: Greylisted, try again later",
         "expired"),
        # Mimecast's replies link community.mimecast.com: no MIME (content) error in the address
        (None, "451", "451 Internal resource temporarily unavailable - "
                      "https://community.mimecast.com/docs/DOC-1369#451", "systemerror"),
        # MessageLabs's relay refusal names no mailbox: not the 553 "mailbox name not allowed"
        ("5.7.1", "553", "553-you are trying to use me [server-7.tower-31.messagelabs.com] as a relay, but I have "
                         "not been configured to let you (192.0.2.25, mta.shop.example) do this. (#5.7.1)", "norelaying"),
        # Yandex: the recipient's account is blocked (its help pages), not our message
        ("5.7.1", "554", "554 5.7.1 Policy rejection on the target address", "suspend"),
        # hMailServer: the recipient's domain has no mail server
        (None, "550", "No mail servers appear to exists for the recipient's address.", "hostunknown"),
        # Google's current rate wording says "email" (its X.2.1 code would read "mailbox disabled")
        ("4.2.1", "450", "450 4.2.1 The recipient is receiving email too quickly. Please try again later.", "speeding"),
        ("5.2.1", "550", "550 5.2.1 The user you are trying to contact is receiving email at a rate that prevents "
                         "additional messages from being delivered.", "speeding"),
        (None, "554", "554 resimta-h1p-01.sys.comcast.net 192.0.2.1 found on one or more DNSBLs, see "
                      "http://postmaster.comcast.net/smtp-error-codes.php#BL000001", "blocked"),
        ("4.3.2", "421", "421 4.3.2 Too many open connections.", "toomanyconn"),  # sendmail's MaxDaemonChildren
        (None, "552", "552 User has too many messages on the server.", "mailboxfull"),  # GMX / WEB.DE
        (None, "550", "550 User has exhausted allowed storage space.", "mailboxfull"),
        ("4.3.2", "554", "554 4.3.2 mailbox busy; STOREDRV.Deliver.Exception:StoragePermanentException."
                         "MapiExceptionMaxObjsExceeded; Failed to process message", "mailboxfull"),
        # the cause Google names before the "temporarily rate limited" it ends with
        ("4.7.0", "421", "421 4.7.0 The IP address sending this message does not have a PTR record, or the "
                         "corresponding forward DNS entry does not point to the sending IP. To protect our users from "
                         "spam, email sent from your IP address has been temporarily rate limited.", "requireptr"),
        ("4.7.24", "451", "451 4.7.24 The SPF record of the sending domain has one or more suspicious entries. To "
                          "protect our users from spam, email sent from your IP address has been temporarily rate "
                          "limited.", "authfailure"),
        # Exchange Online: the sender's own daily limits; "5.7.233" is no RFC 7372 5.7.23
        ("5.7.233", "550", "550 5.7.233 Your message can't be sent because your tenant has exceeded its daily limit "
                           "for sending email to external recipients", "speeding"),
        ("5.1.90", "550", "550 5.1.90 Your message can't be sent because you've reached your daily limit for "
                          "message recipients", "speeding"),
        (None, "421", "421 RP-001 (BAY004-MC1F43) Unfortunately, some messages from 192.0.2.1 weren't sent. Please "
                      "try again. We have limits for how many messages can be sent per hour and per day.", "speeding"),
        (None, "421", "421 RP-003 (BAY004-MC1F43) Unfortunately, some messages from 192.0.2.1 weren't sent.",
         "toomanyconn"),
        (None, "550", "550 [suspend] Mailbox currently suspended--Please contact correspondent directly", "suspend"),
        (None, "550", "550 [permfail] bellsouth.net requires valid sender domain", "rejected"),
        ("4.7.1", "450", "450 4.7.1 Error: too much mail from 192.0.2.1", "speeding"),  # Postfix anvil
        ("4.2.1", "450", "450 4.2.1 <a@b.example>: Mailbox received too much email in a short period of time (G30)",
         "speeding"),
        ("4.2.1", "450", "450 4.2.1 Peak SMTP relay limit exceeded for this customer.", "speeding"),
        ("4.7.1", "421", "421 4.7.1 Messages to a@icloud.com deferred due to excessive volume.", "speeding"),
        ("4.4.2", "421", "421 4.4.2 Message submission rate for this client has exceeded the configured limit",
         "speeding"),
        ("4.7.1", "450", "450 4.7.1 Mail from 192.0.2.1 deferred using Trend Micro Email Reputation database.",
         "blocked"),
        # RFC 5321's 450 text: "mailbox unavailable (e.g., mailbox busy ...)" says nothing of the address
        (None, "450", "450 Requested mail action not taken: mailbox unavailable", "onhold"),
        (None, "550", "550 Requested action not taken: mailbox unavailable", "userunknown"),
        # amavisd-new's banned attachment: the content, not the sender
        ("5.7.0", "554", "554 5.7.0 Reject, id=24197-14 - BANNED: P=p003,L=1,M=multipart/mixed | P=p002,L=1/2,T=exe,"
                         "N=invoice.exe", "policyviolation"),
        # Postfix's recipient restrictions answer RCPT: "user unknown" behind a policy status is still proof
        ("5.7.1", "554", "554 5.7.1 <a@b.example>: Recipient address rejected: User unknown", "userunknown"),
        # QQ Mail's notices say why in Chinese: "this user does not exist", "the recipient's space is not enough"
        (None, None, "收件人: a@qq.example 退信原因 该用户不存在", "userunknown"),
        (None, None, "退信原因 收件人空间不足", "mailboxfull"),
        # a group that takes posts from its members only refuses the sender, it says nothing of the address
        ("5.0.0", "550", "550 The group you tried to contact may not exist, or you may not have permission to "
                         "post messages to the group.", "rejected"),
        (None, None, "Sorry, only subscribers may post. If you are a subscriber, please forward this message to "
                     "list-owner@b.example to get your new address included.", "rejected"),
        # the sending identity refused: a relay's verified senders, a recipient's block list, a provider's own domain
        (None, "550", "550 The from address does not match a verified Sender Identity. Mail cannot be sent until "
                      "this error is resolved.", "rejected"),
        (None, "554", "554 Sandbox subdomains are for test purposes only. Please add your own domain or add the "
                      "address to authorized recipients in Account Settings.", "rejected"),
        (None, "550", "550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550", "rejected"),
        (None, "550", "550 Rejected by header based Blocked Senders: news@sender.test - "
                      "https://community.mimecast.com/docs/DOC-1369#550", "rejected"),
        (None, "550", "550 Forbidden domain 'strato.de' in Envelope-From (B-EFROM-STRATO)", "rejected"),
        ("5.1.1", "550", "550 5.1.1 <bounces@sender.test> sender is blocklisted", "rejected"),
        # the sending host refused for what it sent before, not this message
        ("4.3.0", "451", "451 4.3.0 <mx.example[192.0.2.1]>: Client host rejected: Throttled - Too much spam from "
                         "your mail server. Try again later.", "blocked"),
        ("4.7.500", "451", "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (AS77712344)", "blocked"),
        # ... and Outlook.com's 4.7.650 in that range names its cause itself
        ("4.7.650", "451", "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP "
                           "reputation.", "badreputation"),
        ("5.5.4", "554", "554 5.5.4 IP sender address with a negative reputation", "badreputation"),
        # a gateway's content policy (its words outweigh the 552 of a full mailbox)
        ("5.7.1", "550", "550 5.7.1 Message rejected due to content restrictions", "policyviolation"),
        (None, "552", "552 MS-Office file containing VBA macros found inside of the email", "policyviolation"),
        # Alibaba Mail: the recipient has no mailbox there (its words outweigh the 503 of a bad sequence)
        (None, "503", "503 Rcptto account isn't a local account", "userunknown"),
        # Domino R5's wording of its directory
        (None, None, "User kwhite (kwhite@b.example) not listed in public Name & Address Book", "userunknown"),
    ],
)
def test_reason_table(status, reply, text, reason):
    assert classify(status, reply, text).reason == reason


@pytest.mark.parametrize(
    ("status", "reply", "text", "host", "reason"),
    [
        # the sending side's own limits, credentials and transport (sources beside each row in reasons.py)
        ("4.7.28", "421", "421-4.7.28 Gmail has detected this sender exceeded the quota for sending messages that "
                          "have the same Message-ID:", None, "speeding"),
        ("4.7.1", "450", "450 4.7.1 Error: too many recipients from [192.0.2.1]", None, "speeding"),
        ("4.5.0", "450", "450 4.5.0 Message rejected.  Excessive message rate from sender to recipient.", None, "speeding"),
        ("4.3.2", "421", "421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing "
                         "transmission channel", None, "toomanyconn"),
        ("4.7.0", "421", "421 4.7.0 [CXCNCT] Connection limit reached AUP#CXCNCT", None, "toomanyconn"),
        ("5.7.8", "535", "535 5.7.8 Error: authentication failed: authentication failure", None, "securityerror"),
        (None, None, "SASL authentication failed; server relay.b.example[192.0.2.7] said: 535 5.7.8 Error: "
                     "authentication failed", None, "securityerror"),
        ("4.7.29", "421", "421-4.7.29 Your email has been rate limited because you're not using a TLS connection",
         None, "securityerror"),
        ("4.5.3", "452", "452 4.5.3 Domain policy size per transaction exceeded, please try this recipient in a "
                         "separate transaction", None, "exceedlimit"),
        ("5.3.4", "552", "552-5.3.4 The number of attachments (600) exceeds Google's limit of 500 attachments",
         None, "mesgtoobig"),
        (None, "452", "452 Space shortage, please try later", None, "systemfull"),
        # the message itself
        ("5.7.1", "550", "550-5.7.1 Messages missing a valid address in the From: header, or having no From: "
                         "header, are not accepted.", None, "notcompliantrfc"),
        ("5.7.1", "558", "558 5.7.1 Message content rejected due to suspected spam", None, "spamdetected"),
        ("5.7.0", "552", "552-5.7.0 Our system detected an illegal attachment on your message.", None, "policyviolation"),
        ("5.7.1", "550", "550 5.7.1 Your email was rejected due to having a domain present in the Spamhaus DBL",
         None, "spamdetected"),
        # the sending host or domain
        ("4.7.0", "421", "421 4.7.0 IP not in whitelist for RCPT domain, closing connection.", None, "blocked"),
        (None, "553", "553 Mail from 192.0.2.1 not allowed", None, "blocked"),
        (None, "550", "550 unauthorized interface for 192.0.2.1", None, "blocked"),
        (None, "451", "451 Message temporarily deferred due to unresolvable RFC.5321 from domain", None, "rejected"),
        (None, "554", "554 Relay rejected for policy reasons.", None, "norelaying"),
        ("5.7.520", "550", "550 5.7.520 Access denied, Your organization does not allow external forwarding.",
         None, "policyviolation"),
        (None, "554", "554 30 Sorry, your message to a@yahoo.example cannot be delivered. Excessive unknown "
                      "recipients", None, "blocked"),
        # delivery by program and routing loops
        (None, None, "Child process of address_pipe transport returned 127 (could mean unable to exec or command "
                     "does not exist) from command: /usr/local/bin/handler", None, "mailererror"),
        ("5.4.4", "554", "554 5.4.4 SMTPSEND.DNS.MxLoopback; DNS records for this domain are configured in a loop",
         None, "networkerror"),
        # providers' own codes, read only from their hosts
        (None, "554", "554 resimta-po-21v.sys.comcast.net 192.0.2.44 Comcast BL009 Blocked for spam. Please see "
                      "http://postmaster.comcast.net/smtp-error-codes.php#BL000009", "mx1.comcast.net", "blocked"),
        (None, "421", "421-failure in DNS look-up", "ff-ip4-mx-vip1.prodigy.net", "requireptr"),
        (None, "421", "421 Reject due to policy violations", "mx00.ionos.de", "blocked"),
        # NetEase's own codes name the cause the reply's class does not
        ("4.0.0", "451", "451 DT:SPM 163 smtp10,DsCowADX3l8 please try again", None, "spamdetected"),
        (None, "421", "421 HL:ICC 163 smtp3 too many connections", None, "toomanyconn"),
        (None, "451", "451 MI:SFQ 163 smtp5,DsCowAB, please try again", None, "speeding"),
        (None, "450", "450 WM:BLI 163 mx4,IP not allowed", None, "blocked"),
        # gromox's local bounces in Chinese and Japanese; Plesk's in English and Russian
        ("5.0.0", None, "因为该收件人并不存在！请验证该邮件地址是否真实有效。", None, "userunknown"),
        ("5.0.0", None, "因為收件人郵箱已滿，無法再接收任何郵件。", None, "mailboxfull"),
        ("5.0.0", None, "システムエラーがあったため、メールが正しく送信できません。", None, "systemerror"),
        (None, None, "This address no longer accepts mail.", None, "userunknown"),
        (None, None, "этот адрес больше не принимает писем", None, "userunknown"),
        # a wrapped line's space inside a Japanese phrase is the unfolding's, not the template's
        ("5.0.0", None, "受信者のメールボックスが\n一杯になって", None, "mailboxfull"),
        # Postfix's reject_rbl_client reply: the client is listed, whatever the list's comment says
        ("5.7.1", "554", "554 5.7.1 Service unavailable; Client host [192.0.2.9] blocked using "
                         "dnsbl.sorbs.net; Currently Sending Spam See: http://www.sorbs.net/lookup.shtml?192.0.2.9",
         None, "blocked"),
        # Exchange Online Protection: the domain takes no mail in that tenant
        ("4.4.4", "451", "451 4.4.4 Mail received as unauthenticated, incoming to a recipient domain configured in "
                         "a hosted tenant which has no mail-enabled subscriptions. ATTR5", None, "notaccept"),
        ("5.0.0", "550", "550 4.2.1 mailbox temporarily disabled: a@verizon.example", None, "suspend"),
        # cPanel's Exim RBL ACL names the list the connecting host is on
        (None, "550", "550 JunkMail rejected - mta1.sender.test [192.0.2.25]:52100 is in an RBL: Blocked - see "
                      "https://www.spamcop.net/bl.shtml?192.0.2.25", None, "blocked"),
        # Exchange Online's DANE checks, and its per-IPv6-range sending limit
        (None, "550", "550 tlsa-invalid: The domain failed DANE validation.", None, "securityerror"),
        ("5.7.508", "550", "550 5.7.508 Access denied, [2001:db8:1f70::27] has exceeded permitted limits within "
                           "2001:db8:1f70::/48 range", None, "speeding"),
        # dead or alive: the words and the status decide which side of the hard/soft line an address is on
        (None, "550", "550 Recipient unknown", None, "userunknown"),
        (None, "550", "550 Mailbox unknown. Either there is no mailbox associated with this name or you do not "
                      "have authorization to see it.", None, "userunknown"),
        ("5.1.1", "550", "550 5.1.1 This account has been temporarily suspended", None, "suspend"),
        ("5.2.1", "550", "550 5.2.1 Requested action not taken: mailbox unavailable", None, "suspend"),
        # gateways: a status naming the message's size beats RFC 5321's generic 552 words; the sending IP's
        # standing; a recipient's blocked-senders policy
        ("5.3.4", "552", "552 5.3.4 Requested mail action aborted: exceeded storage allocation", None, "mesgtoobig"),
        ("5.7.1", "550", "550 5.7.1 Message rejected due to sender IP reputation", None, "badreputation"),
        (None, "550", "550 Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550",
         None, "rejected"),
        # Postfix reject_unknown_recipient_domain: the server's verdict on the domain (RFC 3463 X.1.2), not
        # the sender's own DNS failure (postconf(5): no MX and no A record; 450 is the default reject code)
        ("4.1.2", "450", "450 4.1.2 <pat@nx.example>: Recipient address rejected: Domain not found", None, "hostunknown"),
        # Google: the receiving system's own transient state, not a block of the sender
        ("4.3.0", "451", "451 4.3.0 Mail server temporarily rejected message. d2-20020a05 - gsmtp", None, "systemerror"),
        ("4.7.1", "451", "451 4.7.1 Temporarily rejected: try again later", None, "blocked"),
    ],
)
def test_reason_rows_of_providers_and_mtas(status, reply, text, host, reason):
    assert classify(status, reply, text, host).reason == reason


def test_an_unregistered_detail_of_the_system_or_security_subject_means_its_subject():
    """RFC 3463 section 2: the subject classifies the status (Exchange Online's 5.3.190, 5.7.323)."""
    assert classify("5.3.190", "550", "550 5.3.190 Journaling on-premises messages to Microsoft 365 not supported").reason \
        == "systemerror"
    assert classify("5.7.399", "550", None).reason == "securityerror"


def test_a_misconfigured_forwarding_address_has_not_moved():
    """Exchange's 'misconfigured forwarding address' is the recipient's broken rule, not a new address
    (a hard 'hasmoved' would suppress a live mailbox)."""
    for text in ("550 5.2.0 RESOLVER.FWD.Invalid; misconfigured forwarding address",
                 "The recipient's forwarding address is misconfigured. Contact the recipient's email admin."):
        found = classify("5.2.0", "550", text)
        assert (found.reason, found.hardbounce) != ("hasmoved", True), text


def test_a_domain_that_takes_mail_over_the_other_ip_version_is_no_hard_bounce():
    """Exchange Online's 5.7.510 refuses a path (IPv4), not the address: nothing to suppress."""
    found = classify("5.7.510", "550", "550 5.7.510 Access denied, contoso.com does not accept email over IPv4")
    assert (found.reason, found.hardbounce) == ("blocked", False)


def test_failed_with_temporary_status_is_not_expired_by_itself():
    """Sisimai 5.1.0 (the reference): a relay that gave up on a 4xx with no
    named cause is "onhold", not "expired"; a named cause wins either way."""
    result = classify("4.2.0", None, "451 4.2.0 Recipient address rejected: try again later", action="failed")
    assert result.reason == "onhold"
    assert classify("4.0.0", None, "451 Could not load DRD for domain (example.org)", action="failed").reason == "systemerror"


def test_sender_that_gave_up_after_the_queue_lifetime_is_expired():
    """Product rule: when the sending MTA says it gave up because the queue
    lifetime ran out (a Postfix DSN failing with 4.x.x), nothing specific
    means expired; a specific cause is still reported as such."""
    result = classify("4.2.0", None, "451 4.2.0 Recipient address rejected: try again later", action="failed",
                      gave_up=True)
    assert result.reason == "expired"
    assert result.category == "message-expired"
    assert classify("4.0.0", None, "451 Could not load DRD for domain (example.org)", action="failed",
                    gave_up=True).reason == "systemerror"


def test_a_greylisted_recipient_still_being_retried_is_no_block():
    """A delay warning about greylisting (a deferral that passes on a later try) says the
    message is still queued: nothing refused it, as when the sender gave up on it."""
    text = "451 4.7.1 Greylisting in action, please come back later"
    assert classify("4.7.1", "451", text, action="delayed").reason == "expired"
    assert classify("4.7.1", "451", text).reason == "blocked"  # said of no delay: the deferral itself


def test_an_exchange_connect_timeout_given_by_number_is_an_expiry():
    """Exchange names a connection timeout by its Windows Sockets code (10060, WSAETIMEDOUT):
    the same expiry as "Connection timed out" in words, not a network error."""
    text = ('441 4.4.1 Error encountered while communicating with primary target IP address: '
            '"Failed to connect. Winsock error code: 10060, Win32 error code: 10060."')
    assert classify("4.4.1", None, text, action="delayed").reason == "expired"
    words = "441 4.4.1 Error encountered while communicating with primary target IP address: Connection timed out"
    assert classify("4.4.1", None, words, action="delayed").reason == "expired"


def test_hardbounce_rules():
    assert classify("5.1.1", None, "user unknown").hardbounce
    assert not classify("5.2.2", None, "mailbox full").hardbounce
    assert classify("5.1.10", None, "null MX").hardbounce  # notaccept with 5xx
    assert not classify("4.1.10", None, "null MX").hardbounce


def test_generic_status_refined_from_text():
    result = classify("5.0.0", None, "550 5.1.1 No such user here")
    assert result.status == "5.1.1" and result.replycode == "550"


def test_pseudo_status_when_no_code():
    result = classify(None, None, "Sorry, the user's mailbox is full")
    assert result.reason == "mailboxfull"
    assert result.status == "5.0.922"


def test_status_and_reply_extraction_avoid_ip_addresses():
    assert find_status("host 5.1.1.4 said: 550 5.7.1 blocked") == "5.7.1"
    assert find_replycode("from 192.0.2.550 said: 550-5.7.1 go away") == "550"
    assert find_replycode("451 4.7.1 try later", "4.7.1") == "451"


@pytest.mark.parametrize(
    ("code", "status", "reply", "reason", "hard", "permanent"),
    [
        ("5.7.1", "5.7.1", None, "rejected", False, True),
        ("550 5.1.1", "5.1.1", "550", "userunknown", True, True),
        ("452-4.2.2", "4.2.2", "452", "mailboxfull", False, False),
        # a detail of the content subject no registry lists (Exchange Online's bare line feeds)
        ("5.6.11", "5.6.11", None, "contenterror", False, True),
    ],
)
def test_explain(code, status, reply, reason, hard, permanent):
    e = explain(code)
    assert (e.status, e.replycode, e.reason, e.hardbounce, e.permanent) == (status, reply, reason, hard, permanent)
    assert e.meaning
    assert e.category


def test_explain_words():
    assert "mailbox is full" in explain("452-4.2.2").meaning
    assert "Permanent" in explain("550 5.1.1").meaning


def test_a_host_without_provider_rules_changes_no_classification():
    from bounceledger.ingest.bounces.classify import classify, host_has_rules

    text = "550 5.7.1 Service unavailable; client host blocked using a block list"
    assert not host_has_rules("mx.d123.example") and not host_has_rules(None)
    assert classify("5.7.1", "550", text, "mx.d123.example") == classify("5.7.1", "550", text, None)
    assert host_has_rules("mail.protection.outlook.com")


def test_a_transient_code_keeps_a_notaccept_soft():
    # Exchange's "554 4.3.2": the status says transient, whatever the reply code (is_hard's one rule)
    assert not is_hard("notaccept", "4.3.2", "554")
    assert is_hard("notaccept", "5.3.2", "554") and is_hard("notaccept", None, None)



def test_the_status_in_an_exim_callout_transcript_is_the_verified_addresss():
    """Exim's callout failure quotes the server it asked about another address (often our own
    sender): "Response: 550 5.1.1" there is no status of this recipient's."""
    reply = ("550-Verification failed for <bounces@sender.test> 550-Called:   192.0.2.80 550-Sent:     "
             "RCPT TO:<bounces@sender.test> 550-Response: 550 5.1.1 User unknown 550 Sender verify failed")
    found = classify("5.0.0", None, reply)
    assert found.status != "5.1.1"
    assert found.reason != "userunknown"


def test_a_detail_whose_class_contradicts_its_reply_code_is_no_status():
    """"550 4.2.1 ...": the reporting MTA's own status stands (Postfix writes 5.0.0 for it)."""
    assert classify("5.0.0", None, "550 4.2.1 mailbox temporarily disabled: a@b.example").status == "5.0.0"

