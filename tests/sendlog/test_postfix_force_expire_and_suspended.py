"""Two Postfix 3.7 outcomes without any SMTP reply, as a real 3.7.11 instance
logged them (sweep KK, /tmp/sweepKK/samples):

* postsuper(1) -e/-f: qmgr writes ``status=force-expired, returned to sender``;
  the still-deferred recipients are returned exactly as at
  maximal_queue_lifetime, so they expire.
* qmgr's "delivery temporarily suspended: ..." deferrals for a throttled
  destination come through the retry service (an error(8) process, agent
  ``error``); they are about the remote destination named in the reason.
"""

from __future__ import annotations

from tests.sendlog.helpers import feed_all, postfix

FORCE_EXPIRED_AFTER_DEFERRAL = [
    "Dec 07 18:08:16 mta postfix-a/cleanup[3667]: 13518214A71: message-id=<kk-forceexp@sender.test>",
    "Dec 07 18:08:16 mta postfix-a/qmgr[3660]: 13518214A71: from=<bounces@sender.test>, size=318, nrcpt=1 (queue active)",
    "Dec 07 18:08:16 mta postfix-a/smtp[3671]: 13518214A71: to=<user7@refused.test>, relay=none, delay=0.01, "
    "delays=0.01/0/0/0, dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:2601: Connection refused)",
    "Dec 07 18:08:21 mta postfix-a/postsuper[3720]: 13518214A71: expired",
    "Dec 07 18:08:21 mta postfix-a/qmgr[3660]: 13518214A71: from=<bounces@sender.test>, status=force-expired, returned to sender",
]

FORCE_EXPIRED_FROM_HOLD = [
    "Dec 07 18:08:54 mta postfix-a/cleanup[4641]: 2497F21607F: message-id=<kk-held@sender.test>",
    "Dec 07 18:08:57 mta postfix-a/postsuper[4712]: 2497F21607F: expired",
    "Dec 07 18:08:57 mta postfix-a/postsuper[4712]: 2497F21607F: released from hold",
    "Dec 07 18:09:02 mta postfix-a/error[4794]: 2497F21607F: to=<ok8@normal.test>, relay=none, delay=8, "
    "delays=8/0.01/0/0.01, dsn=4.7.0, status=deferred (message is administratively expired)",
    "Dec 07 18:09:02 mta postfix-a/error[4794]: 2497F21607F: to=<user8@refused.test>, relay=none, delay=8, "
    "delays=8/0.01/0/0.01, dsn=4.7.0, status=deferred (message is administratively expired)",
    "Dec 07 18:09:02 mta postfix-a/qmgr[4636]: 2497F21607F: from=<bounces@sender.test>, status=force-expired, returned to sender",
]

SUSPENDED = (
    "Dec 07 18:02:32 mta postfix-a/error[30004]: 553F421441C: to=<user4@susp.test>, relay=none, delay=16, "
    "delays=16/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to "
    "127.0.0.1[127.0.0.1]:2612: Connection refused)"
)


def test_force_expired_returns_the_deferred_recipient() -> None:
    attempts = feed_all(postfix(), FORCE_EXPIRED_AFTER_DEFERRAL)
    assert [a.verdict for a in attempts] == ["deferred", "expired"]
    expired = attempts[-1]
    assert (expired.recipient, expired.status, expired.replycode, expired.message_id) == (
        "user7@refused.test", "4.4.1", None, "kk-forceexp@sender.test",
    )


def test_force_expired_from_hold_expires_every_recipient() -> None:
    attempts = feed_all(postfix(), FORCE_EXPIRED_FROM_HOLD)
    expired = [a for a in attempts if a.verdict == "expired"]
    assert sorted(a.recipient for a in expired) == ["ok8@normal.test", "user8@refused.test"]
    assert {a.status for a in expired} == {"4.7.0"}


def test_suspended_deferral_logged_by_the_retry_service_is_a_first_hop() -> None:
    [a] = postfix().feed(SUSPENDED)
    assert (a.verdict, a.status, a.replycode, a.delivery_agent) == ("deferred", "4.4.1", None, "error")
    assert (a.relay_host, a.relay_ip, a.relay_port) == ("127.0.0.1", "127.0.0.1", 2612)
    assert a.first_hop is True


def test_suspended_deferral_for_an_internal_relay_is_not_a_first_hop() -> None:
    line = SUSPENDED.replace(":2612:", ":10025:")
    [a] = postfix().feed(line)
    assert a.first_hop is False


def test_error_transport_deferral_stays_internal() -> None:
    # error(8) as the retry: transport of a transport map: a local decision.
    [a] = postfix().feed(
        "Dec 07 18:02:16 mta postfix-a/error[29719]: 3ACA5214405: to=<user@retry.test>, relay=none, delay=0.03, "
        "delays=0.02/0.01/0/0, dsn=4.3.0, status=deferred (Retry this later)"
    )
    assert a.first_hop is False
