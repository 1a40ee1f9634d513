"""The ``bounceledger`` command line.

Command names, options and JSON shapes here are a contract other programs
rely on: extend them, never rename or drop them. Every failure a user can
cause (a missing file, a bad URL, an unreachable database) ends in one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

# Everything that needs the database (SQLAlchemy, Alembic, the models, the
# drivers, Flask, the scheduler, IMAP) is imported inside the commands that
# use it: --help, parse, explain and sendlog parse start without it.
if TYPE_CHECKING:
    from json import JSONEncoder

    from bounceledger.config import Settings
    from bounceledger.db import Database
    from bounceledger.pipeline import RunSummary

EXIT_OK = 0
EXIT_FAILURE = 1
#: the reader of our output went away: the status of a filter killed by SIGPIPE (128 + 13)
EXIT_SIGPIPE = 141

#: Failures whose message is safe to print as it is, by module and class
#: name. Only modules already imported are looked at: a command that never
#: imported a module cannot have raised its exception, and naming them here
#: costs no start-up.
USER_ERRORS: tuple[tuple[str, str], ...] = (
    ("bounceledger.config", "ConfigError"),
    ("bounceledger.db", "DatabaseError"),
    ("bounceledger.ingest.sendlog.reader", "LogFileError"),
    ("bounceledger.ingest.mailbox.source", "MailboxError"),
    ("bounceledger.logfiles", "UnknownFormatError"),
)

class CommandError(RuntimeError):
    """A user-facing failure with a message that is safe to print."""


# ----------------------------------------------------------------- helpers


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, CommandError):
        return True
    for module_name, class_name in USER_ERRORS:
        module = sys.modules.get(module_name)
        kind = getattr(module, class_name, None) if module is not None else None
        if isinstance(kind, type) and isinstance(exc, kind):
            return True
    return False


def _settings(args: argparse.Namespace) -> Settings:
    from bounceledger.config import load_settings

    return load_settings(args.config, overrides={"database_url": args.database_url})


def _database(args: argparse.Namespace, *, migrated: bool = True, create: bool = False) -> Database:
    """The ledger; only a command that ``create``s one may make its SQLite file or folder."""
    from bounceledger.db import Database

    database = Database(_settings(args), create=create)
    if migrated:
        database.check()
    return database


@functools.cache
def _json_encoder() -> JSONEncoder:
    """One encoder for the whole run: ``parse --json`` writes a line per file."""
    import json

    return json.JSONEncoder(ensure_ascii=False, sort_keys=False)


def _json_line(obj: Any) -> str:
    """``obj`` as one line of JSON, stamped with the schema version (see bounceledger.schema_version)."""
    from bounceledger.schema_version import versioned

    return _json_encoder().encode(versioned(obj)) + "\n"


def _print_json(obj: Any) -> None:
    """Every ``--json`` output goes through here (or :func:`_json_line`), so each carries ``"schema"``."""
    sys.stdout.write(_json_line(obj))


def _progress_printer(label: str) -> Callable[[int, int], None] | None:
    """A one-line progress display on a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        return None
    started = time.monotonic()

    def show(done: int, total: int) -> None:
        pct = 100.0 * done / total if total else 100.0
        elapsed = max(time.monotonic() - started, 1e-6)
        width = 30
        filled = int(width * pct / 100)
        sys.stderr.write(
            f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {pct:5.1f}% "
            f"{done / elapsed / 1e6:6.1f} MB/s"
        )
        sys.stderr.flush()
        if done >= total:
            sys.stderr.write("\n")

    return show


# ----------------------------------------------------------------- commands


def cmd_db(args: argparse.Namespace) -> int:
    from bounceledger import db as dbmod

    database = _database(args, migrated=False, create=args.db_command == "upgrade")
    try:
        if args.db_command == "upgrade":
            dbmod.upgrade(database, args.revision)
            print(f"database {database.settings.safe_database_url()} at revision {dbmod.current_revision(database)}")
        elif args.db_command == "downgrade":
            dbmod.downgrade(database, args.revision)
            print(f"database {database.settings.safe_database_url()} at revision {dbmod.current_revision(database) or 'base'}")
        else:
            print(dbmod.current_revision(database) or "base")
    finally:
        database.dispose()
    return EXIT_OK


def cmd_ingest_log(args: argparse.Namespace) -> int:
    from bounceledger import pipeline

    database = _database(args)
    try:
        reread = args.reread
        while True:
            summary = pipeline.ingest_logs(
                database, args.paths, args.format, progress=_progress_printer("reading"), reread=reread
            )
            reread = False  # --follow goes on from where the re-read stopped
            print(summary.line())
            for sample in summary.samples:
                print(f"  skipped: {sample}")
            for path in summary.busy:
                print(f"bounceledger: {pipeline.busy_message(path)}", file=sys.stderr)
            if not args.follow:
                return EXIT_OK
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        database.dispose()


def attempt_json(attempt: Any) -> dict[str, Any]:
    return {
        "time": attempt.at.isoformat().replace("+00:00", "Z"),
        "queue_id": attempt.queue_id,
        "message_id": attempt.message_id,
        "sender": attempt.sender,
        "recipient": attempt.recipient,
        "orig_recipient": attempt.orig_recipient,
        "relay_host": attempt.relay_host,
        "relay_ip": attempt.relay_ip,
        "relay_port": attempt.relay_port,
        "replycode": attempt.replycode,
        "status": attempt.status,
        "verdict": attempt.verdict,
        "text": attempt.text,
        "smtp_stage": attempt.smtp_stage,
        "next_hop_queue_id": attempt.next_hop_queue_id,
        "envelope_id": attempt.envelope_id,
        "campaign": attempt.campaign,
        "header_ref": attempt.header_ref,
        "mta_category": attempt.mta_category,
        "delivery_agent": attempt.delivery_agent,
        "first_hop": attempt.first_hop,
    }


def first_hop_reason(attempt: Any, reason: Any) -> str:
    """The reason the parser's first-hop rule gave, or, when the rule did
    not decide this attempt, what did."""
    if reason is not None:
        return str(reason.text)
    return (
        "set by the log record itself, not by the relay rule "
        f"(first_hop={'true' if attempt.first_hop else 'false'} in a JSON record, or an asynchronous bounce or feedback record)"
    )


def cmd_sendlog_parse(args: argparse.Namespace) -> int:
    """Parsed attempts as JSON lines, without a database: for checking a log format."""
    from bounceledger.logfiles import parse_log_files

    settings = _settings(args)
    explain = args.explain_first_hop
    lines = attempts = 0
    skipped = 0
    samples: list[str] = []
    for path, parser_lines, found, bad, reasons in parse_log_files(
        settings, args.paths, args.format, explain_first_hop=explain
    ):
        lines += parser_lines
        skipped = bad.skipped
        samples = bad.samples
        for index, attempt in enumerate(found):
            attempts += 1
            reason = first_hop_reason(attempt, reasons[index]) if explain else None
            if args.json:
                record = attempt_json(attempt)
                if explain:
                    record["first_hop_reason"] = reason
                _print_json(record)
            else:
                print(
                    f"{attempt.at:%Y-%m-%d %H:%M:%S} {attempt.queue_id or '-':>12} {attempt.verdict:9} "
                    f"{attempt.replycode or '-':3} {attempt.status or '-':7} {attempt.recipient}"
                    + ("" if attempt.first_hop else "  (internal)")
                )
                if explain:
                    print(f"    {'first hop' if attempt.first_hop else 'not a first hop'}: {reason}")
    print(f"{lines} lines, {attempts} attempts, {skipped} skipped", file=sys.stderr)
    for sample in samples:
        print(f"  skipped: {sample}", file=sys.stderr)
    return EXIT_OK


def _message_files(paths: Sequence[str]) -> Iterator[Path]:
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from _folder_files(path)
        elif path.is_file():
            yield path
        else:
            raise CommandError(f"no such file or folder: {name}")


def _folder_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, hidden names left out, in path order.

    A sub-folder that cannot be listed is an error: ``Path.rglob`` passes
    over it in silence, and ``parse`` would then report nothing from it.
    """

    def unreadable(exc: OSError) -> None:
        raise CommandError(f"cannot read {exc.filename}: {exc.strerror}")

    found: list[Path] = []
    for top, folders, names in os.walk(folder, onerror=unreadable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found.extend(p for p in (Path(top, name) for name in names if not name.startswith(".")) if p.is_file())
    return sorted(found)


def verdict_json(verdict: Any) -> dict[str, Any]:
    return {
        "kind": verdict.kind,
        "recipient": verdict.recipient,
        "action": verdict.action,
        "status": verdict.status,
        "replycode": verdict.replycode,
        "reason": verdict.reason,
        "hardbounce": verdict.hardbounce,
        "category": verdict.category,
        "diagnostic": verdict.diagnostic,
        "remote_mta": verdict.remote_mta,
        "reporting_mta": verdict.reporting_mta,
        "envelope_id": verdict.envelope_id,
        "original_message_id": verdict.original_message_id,
        "next_hop_queue_id": verdict.next_hop_queue_id,
        "feedback_type": verdict.feedback_type,
    }


def _parsed_file_output(json_lines: bool) -> Callable[[Path, bytes], tuple[str, str]]:
    """Parse one file and render what ``parse`` prints for it: ``(outcome,
    text)``. It runs in whichever process parsed the file (see
    ``bounceledger.parse_files``), so a forked helper sends back text."""
    from bounceledger.ingest.bounces import parse

    def output(path: Path, raw: bytes) -> tuple[str, str]:
        parsed = parse(raw)
        if json_lines:
            return parsed.outcome, _json_line(
                {
                    "file": str(path),
                    "outcome": parsed.outcome,
                    "error": parsed.error,
                    "records": [verdict_json(v) for v in parsed.verdicts],
                    "skipped": list(parsed.skipped),
                }
            )
        lines = [f"{path}: {parsed.outcome}" + (f" ({parsed.error})" if parsed.error else "")]
        lines.extend(
            f"  {v.kind:9} {v.recipient or '?':40} {v.status or '-':7} {v.replycode or '-':4} "
            f"{v.reason}{' (hard)' if v.hardbounce else ''}"
            for v in parsed.verdicts
        )
        return parsed.outcome, "\n".join(lines) + "\n"

    return output


def _collect_seldom() -> None:
    """For a command that reads its input and exits: it makes many objects
    and few reference cycles, so the cyclic collector's default pass every
    700 allocations is mostly wasted (about 1.5 % of ``parse DIR``'s
    instructions, counted under cachegrind). The young generation's
    threshold is the one batches are written with (:mod:`bounceledger.ingest.batchgc`),
    for the whole process: what cycles there are go when it ends."""
    import gc

    from bounceledger.ingest.batchgc import YOUNG_THRESHOLD

    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def cmd_parse(args: argparse.Namespace) -> int:
    _collect_seldom()
    from bounceledger.parse_files import parsed_in_order
    from bounceledger.ingest.bounces import preload

    files = list(_message_files(args.paths))  # fail on a missing path before printing anything
    counts = {"bounce": 0, "ignored": 0, "unparsed": 0, "error": 0}
    write = sys.stdout.write
    for path, done in parsed_in_order(files, _parsed_file_output(args.json), preload):
        if isinstance(done, OSError):
            raise CommandError(f"cannot read {path}: {done.strerror}")
        outcome, text = done
        counts[outcome] = counts.get(outcome, 0) + 1
        write(text)
    if not args.json:
        print(", ".join(f"{n} {k}" for k, n in counts.items()), file=sys.stderr)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    """Codes in plain words, for support staff (no database).

    ``explain 550 5.1.1`` is one code (a reply code and the status of its
    class that follows it); ``explain 5.1.1 5.2.2`` is two, explained one
    after the other (with --json one object per line, as ``parse --json``);
    a quoted argument with words (``"550 5.7.1 Rejected by policy"``) is one
    server reply, read by the same classifier as the ledger's. A text with no
    reply or status code in it is refused, never given a made-up reason.
    """
    _collect_seldom()
    import re

    from bounceledger.ingest.bounces.classify import explain

    code = re.compile(r"[(\[#'\"<]*(?:[245]\d\d(?:-[245]\.\d{1,3}\.\d{1,3})?|[245]\.\d{1,3}\.\d{1,3})[)\]>'\".,;:]*")
    groups: list[list[str]] = []
    closed = True  # the last group takes no more words (a quoted argument)
    for argument in args.code:
        words = argument.split()
        if not words:
            continue
        if len(words) > 1:
            groups.append(words)
            closed = True
            continue
        word = words[0]
        current = None if closed else groups[-1]
        completes = (
            current is not None and len(current) == 1 and re.fullmatch(r"[245]\d\d", current[0]) is not None
            and re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", word) is not None and word[0] == current[0][0]
        )
        if current is None or (code.fullmatch(word) and all(code.fullmatch(w) for w in current) and not completes):
            groups.append([word])
            closed = False
        else:
            current.append(word)
    if not groups:
        raise CommandError("give a code such as 5.1.1, '550 5.1.1' or 452-4.2.2")
    found = [explain(" ".join(group)) for group in groups]
    for item in found:
        if item.outcome == "unrecognised":
            raise CommandError(
                f"no SMTP reply code or enhanced status code in {item.code[:80]!r}: give one such as 5.1.1, '550 5.1.1' or 452-4.2.2"
            )
    for index, item in enumerate(found):
        if args.json:
            _print_json(item.as_dict())
            continue
        if index:
            print()
        print(f"{item.code}: {item.meaning}")
        if item.outcome == "success":
            print("  success: the message was accepted, nothing failed")
        else:
            kind = "hard bounce" if item.hardbounce else f"{item.outcome} failure"
            print(f"  reason {item.reason}, category {item.category}, {kind}")
    return EXIT_OK


def cmd_poll(args: argparse.Namespace) -> int:
    from bounceledger import pipeline, polling
    from bounceledger.ingest.mailbox.source import open_mailbox

    open_mailbox(args.mailbox).check()  # a bad URL fails before touching the database
    database = _database(args)
    try:
        while True:
            summary = polling.poll(database, args.mailbox)
            linked, left = pipeline.retry_orphans(database)
            print(summary.line() + (f"; {linked} earlier verdicts matched now" if linked else ""))
            if args.once:
                return EXIT_OK
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        database.dispose()


def _timeline(result: dict[str, Any]) -> None:
    """Everything ``lookup --json`` says, for a person: nothing cut, nothing left out."""
    severity_words = {"hard": "hard bounce", "permanent": "permanent failure", "expired": "expired after retrying",
                      "temporary": "temporary failure", "complaint": "spam complaint"}

    def explained(x: dict[str, Any] | None, indent: str) -> None:
        if x:
            kind = severity_words.get(x.get("severity") or "", "")
            print(f"{indent}why: {x['reason']}, category {x['category']}" + (f", {kind}" if kind else ""))
            if x.get("meaning"):
                print(f"{indent}     {x['meaning']}")

    def event_lines(e: dict[str, Any], indent: str) -> None:
        what = e["outcome"] if e["kind"] != "correction" else f"{e['from_state']} -> {e['to_state']}"
        code = " ".join(x for x in (e["replycode"], e["status"]) if x)
        where = []
        if e["kind"] == "attempt" and e["remote_host"]:
            where.append(("first hop " if e["first_hop"] else "internal relay ") + e["remote_host"])
        if e.get("reporting_mta"):
            where.append(f"reported by {e['reporting_mta']}")
        where.append(f"from {e['source']}")
        print(f"{indent}{e['at']}  {e['kind']:10} {what:10} {code:10} {', '.join(where)}")
        if e.get("reason"):
            print(f"{indent}{'':22}reason {e['reason']}" + (f" (matched by {e['match_key']})" if e.get("match_key") else ""))
        if e["detail"]:
            print(f"{indent}{'':22}{e['detail']}")

    address = result["address"]
    now, past = result.get("suppression"), result.get("past_suppression")
    if now:
        until = f"until {now['expires_at']}" if now["expires_at"] else "until released"
        note = f"; note: {now['note']}" if now.get("note") else ""
        print(f"{address}: SUPPRESSED since {now['since']} ({now['reason']}), {until}{note}")
    elif past:
        ended = f"released by hand at {past['released_at']}" if past.get("released_at") else (
            f"expired at {past['expires_at']}" if past.get("expired") else "no longer in force")
        note = f"; note: {past['note']}" if past.get("note") else ""
        print(f"{address}: not suppressed now (was suppressed for {past['reason']} from {past['since']}, {ended}{note})")
    else:
        print(f"{address}: not suppressed")
    if not result["deliveries"]:
        print(f"no deliveries to {address}")
    for d in result["deliveries"]:
        said = " ".join(x for x in (d["replycode"], d["status"], d["reason"]) if x)
        print()
        print(f"{d['recipient']}  message {d['message_id'] or d['queue_id']}: {d['state'].upper()}"
              + (f" ({said})" if said else "") + ("  [corrected]" if d["corrected"] else ""))
        print(f"  campaign {d.get('campaign')}, sent {d.get('sent_at')}, queue id {d['queue_id'] or '-'}, "
              f"from {d['sender'] or '-'}, first hop {d['first_hop_host'] or '-'}")
        if d["corrected"]:
            came_back = "a spam complaint (feedback report)" if d["state"] == "complained" else "a bounce"
            print(f"  the first hop answered 250, {came_back} that came back later corrected it")
        if d.get("provisional_until"):
            print(f"  provisional until {_settlement_time(d['provisional_until'])}: the first hop "
                  f"({d.get('first_hop_organisation') or 'unknown'}) said 250; it settles then unless a bounce comes back")
        elif d.get("settled_at"):
            print(f"  settled at {_settlement_time(d['settled_at'])}: no bounce came back within the first hop's window")
        explained(d.get("explanation"), "  ")
        if d["detail"]:
            print(f"  {'report' if d['state'] == 'complained' else 'server said'}: {d['detail']}")
        for e in d["events"]:
            event_lines(e, "  ")
    if result["unmatched_verdicts"]:
        print()
        print("returned mail not yet tied to a send (retried on every run):")
        for e in result["unmatched_verdicts"]:
            event_lines(e, "  ")
            explained(e.get("explanation"), "  " + " " * 22)
    if result["suppression_history"]:
        print()
        print("suppression changes by hand:")
        for e in result["suppression_history"]:
            print(f"  {e['at']}  {e['outcome']:10} {e['source']}" + (f": {e['detail']}" if e["detail"] else ""))


def _settlement_time(iso: str) -> str:
    from bounceledger.ingest.settlement import settlement_words

    return settlement_words(datetime.fromisoformat(iso.replace("Z", "+00:00")))


def cmd_lookup(args: argparse.Namespace) -> int:
    from bounceledger import queries
    from bounceledger.ingest.settlement import SettlementPolicy

    database = _database(args)
    try:
        with database.session() as session:
            result = queries.lookup(session, args.address, policy=SettlementPolicy.from_settings(database.settings))
    finally:
        database.dispose()
    if args.json:
        _print_json(result)
    else:
        _timeline(result)
    return EXIT_OK


def _print_report(result: dict[str, Any]) -> None:
    filters = result.get("filters") or {}
    scope = [f"campaign {filters['campaign']}"] if filters.get("campaign") else []
    if filters.get("since") or filters.get("until"):
        scope.append(f"sent {filters.get('since') or 'any day'} to {filters.get('until') or 'today'} (UTC)")
    if scope:
        print(f"only mail of {', '.join(scope)}")
    whole = set(result.get("unfiltered") or ())
    print(f"deliveries: {result['deliveries']}")
    for state, count in result["states"].items():
        print(f"  {state:11} {count}")
    print(f"corrected after a first-hop 250: {result['corrected']}")
    returned = ", ".join(f"{n} {k}" for k, n in result["returned_messages"].items())
    print(f"returned messages: {returned}")
    stale = f" ({result['stale_orphans']} unmatched for over a day: check that their send logs are read)" if result["stale_orphans"] else ""
    every = " (of every campaign: not tied to a send yet)" if "orphans" in whole else ""
    print(f"unmatched verdicts: {result['orphans']}{every}{stale}")
    print(f"suppressed addresses: {result['suppressed']}" + (" (the whole list, now)" if "suppressed" in whole else ""))
    for hook in result.get("webhooks") or ():
        trouble = f"; failing on change {hook['failing_seq']}: {hook['last_error']}" if hook["failing_seq"] else ""
        dead = f"; {hook['dead_letters']} DEAD LETTERS (see: bounceledger webhooks)" if hook["dead_letters"] else ""
        print(f"webhook {hook['name']}: {hook['delivered']} sent, {hook['backlog']} behind{dead}{trouble}")
    funnel = result.get("funnel")
    if funnel and funnel["by_campaign"]:
        print()
        print(f"{'campaign':24} {'recipients':>10} {'accepted':>9} {'corrected':>9} {'bounced':>8} {'rate':>7} {'complaints':>10}")
        for row in funnel["by_campaign"]:
            print(
                f"{str(row['campaign'])[:24]:24} {row['recipients']:>10} {row['accepted_first_hop']:>9} "
                f"{row['corrected']:>9} {row['final_bounced']:>8} {row['bounce_rate']:>7.1%} {row['complained']:>10}"
            )
    organisations = (result.get("first_hop_organisations") or {}).get("organisations")
    if organisations:
        print()
        print("per first-hop organisation (late-bounce latency in minutes; window: how long a 250 stays provisional):")
        print(f"  {'organisation':28} {'accepted':>8} {'corrected':>9} {'rate':>6} {'late':>5} {'p50':>7} {'p95':>7} "
              f"{'p99':>7} {'window':>14} {'surprises':>9}")
        def minutes(value: float | None) -> str:
            return "-" if value is None else f"{value:g}"

        for row in organisations:
            window = f"{row['window_minutes']:g} {row['window_basis']}"
            print(f"  {str(row['organisation'] or 'unknown')[:28]:28} {row['accepted']:>8} {row['corrected']:>9} "
                  f"{row['correction_rate']:>6.1%} {row['latency_count']:>5} {minutes(row['latency_p50_minutes']):>7} "
                  f"{minutes(row['latency_p95_minutes']):>7} {minutes(row['latency_p99_minutes']):>7} {window:>14} "
                  f"{row['late_surprises']:>9}")
    reasons = result.get("reasons")
    if reasons and reasons.get("reasons"):
        print()
        print("top reasons:")
        for row in reasons["reasons"][:8]:
            print(f"  {row['reason'] or '-':16} {row['count']:>8}  {row.get('category') or ''}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_report(args: argparse.Namespace) -> int:
    """Ledger counts plus the marketers' funnel per campaign and day (corrected numbers)."""
    import csv

    from bounceledger import queries, reports
    from bounceledger.ingest.settlement import SettlementPolicy

    try:
        reports.Filters(args.campaign, args.since, args.until)
    except reports.FilterError:
        raise CommandError(f"--since {args.since} is after --until {args.until}: nothing can be in between") from None
    if args.recipients:
        return _report_recipients(args)
    database = _database(args)
    try:
        with database.session() as session:
            stale_after = timedelta(hours=database.settings.orphan_report_after_hours)
            result = queries.report(session, stale_after, args.campaign, args.since, args.until)
            result["funnel"] = reports.overview(session, args.campaign, args.since, args.until)
            result["reasons"] = reports.reasons(session, args.campaign, args.since, args.until)
            result["first_hop_organisations"] = reports.first_hop_organisations(
                session, SettlementPolicy.from_settings(database.settings), args.campaign, args.since, args.until
            )
    finally:
        database.dispose()
    if args.csv:
        rows = result["funnel"]["by_campaign_day"]
        columns = ["day", "campaign", "messages", "recipients", "accepted_first_hop", "corrected", "final_bounced",
                   "bounce_rate_first_hop", "bounce_rate", "complained", "complaint_rate", "delivered", "deferred",
                   "accepted", "settled"]
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    elif args.json:
        _print_json(result)
    else:
        _print_report(result)
    return EXIT_OK


def _report_recipients(args: argparse.Namespace) -> int:
    """Every recipient's corrected state (``report --recipients``), streamed: what a
    sending system loads back to correct its own "delivered" per campaign."""
    from bounceledger import csv_export, reports

    database = _database(args)
    try:
        with database.session() as session:
            rows = reports.iter_recipients(session, "recipients", args.campaign, args.since, args.until)
            if args.csv:
                count = csv_export.write(sys.stdout, csv_export.DELIVERY_FIELDS, rows)
            else:
                count = 0
                for row in rows:
                    if args.json:
                        sys.stdout.write(_json_line(row))
                    else:
                        corrected = " (corrected)" if row["corrected"] else ""
                        why = f" {row['reason']}" if row["reason"] else ""
                        print(f"{row['campaign']:20} {row['recipient']:40} {row['state']}{corrected}{why}")
                    count += 1
    finally:
        database.dispose()
    if not args.csv:
        print(f"{count} recipients", file=sys.stderr)
    return EXIT_OK


def cmd_changes(args: argparse.Namespace) -> int:
    """The change feed from ``--after`` on, oldest first (see bounceledger.changes).

    A cron job or ETL keeps the last ``seq`` it handled and passes it back
    as ``--after``: entries are numbered in commit order, so nothing is
    skipped and nothing repeats.
    """
    from bounceledger import changes

    try:
        types = changes.check_types(args.types)
    except changes.UnknownType as exc:
        raise CommandError(str(exc)) from None
    database = _database(args)
    try:
        with database.session() as session:
            entries = changes.read(session, args.after, args.limit, types, args.campaign)
    finally:
        database.dispose()
    for item in entries:
        if args.json:
            sys.stdout.write(_json_line(item))
        else:
            print(_change_line(item))
    if not args.json:
        last = entries[-1]["seq"] if entries else args.after
        print(f"{len(entries)} changes; next: --after {last}", file=sys.stderr)
    return EXIT_OK


def _change_line(item: dict[str, Any]) -> str:
    reason = f" {item['reason']}" if item["reason"] else ""
    code = " ".join(part for part in (item["replycode"], item["status"]) if part)
    code = f" ({code})" if code else ""
    came = f"{item['from_state']} -> " if item["from_state"] else ""
    return f"{item['seq']:>8} {item['at'] or item['recorded_at']} {item['type']:22} {item['recipient'] or '-'} {came}{item['to_state']}{reason}{code}"


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a whole number of 0 or more: {text!r}")
    return value


def _limit(text: str) -> int:
    from bounceledger.changes import MAX_LIMIT

    value = _non_negative(text)
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"not a limit from 1 to {MAX_LIMIT}: {text!r}")
    return value


def cmd_webhooks(args: argparse.Namespace) -> int:
    """Where each ``[[webhook]]`` stands (default), a new secret, a signed test, or a replay."""
    from bounceledger.webhooks import signing

    action = args.webhook_action
    if action == "secret":
        print(signing.new_secret())
        return EXIT_OK
    if action == "test":
        return _webhook_test(args)
    from bounceledger.webhooks import store

    database = _database(args)
    try:
        with database.session() as session:
            if action == "replay":
                known = {w.key for w in database.settings.webhooks} | store.names(session)
                unknown = sorted(set(args.endpoint or ()) - known)
                if unknown:
                    raise CommandError(f"no webhook named {', '.join(unknown)}; known: {', '.join(sorted(known)) or 'none'}")
                names = store.replay(session, args.endpoint, args.from_seq, datetime.now(timezone.utc))
                if not names:
                    raise CommandError("no webhook endpoint has sent anything yet: nothing to replay (run sends from the start)")
                print(f"{', '.join(names)}: will send again from change {args.from_seq} on the next run (same webhook ids)")
                return EXIT_OK
            rows = store.status(session)
            dead = store.dead_letters(session)
    finally:
        database.dispose()
    if args.json:
        _print_json({"endpoints": rows, "dead_letters": dead})
        return EXIT_OK
    for row in rows:
        state = f"failing on change {row['failing_seq']} ({row['attempts']} attempts; next {row['next_attempt_at']}): {row['last_error']}" if row["failing_seq"] else "ok"
        print(f"{row['name']}: sent up to change {row['cursor']}, {row['backlog']} behind, {row['delivered']} sent, "
              f"{row['dead_letters']} dead letters; {state}")
    for item in dead:
        print(f"dead letter: {item['endpoint']} change {item['seq']} ({item['webhook_id']}), {item['attempts']} attempts, "
              f"gave up {item['dead_at']}: {item['last_error']}")
    if not rows:
        print("no webhook has run yet", file=sys.stderr)
    return EXIT_OK


def _read_secret_file(path: str, what: str) -> str:
    """A token or secret kept in a file (``--token-file``, ``--secret-file``), without its trailing newline."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CommandError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not text:  # an empty token must not quietly mean "no login" (as for the settings' secret files)
        raise CommandError(f"{what} {path} is empty")
    return text


def _webhook_test(args: argparse.Namespace) -> int:
    """Post a signed sample entry to URL and say what came back (exit 1 unless 2xx)."""
    from bounceledger.config import WebhookTarget
    from bounceledger.webhooks import sender, signing

    if args.secret_file:
        secret = _read_secret_file(args.secret_file, "secret file")
    else:
        configured: WebhookTarget | None = next((w for w in _settings(args).webhooks if w.url == args.url), None)
        if configured is None:
            raise CommandError(f"{args.url} is not a configured [[webhook]] url: give --secret-file")
        secret = configured.secret
    try:
        answer, headers, body = sender.send_test(args.url, secret, args.timeout)
    except signing.SecretError as exc:
        raise CommandError(str(exc)) from None
    print(f"sent {len(body)} bytes, webhook-id {headers['webhook-id']}")
    if not answer.ok:
        raise CommandError(f"{args.url}: {answer.error}")
    print(f"{args.url}: HTTP {answer.status}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """The read-only web dashboard (token from BOUNCELEDGER_WEB_TOKEN or --token-file)."""
    from bounceledger.web import serve

    token = _read_secret_file(args.token_file, "token file") if args.token_file else None
    database = _database(args)
    try:
        serve(database, args.host, args.port, token)  # logs its address once it listens
    finally:
        database.dispose()
    return EXIT_OK


def cmd_suppressions(args: argparse.Namespace) -> int:
    """Export the list for the sending system, check one address, or change it by hand.

    ``check`` answers like ``grep``: exit status 0 when the address is
    suppressed, 1 when it is not, so a script can ask with ``&&``. ``add``
    refuses what is not an address (``local@domain``): a typo must not
    land on the list the sending system reads.
    """
    import csv

    from bounceledger import forget, queries
    from bounceledger.ingest import suppress
    from bounceledger.ingest.keys import normalise_address, valid_address

    action = getattr(args, "suppression_action", None)
    if action == "add" and valid_address(args.address) is None:
        raise CommandError(f"not an e-mail address (local@domain): {args.address!r}")
    database = _database(args)
    said: list[str] | None = None  # what add and remove did, printed once it is committed
    try:
        with database.session() as session:
            if action == "check":
                row = suppress.lookup(session, args.address)
                result = {"address": normalise_address(args.address) or "", "suppressed": row is not None}
                if row is not None:
                    result |= queries.suppression_json(row)
                kept = forget.remembered(session, args.address) if row is None else None
                if kept is not None:  # the address was forgotten: its suppression is kept as a hash
                    now = datetime.now(timezone.utc)
                    result |= {"suppressed": forget.in_force(kept, now), "forgotten_suppression": forget.remembered_json(kept, now)}
                if args.json:
                    _print_json(result)
                elif kept is not None:
                    said = "suppressed" if result["suppressed"] else "not suppressed"
                    print(f"{result['address']}: {said}: {forget.remembered_line(kept, datetime.now(timezone.utc))}")
                    return EXIT_OK if result["suppressed"] else EXIT_FAILURE
                elif row is None:
                    print(f"{result['address']}: not suppressed")
                else:
                    until = f" until {result['expires_at']}" if result["expires_at"] else ""
                    print(f"{result['address']}: suppressed since {result['since']} ({row.reason}){until}")
                return EXIT_OK if result["suppressed"] else EXIT_FAILURE
            if action == "remove":
                if not suppress.release(session, args.address, args.note):
                    raise CommandError(f"{args.address} is not on the suppression list")
                said = [f"{args.address}: released ({args.note})"]
            elif action == "add":
                kept = forget.remembered(session, args.address)
                suppress.add(session, args.address, args.note)
                said = [f"{args.address}: suppressed by hand ({args.note})"]
                if kept is not None:
                    said.append(f"{args.address}: {forget.remembered_line(kept, datetime.now(timezone.utc))}")
            elif args.since is not None:
                return _suppression_changes(session, args)
            else:
                rows = [queries.suppression_json(row) for row in suppress.active_list(session)]
    finally:
        database.dispose()
    if said is not None:  # only now: a commit that fails must not have said "suppressed" or "released"
        print("\n".join(said))
        return EXIT_OK
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["address", "reason", "since", "expires_at"])
        for row in rows:
            writer.writerow([row["address"], row["reason"], row["since"], row["expires_at"] or ""])
    elif args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(f"{row['address']:40} {row['reason']:11} since {row['since']}" + (f" until {row['expires_at']}" if row["expires_at"] else ""))
        print(f"{len(rows)} suppressed", file=sys.stderr)
    return EXIT_OK


def _suppression_changes(session: Any, args: argparse.Namespace) -> int:
    """What changed on the list after feed entry ``--since`` (``suppressions --since SEQ``).

    A sending system that keeps its own copy of the list applies these in
    order and keeps the last ``seq`` for its next call, instead of loading
    the whole list again.
    """
    from bounceledger import changes, csv_export

    rows = [
        {"seq": e["seq"], "change": e["type"].removeprefix("suppression."), "address": e["recipient"],
         "reason": e["reason"], "at": e["at"], "note": e["note"]}
        for e in changes.read_all(session, args.since, changes.check_types(["suppression.*"]))
    ]
    if args.csv:
        csv_export.write(sys.stdout, csv_export.SUPPRESSION_CHANGE_FIELDS, rows)
    elif args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(f"{row['seq']:>8} {row['at']} {row['change']:8} {row['address']:40} {row['reason']}")
    if not args.json and not args.csv:
        print(f"{len(rows)} changes; next: --since {rows[-1]['seq'] if rows else args.since}", file=sys.stderr)
    return EXIT_OK


def cmd_suppressions_import(args: argparse.Namespace) -> int:
    """Suppressions from another program's CSV; bad rows are reported by line and
    the good ones imported (exit 1 when any row was bad). Importing the same
    file again changes nothing."""
    from bounceledger.suppression_import import ImportFileError, import_entries, read_csv

    now = datetime.now(timezone.utc)
    path = Path(args.file)
    try:
        entries, problems = read_csv(path, now)  # an unreadable file fails before the database is opened
    except ImportFileError as exc:
        raise CommandError(str(exc)) from None
    database = _database(args)
    try:
        with database.session() as session:
            summary = import_entries(session, entries, now, f"imported from {path.name}")
    finally:
        database.dispose()
    summary.rows += len(problems)
    summary.problems = problems
    if args.json:
        _print_json({"file": args.file, "rows": summary.rows, "added": summary.added, "changed": summary.changed,
                     "unchanged": summary.unchanged, "problems": summary.problems, "recognised": summary.recognised})
    else:
        for line in summary.recognised:
            print(f"{args.file}: {line}")
        print(f"{args.file}: {summary.line()}")
    for problem in problems:
        print(f"bounceledger: {args.file}: {problem}", file=sys.stderr)
    return EXIT_FAILURE if problems else EXIT_OK


def cmd_forget(args: argparse.Namespace) -> int:
    """Erase an address from the ledger (a right-to-erasure request): see bounceledger.forget."""
    from bounceledger import forget
    from bounceledger.db import connect_errors
    from bounceledger.ingest.keys import valid_address

    address = valid_address(args.address)
    if address is None:
        raise CommandError(f"not an e-mail address (local@domain): {args.address!r}")
    database = _database(args)
    try:
        with connect_errors(database.settings), database.sessions() as session:
            transaction = session.begin()
            try:
                done = forget.forget(session, address, datetime.now(timezone.utc), args.note)
            except BaseException:
                transaction.rollback()
                raise
            if args.dry_run:
                transaction.rollback()
            else:
                transaction.commit()
                forget.checkpoint(database.engine)
    finally:
        database.dispose()
    if args.json:
        _print_json({"address": address, "dry_run": args.dry_run, **done.as_json()})
        return EXIT_OK
    print(f"{address}: {'would be forgotten' if args.dry_run else 'forgotten'}: {done.line()}")
    if done.found and not args.dry_run:
        print("copies outside the ledger are not touched: the mailbox's folders, the MTA's logs, backups")
    return EXIT_OK


def _run_pass(database: Database) -> RunSummary:
    from bounceledger import pipeline

    return pipeline.run_once(database, database.settings)


def cmd_run(args: argparse.Namespace) -> int:
    database = _database(args)
    settings = database.settings
    if not settings.sendlogs and not settings.mailboxes and not settings.webhooks:
        database.dispose()
        raise CommandError("nothing to do: configure [[sendlog]] and [[mailbox]] sources (or [[webhook]]s) in the config file")
    if args.workers is not None and args.workers > 1:
        return _run_workers(args, database)
    try:
        if args.once:
            summary = _run_pass(database)
            for item in (*summary.logs, *summary.polls):
                print(item.line())
            print(f"unmatched verdicts: {summary.orphans_left} (matched this run: {summary.orphans_linked})")
            print(f"deferred too long, now expired: {summary.expired}")
            print(f"soft-bounce suppressions lifted (a clean delivery since): {summary.suppressions_lifted}")
            if settings.settlement_enabled:
                print(f"provisional 250s settled (no bounce within their window): {summary.settled}")
            for sent in summary.webhooks:
                print(sent.line())
            if settings.retain_raw_days:
                from bounceledger import retention

                with database.session() as session:
                    pruned = retention.prune(session, timedelta(days=settings.retain_raw_days), datetime.now(timezone.utc))
                print(f"retention ({settings.retain_raw_days:g} days): {pruned.line()}")
            if summary.failures:  # the other sources were read; this one says what to fix
                raise CommandError("; ".join(summary.failures))
            return EXIT_OK
        from bounceledger.scheduler import run_forever

        from bounceledger.leader import SingleProcessError

        _configure_logging(args.log_level or database.settings.log_level, args.log_format)
        try:
            run_forever(database, stop_after=args.stop_after, metrics_port=args.metrics_port)
        except SingleProcessError as exc:
            raise CommandError(str(exc)) from None
        return EXIT_OK
    finally:
        database.dispose()


def _run_workers(args: argparse.Namespace, database: Database) -> int:
    """``run --workers N``: checked here, once, so that N children never each fail the same way."""
    from bounceledger import workers

    try:
        if database.engine.dialect.name != "postgresql":
            raise CommandError(
                f"--workers {args.workers}: SQLite is single-process (one writer at a time, one 'run' per ledger); "
                "use PostgreSQL for several workers, or run without --workers"
            )
        if args.once:
            raise CommandError(
                "--once is one whole pass in this process; --workers runs the scheduled service: "
                "use one or the other (several one-shot passes would only skip each other's busy sources)"
            )
    finally:
        database.dispose()
    _configure_logging(args.log_level or database.settings.log_level, args.log_format)

    def command(index: int) -> list[str]:
        return workers.child_command(
            index,
            config=getattr(args, "config", None),
            database_url=getattr(args, "database_url", None),
            log_level=getattr(args, "log_level", None),
            log_format=getattr(args, "log_format", None),
            stop_after=args.stop_after,
            metrics_port=args.metrics_port,
        )

    return workers.Supervisor(args.workers, command).run()


def sample_paths() -> tuple[Path, Path]:
    from importlib import resources

    root = Path(str(resources.files("bounceledger") / "samples"))
    return root / "sendlog" / "postfix.log", root / "returned"


def cmd_demo(args: argparse.Namespace) -> int:
    """The quick start: the main job on the bundled samples, then the corrected states."""
    from bounceledger import changes, pipeline, polling, queries
    from bounceledger import db as dbmod
    from bounceledger.ingest import feed

    sendlog, maildir = sample_paths()
    database = _database(args, migrated=False, create=True)
    try:
        dbmod.upgrade(database)
        log_summary = pipeline.ingest_logs(database, [str(sendlog)], "postfix")
        poll_summary = polling.poll(database, f"maildir:{maildir}?readonly=on")
        pipeline.retry_orphans(database)
        with database.session() as session:
            table = queries.delivery_table(session)
            totals = queries.report(session)
            corrections = changes.read(session, 0, changes.MAX_LIMIT, [feed.CORRECTED])
            newest = changes.last_seq(session)
        pushed = _demo_webhook(database, args) if args.webhook else None
    finally:
        database.dispose()
    print(f"database: {database.settings.safe_database_url()}")
    print(f"send log: {log_summary.line()}")
    print(f"mailbox:  {poll_summary.line()}")
    print()
    width = max([len(r["recipient"]) for r in table] + [9])
    print(f"{'recipient':{width}}  {'state':10} {'status':7} {'reason':16} note")
    for row in table:
        note = row["correction"] or ""
        print(
            f"{row['recipient']:{width}}  {row['state']:10} {row['status'] or '-':7} "
            f"{row['reason'] or '-':16} {note}"
        )
    print()
    print(
        f"{totals['corrected']} provisional deliveries (first hop said 250) corrected by later bounces; "
        f"try: bounceledger lookup {next((r['recipient'] for r in table if r['corrected']), 'ADDRESS')}"
    )
    print()
    print(f"change feed: {newest} entries for the sending platform; the corrections among them:")
    for item in corrections:
        print(_change_line(item))
    print("all of them as JSON lines: bounceledger changes --json (resume with --after SEQ)")
    if pushed is not None:
        print(pushed)
    else:
        print("push them to a local receiver, signed (Standard Webhooks): bounceledger demo --webhook http://127.0.0.1:PORT/PATH")
    return EXIT_OK


def _demo_webhook(database: Database, args: argparse.Namespace) -> str:
    """The demo's feed, pushed to ``--webhook`` as ``run`` pushes a ``[[webhook]]`` (from the first entry)."""
    from bounceledger.config import WebhookTarget
    from bounceledger.webhooks import sender, signing

    secret = signing.new_secret()
    said = f"webhook secret (verify with it): {secret}"
    if args.webhook_secret_file:
        secret, said = _read_secret_file(args.webhook_secret_file, "secret file"), ""
        try:
            signing.secret_key(secret)
        except signing.SecretError as exc:
            raise CommandError(str(exc)) from None
    target = WebhookTarget(url=args.webhook, secret=secret, name=f"demo {args.webhook}")
    summary = sender.deliver(database, target)
    return "\n".join(line for line in (said, summary.line()) if line)


# ----------------------------------------------------------------- parser


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, given the terminal's width instead of asking
    ``shutil`` for it: argparse makes one of these for every argument it
    adds, and ``shutil`` (with the compression modules it loads) is
    otherwise imported by every command for nothing."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _terminal_width() if width is None else width)


@functools.cache
def _terminal_width() -> int:
    """What ``shutil.get_terminal_size().columns - 2`` gives, as argparse
    uses it: ``$COLUMNS``, else the width of the terminal on standard
    output, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


class _Parser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit status 1, like every
    other error (argparse's own: the whole usage and status 2); ``--help``
    still prints the usage and exits 0. Subparsers are of this class too.

    A command's parser gets its arguments (``fill``, then the global
    options) when it is first parsed or shown, not when the program
    starts: a run uses one command, and building all fifteen cost every
    start several milliseconds (each argument makes a help formatter)."""

    def __init__(self, *args: Any, fill: Callable[[argparse.ArgumentParser], None] | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self._fill = fill

    def filled(self) -> _Parser:
        """This parser with its arguments, and those of its own subcommands."""
        fill, self._fill = self._fill, None
        if fill is not None:
            fill(self)
            for parser in (self, *_subparsers(self)):
                _global_options(parser, top=False)
        return self

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        return super(_Parser, self.filled()).parse_known_args(args, namespace)

    def format_usage(self) -> str:
        return super(_Parser, self.filled()).format_usage()

    def format_help(self) -> str:
        return super(_Parser, self.filled()).format_help()

    def error(self, message: str) -> NoReturn:
        message = " ".join(message.split())
        self.exit(EXIT_FAILURE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _log_level(text: str) -> str:
    from bounceledger.logsetup import log_level

    try:
        return log_level(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1-65535): {text!r}")
    return port


def _webhook_url(text: str) -> str:
    from bounceledger.config import webhook_url as check

    try:
        return check(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _workers(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"not a number of workers (1-64): {text!r}")
    return count


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"not a number of seconds above 0: {text!r}")
    return seconds


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after its name.

    On a subcommand they default to SUPPRESS, so they only set a value when
    given there and otherwise leave the one given before the command.
    """
    unset: Any = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("global options") if not top else parser
    group.add_argument("--config", metavar="FILE", default=unset, help="TOML settings file (default: ./bounceledger.toml if present)")
    group.add_argument("--database-url", metavar="URL", default=unset, help="SQLAlchemy URL (default: sqlite:///bounceledger.sqlite)")
    group.add_argument("--log-level", type=_log_level, default=unset, metavar="LEVEL", help="DEBUG, INFO, WARNING, ERROR (default: from settings)")
    group.add_argument("--log-format", choices=("text", "json"), default=unset, help="log lines as text (default) or one JSON object each")
    group.add_argument("--debug", action="store_true", default=False if top else unset, help="show tracebacks for unexpected errors")


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every command's parser, at every depth (``db upgrade``, ``suppressions check``), with its arguments."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield child.filled() if isinstance(child, _Parser) else child
                yield from _subparsers(child)


def _db_arguments(p: argparse.ArgumentParser) -> None:
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    down = dbsub.add_parser("downgrade", help="revert migrations (e.g. 'base')")
    down.add_argument("revision")
    dbsub.add_parser("current", help="print the current revision")
    p.set_defaults(func=cmd_db)


def _ingest_log_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", default="auto", help="auto (default), postfix, exim, sendmail, pmta, jsonl")
    p.add_argument("--follow", action="store_true", help="keep reading as the log grows")
    p.add_argument(
        "--reread",
        action="store_true",
        help="read the files again from their first line, whatever their cursors say (no duplicates: attempts are unique)",
    )
    p.add_argument("--interval", type=_seconds, default=2.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_ingest_log)


def _sendlog_arguments(p: argparse.ArgumentParser) -> None:
    slsub = p.add_subparsers(dest="sendlog_command", required=True, metavar="ACTION")
    slp = slsub.add_parser("parse", help="print the attempts parsed from send logs")
    slp.add_argument("paths", nargs="+", metavar="PATH")
    slp.add_argument("--format", default="auto", help="auto (default), postfix, exim, sendmail, pmta, jsonl")
    slp.add_argument("--json", action="store_true", help="one JSON object per attempt")
    slp.add_argument(
        "--explain-first-hop",
        action="store_true",
        help="say for each attempt why it did or did not count as a first hop (with --json: a first_hop_reason field)",
    )
    slp.set_defaults(func=cmd_sendlog_parse)


def _parse_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="message files or folders of them")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.set_defaults(func=cmd_parse)


def _explain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("code", nargs="+", help="e.g. 5.7.1, 550 5.1.1, 452-4.2.2")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)


def _poll_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mailbox",
        required=True,
        metavar="URL",
        help="imaps://USER@HOST:PORT/FOLDER, imap://..., maildir:/path or mbox:/path "
        "(password from BOUNCELEDGER_IMAP_PASSWORD or ?password_file=)",
    )
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--interval", type=_seconds, default=60.0, help="seconds between passes without --once")
    p.set_defaults(func=cmd_poll)


def _lookup_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("address")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lookup)


def _report_arguments(p: argparse.ArgumentParser) -> None:
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true", help="the funnel per campaign and day as CSV (with --recipients: one line per recipient)")
    p.add_argument("--campaign", help="only this campaign")
    p.add_argument("--since", type=_date, metavar="DATE", help="from this day (YYYY-MM-DD, UTC)")
    p.add_argument("--until", type=_date, metavar="DATE", help="up to this day")
    p.add_argument("--recipients", action="store_true",
                   help="every recipient's corrected state instead of the counts (with --csv: for the sending system)")
    p.set_defaults(func=cmd_report)


def _changes_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--after", type=_non_negative, default=0, metavar="SEQ", help="only entries after this sequence number (default 0: from the start)")
    p.add_argument("--limit", type=_limit, default=1000, metavar="N", help="at most this many entries (default 1000)")
    p.add_argument("--types", nargs="+", metavar="TYPE", help="only these types, e.g. delivery.corrected suppression.* (default: all)")
    p.add_argument("--campaign", help="only deliveries of this campaign")
    p.add_argument("--json", action="store_true", help="one JSON object a line")
    p.set_defaults(func=cmd_changes)


def _webhooks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")
    wsub = p.add_subparsers(dest="webhook_action", metavar="ACTION")
    t = wsub.add_parser("test", help="post a signed sample change to URL and show the answer")
    t.add_argument("url")
    t.add_argument("--secret-file", metavar="FILE", help="the whsec_ secret (default: the configured [[webhook]] with this url)")
    t.add_argument("--timeout", type=_seconds, default=10.0, metavar="SECONDS")
    r = wsub.add_parser("replay", help="send every change from SEQ on again (same webhook ids, dead letters included)")
    r.add_argument("--from", dest="from_seq", type=_non_negative, required=True, metavar="SEQ")
    r.add_argument("--endpoint", nargs="+", metavar="NAME", help="only these endpoints (name, or url if unnamed; default: all)")
    wsub.add_parser("secret", help="print a new random whsec_ secret for a [[webhook]] secret_file")
    p.set_defaults(func=cmd_webhooks)


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1; another address needs a token")
    p.add_argument("--port", type=_port, default=8080)
    p.add_argument("--token-file", metavar="FILE", help="login token (else BOUNCELEDGER_WEB_TOKEN)")
    p.set_defaults(func=cmd_serve)


def _suppressions_arguments(p: argparse.ArgumentParser) -> None:
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    p.add_argument("--since", type=_non_negative, metavar="SEQ",
                   help="only what changed after this change-feed sequence number (0: every change)")
    ssub = p.add_subparsers(dest="suppression_action", metavar="ACTION")
    chk = ssub.add_parser("check", help="is this address suppressed, since when and why")
    chk.add_argument("address")
    chk.add_argument("--json", action="store_true")
    rem = ssub.add_parser("remove", help="release an address by hand (recorded as an audit event)")
    rem.add_argument("address")
    rem.add_argument("--note", required=True, help="why, for the audit trail")
    add = ssub.add_parser("add", help="suppress an address by hand (recorded as an audit event)")
    add.add_argument("address")
    add.add_argument("--note", required=True, help="why, for the audit trail")
    imp = ssub.add_parser("import", help="add or change entries from a CSV file (address[,note,reason,since,expires_at]); idempotent")
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=cmd_suppressions_import)
    p.set_defaults(func=cmd_suppressions)


def _forget_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("address")
    p.add_argument("--note", help="for the audit trail, e.g. the request's ticket (the address is taken out of it)")
    p.add_argument("--dry-run", action="store_true", help="say what would be changed, change nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_forget)


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="one pass over every source, then exit")
    p.add_argument("--stop-after", type=_seconds, metavar="SECONDS", help="stop by itself after this long")
    p.add_argument("--metrics-port", type=_port, metavar="PORT", help="serve /healthz, /readyz and /metrics on 127.0.0.1:PORT while scheduled (not with --once); with --workers, worker i (from 0) on PORT+i")
    p.add_argument(
        "--workers", type=_workers, metavar="N",
        help="run N worker processes under one supervisor that restarts any that dies (PostgreSQL only; not with --once)",
    )
    p.set_defaults(func=cmd_run)


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--webhook", type=_webhook_url, metavar="URL", help="also push the change feed to this local URL, signed")
    p.add_argument("--webhook-secret-file", metavar="FILE", help="the whsec_ secret to sign with (default: a new one, printed)")
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bounceledger",
        description="Correct first-hop 'delivered' states with asynchronous bounces and DSNs.",
    )
    _global_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("db", help="database schema: upgrade, downgrade, current", fill=_db_arguments)
    sub.add_parser("ingest-log", help="read send logs into the ledger (first-hop verdicts)", fill=_ingest_log_arguments)
    sub.add_parser("sendlog", help="send-log tools that need no database", fill=_sendlog_arguments)
    sub.add_parser("parse", help="parse returned messages and print what they say (no database)", fill=_parse_arguments)
    sub.add_parser("explain", help="what an SMTP reply or status code means, in plain words", fill=_explain_arguments)
    sub.add_parser("poll", help="read a return-path mailbox into the ledger", fill=_poll_arguments)
    sub.add_parser("lookup", help="why did mail to this address bounce? every delivery and its timeline", fill=_lookup_arguments)
    sub.add_parser("report", help="counts per state, corrections, and the funnel per campaign and day", fill=_report_arguments)
    sub.add_parser("changes", help="the change feed: every state change and suppression change after a sequence number", fill=_changes_arguments)
    sub.add_parser("webhooks", help="the [[webhook]] endpoints: where each stands, dead letters, test, replay", fill=_webhooks_arguments)
    sub.add_parser("serve", help="the read-only web dashboard", fill=_serve_arguments)
    sub.add_parser("suppressions", help="the suppression list: export (--json/--csv), check, add, remove", fill=_suppressions_arguments)
    sub.add_parser("forget", help="erase every trace of an address from the ledger (an audit event records it)", fill=_forget_arguments)
    sub.add_parser("run", help="the scheduled main job over the configured sources", fill=_run_arguments)
    sub.add_parser("demo", help="run the main job on the bundled samples and print corrected states", fill=_demo_arguments)
    return parser


def _one_line(text: str) -> str:
    """A message as the one line an error gets (a server's reply may hold several)."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _configure_logging(level: str | None, fmt: str | None = None, *, on_first_use: bool = False) -> None:
    from bounceledger.logsetup import configure_logging, configure_on_first_use

    variable = "BOUNCELEDGER_LOG_LEVEL"  # read before the settings: parse and explain load none
    fmt = fmt or os.environ.get("BOUNCELEDGER_LOG_FORMAT") or "text"
    if fmt not in ("text", "json"):
        raise CommandError(f"BOUNCELEDGER_LOG_FORMAT: {fmt!r} is not a log format (text or json)")
    try:
        (configure_on_first_use if on_first_use else configure_logging)(level or os.environ.get(variable) or "WARNING", fmt)
    except ValueError as exc:
        raise CommandError(f"{variable}: {exc}") from None


#: Commands that log nothing unless the parser hits a bug of its own: their
#: logging is set up when that happens (logsetup.configure_on_first_use).
_LOG_ON_DEMAND = frozenset({cmd_parse, cmd_explain})


def main(argv: Sequence[str] | None = None) -> int:
    return _main(argv)[0]


def console() -> NoReturn:
    """The ``bounceledger`` command (and ``python -m bounceledger``).

    A command that only reads its input and prints (``parse``, ``explain``)
    leaves without the interpreter's teardown: freeing every module and
    object it loaded took about 10 ms of a 150 ms ``parse DIR`` (measured
    with and without ``os._exit`` in the same run), and nothing it holds
    needs closing. Its output is flushed first, and logging shut down where
    a parser bug woke it; every other command ends as usual, with its
    atexit handlers and its threads' clean-up."""
    code, read_and_print = _main(None)
    if not read_and_print:
        sys.exit(code)
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # as CPython does when flushing stdout fails at exit
        code = code or 120
    os._exit(code)


def _main(argv: Sequence[str] | None) -> tuple[int, bool]:
    """The command's exit status, and whether it is one that only reads and prints."""
    parser = build_parser()
    args = parser.parse_args(argv)
    read_and_print = args.func in _LOG_ON_DEMAND
    if read_and_print and hasattr(signal, "SIGPIPE"):
        # Only for the commands that read and print (``parse ... | head``): a long-running
        # command (``poll``, ``run``) writes to sockets, and with the default action a write to a
        # connection the server reset (a LOGOUT after an IMAP server process died) kills the whole
        # process instead of raising BrokenPipeError, which the poller retries.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return _run_command(args), read_and_print


def _stdout_gone() -> bool:
    """Whether the program reading our output closed it (``report | head``).

    Then the command stops without a word, as ``parse`` and ``explain`` do
    (killed by SIGPIPE there), and stdout goes to /dev/null so that the flush
    at exit does not fail again. A pipe whose reader is gone polls as an
    error; a broken pipe of a socket (an IMAP server, a webhook) leaves
    stdout as it was and stays an error.
    """
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        gone = any(mask & select.POLLERR for _, mask in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no fileno (captured), no poll()
        return False
    if gone:
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    return gone


def _run_command(args: argparse.Namespace) -> int:
    try:
        _configure_logging(args.log_level, args.log_format, on_first_use=args.func in _LOG_ON_DEMAND)
        return int(args.func(args))
    except KeyboardInterrupt:
        print("bounceledger: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if isinstance(exc, BrokenPipeError) and _stdout_gone():
            return EXIT_SIGPIPE
        if _is_user_error(exc):
            print(f"bounceledger: error: {_one_line(str(exc))}", file=sys.stderr)
            return EXIT_FAILURE
        if args.debug:
            raise
        from bounceledger.config import redact_url

        print(
            f"bounceledger: unexpected error: {type(exc).__name__}: {redact_url(str(exc).strip().splitlines()[0] if str(exc).strip() else '')} "
            "(run with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    console()
