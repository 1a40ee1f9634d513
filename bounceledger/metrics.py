"""Prometheus metrics for ``run`` and the readiness facts its listener reports.

The counts come from the summaries each job already returns (they are read
after the job, not threaded through the ingest code), so the pipeline stays
unaware of metrics. ``prometheus_client`` is imported on first use only:
``--help``, ``parse`` and ``explain`` must start without it.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bounceledger.pipeline import LogIngestSummary
    from bounceledger.polling import PollSummary
    from bounceledger.webhooks.sender import EndpointSummary

_lock = threading.Lock()
_metrics: dict[str, Any] = {}
#: job name -> monotonic time of its last successful run (read by /readyz).
last_success: dict[str, float] = {}
#: job name -> interval in seconds, for jobs whose freshness /readyz checks.
source_intervals: dict[str, float] = {}
#: source (the job name: ``sendlog:PATH``, ``mailbox:URL``) -> Unix time of the newest line or message it read.
newest_read: dict[str, float] = {}
started = time.monotonic()


def _registry() -> dict[str, Any]:
    """The metric objects, made once on the default registry."""
    with _lock:
        if not _metrics:
            from prometheus_client import Counter, Gauge, Histogram

            _metrics.update(
                attempts=Counter("bounceledger_attempts_recorded", "Delivery attempts recorded from send logs"),
                lines=Counter("bounceledger_log_lines_read", "Send-log lines read"),
                skipped=Counter("bounceledger_log_lines_skipped", "Send-log lines skipped as unreadable"),
                messages=Counter("bounceledger_messages_seen", "Returned messages read from mailboxes", ["outcome"]),
                verdicts=Counter("bounceledger_verdicts_recorded", "Verdicts recorded from returned mail"),
                orphans=Counter("bounceledger_orphans_recorded", "Verdicts recorded without a matching delivery"),
                orphans_linked=Counter("bounceledger_orphans_matched", "Unmatched verdicts matched later"),
                expired=Counter("bounceledger_deliveries_expired", "Deferred deliveries given up as expired"),
                errors=Counter("bounceledger_errors", "Failures by kind", ["kind"]),
                settled=Counter("bounceledger_deliveries_settled", "Provisional acceptances settled (no bounce within their window)"),
                webhook_sent=Counter("bounceledger_webhook_deliveries", "Change-feed entries an endpoint took (2xx)", ["endpoint"]),
                webhook_failures=Counter("bounceledger_webhook_failures", "Failed webhook attempts (to be retried or dead-lettered)", ["endpoint"]),
                webhook_dead=Counter("bounceledger_webhook_dead_lettered", "Entries given up on after every retry", ["endpoint"]),
                webhook_backlog=Gauge("bounceledger_webhook_backlog", "Change-feed entries an endpoint has not been sent yet", ["endpoint"]),
                webhook_dead_letters=Gauge("bounceledger_webhook_dead_letters", "Dead letters not replayed yet", ["endpoint"]),
                orphans_left=Gauge("bounceledger_orphans_unmatched", "Verdicts still without a delivery"),
                corrected=Gauge("bounceledger_deliveries_corrected", "Deliveries whose first-hop verdict a later one corrected"),
                suppressed=Gauge("bounceledger_suppressions", "Addresses on the suppression list"),
                last_success=Gauge("bounceledger_job_last_success_timestamp_seconds", "When a job last succeeded", ["job"]),
                lag=Gauge(
                    "bounceledger_source_lag_seconds",
                    "Seconds between now and the newest log line or message the source has read",
                    ["source"],
                ),
                duration=Histogram(
                    "bounceledger_job_duration_seconds",
                    "How long each job run took",
                    ["job"],
                    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
                ),
            )
        return _metrics


def _read_up_to(source: str, newest: datetime | None) -> None:
    """Remember the newest stamp ``source`` has read; its lag is worked out at each scrape, so it grows
    while nothing new is read (a stalled reader, or a quiet server: see docs/alerts.md)."""
    if newest is None:
        return  # nothing new this run: the stamp read before still stands
    stamp = newest.timestamp()
    with _lock:
        known = source in newest_read
        newest_read[source] = max(stamp, newest_read.get(source, stamp))
    if not known:
        _registry()["lag"].labels(source).set_function(lambda: max(0.0, time.time() - newest_read[source]))


def observe_logs(summary: LogIngestSummary, source: str | None = None) -> None:
    m = _registry()
    m["attempts"].inc(summary.attempts)
    m["lines"].inc(summary.lines)
    m["skipped"].inc(summary.skipped)
    if source is not None:
        _read_up_to(source, summary.newest)


def observe_poll(summary: PollSummary, source: str | None = None) -> None:
    m = _registry()
    if source is not None:
        _read_up_to(source, summary.newest)
    for outcome in ("processed", "ignored", "unparsed", "error", "duplicate", "already"):
        m["messages"].labels(outcome).inc(getattr(summary, outcome))
    m["verdicts"].inc(summary.verdicts)
    m["orphans"].inc(summary.orphans)
    if summary.error:
        m["errors"].labels("parser").inc(summary.error)


def observe_expiry(expired: int) -> None:
    _registry()["expired"].inc(expired)


def observe_settlement(settled: int) -> None:
    _registry()["settled"].inc(settled)


def observe_webhook(summary: EndpointSummary, status: dict[str, Any] | None) -> None:
    """One endpoint's run, and where it stands after it (``webhooks.store.status``)."""
    m = _registry()
    m["webhook_sent"].labels(summary.name).inc(summary.delivered)
    m["webhook_failures"].labels(summary.name).inc(summary.failed)
    m["webhook_dead"].labels(summary.name).inc(summary.dead_lettered)
    if status is not None:
        m["webhook_backlog"].labels(summary.name).set(status["backlog"])
        m["webhook_dead_letters"].labels(summary.name).set(status["dead_letters"])


def observe_orphans(linked: int, left: int) -> None:
    m = _registry()
    m["orphans_linked"].inc(linked)
    m["orphans_left"].set(left)


def error(kind: str) -> None:
    _registry()["errors"].labels(kind).inc()


def job_done(job: str, seconds: float, ok: bool) -> None:
    """A job run's duration; a success also refreshes its freshness for /readyz."""
    m = _registry()
    m["duration"].labels(job).observe(seconds)
    if ok:
        last_success[job] = time.monotonic()
        m["last_success"].labels(job).set_to_current_time()
    else:
        error("job")


def observe_report(report: dict[str, Any]) -> None:
    """Ledger-wide gauges from :func:`bounceledger.queries.report` (which the orphans job reads anyway)."""
    m = _registry()
    m["suppressed"].set(report["suppressed"])
    m["corrected"].set(report["corrected"])
    m["orphans_left"].set(report["orphans"])


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    _registry()
    return generate_latest(), CONTENT_TYPE_LATEST
