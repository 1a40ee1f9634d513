"""Send-log records written from PowerMTA's User's Guide (v5.0, ch. 11) and KumoMTA's
log-record reference and kumod's logging.rs (sweep SS)."""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.sendlog import ParseOptions, make_parser

NOW = datetime(2026, 12, 7, tzinfo=timezone.utc)


def feed(fmt, lines, **kw):
    p = make_parser(fmt, ParseOptions(reference_time=NOW, **kw))
    out = [a for line in lines for a in p.feed(line)]
    return out, p.skipped


def test_pmta_documented_us_timestamp():  # UG 11.2.9
    out, skipped = feed("pmta", ["type,timeLogged,rcpt,dsnStatus", "d,02/08/2019 21:54:05+0000,t1@example.com,2.0.0 (success)"])
    assert skipped == 0 and out[0].at == datetime(2019, 2, 8, 21, 54, 5, tzinfo=timezone.utc)


def test_pmta_b_with_class_4_status_is_expired():  # UG 11.2, 11.6 message-expired / bad-connection
    out, _ = feed("pmta", ["type,timeLogged,rcpt,dsnStatus,bounceCat",
                           "b,1178807915,eve@example.com,4.4.7 (delivery time expired),message-expired",
                           "b,1178807915,fay@example.com,4.4.1 (no answer from host),bad-connection",
                           "b,1178807915,gil@example.com,5.1.1 (bad destination mailbox address),bad-mailbox"])
    assert [a.verdict for a in out] == ["expired", "expired", "rejected"]


def test_pmta_message_id_column_any_case():  # header_XXX as configured; RFC 5322 names are case-insensitive
    out, _ = feed("pmta", ["type,timeLogged,rcpt,header_Message-ID", "d,1178807903,a@example.com,<m1@example.com>"])
    assert out[0].message_id == "m1@example.com"


def test_pmta_wider_row_keeps_header_in_force():  # UG samples: t row has one more trailing field than d/b
    old = "type,timeLogged,rcpt,orig,vmta,jobId"
    new = "type,timeLogged,timeQueued,orig,rcpt"
    out, _ = feed("pmta", [old, new, "t,1178807903,1178807900,o@example.com,da@yahoo.fr,"])
    assert [a.recipient for a in out] == ["da@yahoo.fr"]


def test_kumo_oob_is_not_given_the_reports_message_id():  # kumod logging.rs log_disposition
    rec = '{"type":"Reception","id":"R1","sender":"","recipient":"b@s.example","timestamp":1678072000,"headers":{"Message-ID":"<dsn@mx>"}}'
    oob = ('{"type":"OOB","id":"R1","sender":"b@s.example","recipient":"gone@r.example","timestamp":1678072000,'
           '"response":{"code":550,"enhanced_code":{"class":5,"subject":1,"detail":1},"content":"5.1.1 user unknown","command":null},'
           '"headers":{}}')
    out, _ = feed("jsonl", [rec, oob])
    assert out[0].message_id is None and out[0].status == "5.1.1" and out[0].text == "user unknown"


def test_kumo_rebind_records_are_not_unreadable():  # kumo-log-types RecordType
    out, skipped = feed("jsonl", ['{"type":"AdminRebind","id":"x","recipient":"a@b.example","timestamp":1678072000}'])
    assert out == [] and skipped == 0
