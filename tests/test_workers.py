"""Several workers on one PostgreSQL, killed and restarted at random: nothing lost, nothing twice.

Three ``bounceledger run --workers 2`` supervisors (six workers) share one
ledger: three Postfix send logs that grow while they run, three maildirs
and a real Dovecot IMAP folder that bounces keep arriving in (some before
the log line they correct), and one ``[[webhook]]`` to a real receiver on
loopback. For about a minute a worker, or a whole supervisor with its
workers, is killed with SIGKILL every second or few and started again.
After a clean final ``run --once``:

* every log line's attempt is in the ledger once, and every bounce's verdict once, tied;
* every delivery ends as a single process reading the same inputs into a
  fresh ledger ends it;
* each delivery's change-feed entries form one unbroken chain (each starts
  where the one before ended, none twice, the last at the delivery's state);
* the receiver took every feed entry, and each under one ``webhook-id``
  whatever the re-sends: delivery is at-least-once with stable ids (a
  worker killed between the receiver's 2xx and its cursor's commit sends
  that entry again, under the same id, for the receiver to drop).

PostgreSQL only (SQLite is single-process): skipped where it is not running, failed under CI.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bounceledger import db as dbmod
from bounceledger.config import Settings
from bounceledger.db import Database
from bounceledger.webhooks import signing
from tests import chaos_mail
from tests.conftest import POSTGRES_ADMIN_URL
from tests.mailstack.dovecot import Dovecot, scratch_dovecot
from tests.mailstack.fixtures import require_mail_stack
from tests.webhook_receiver import Receiver

# Not BOUNCELEDGER_*: the settings refuse unknown variables of their own prefix.
SEED = int(os.environ.get("BL_CHAOS_SEED", "0")) or random.randrange(1, 10**6)
CHAOS_SECONDS = float(os.environ.get("BL_CHAOS_SECONDS", "60"))
#: ``retried-then-bounced`` recipients (see tests/chaos_mail.py): a delivery already in the
#: ledger that a send-log batch and a mailbox batch change at the same moment. Both
#: transactions re-derive it; ``reconcile.recompute`` locks the delivery rows before it
#: reads their events, so the second waits and decides from the first one's events too.
#: Without that lock the later write wins and the correction is lost (bounced but not
#: corrected, a broken feed chain), with one `run` process as well. BL_CHAOS_RACING=0 leaves them out.
RACING = os.environ.get("BL_CHAOS_RACING") != "0"
MESSAGES = 360
LOGS = 3
MAILBOXES = 4  # three maildirs, then the IMAP folder
#: How many messages later a ``retried-then-bounced`` recipient's retry is logged (a few seconds).
RETRY_AFTER = 15
SUPERVISORS = 3
WORKERS_EACH = 2
IMAP_FOLDER = "chaos"
SECRET = signing.new_secret()


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    require_mail_stack()
    with scratch_dovecot("bl-chaos-") as server:
        yield server


def _imap(server: Dovecot) -> IMAPClient:
    client = IMAPClient(server.host, server.imap_port, ssl=False, timeout=30)
    client.login(server.user, server.password)
    return client


def _imap_url(server: Dovecot) -> str:
    opts = f"ca={server.ca_cert}&processed={IMAP_FOLDER}-done&unparsed={IMAP_FOLDER}-unparsed&ignored={IMAP_FOLDER}-ignored"
    return f"imap://{server.user}@{server.host}:{server.imap_port}/{IMAP_FOLDER}?{opts}"


class Inputs:
    """Writes the plan out while the workers run: log lines appended, bounces delivered."""

    def __init__(self, root: Path, server: Dovecot, messages: list[chaos_mail.Message]) -> None:
        self.root = root
        self.server = server
        self.messages = messages
        self.logs = [root / f"mail{i}.log" for i in range(LOGS)]
        self.maildirs = [root / f"Maildir{i}" for i in range(MAILBOXES - 1)]
        self.done = threading.Event()
        self.error: BaseException | None = None
        for path in self.logs:
            path.touch()
        for maildir in self.maildirs:
            for sub in ("new", "cur", "tmp"):
                (maildir / sub).mkdir(parents=True)
        with _imap(server) as client:
            for name in (IMAP_FOLDER, f"{IMAP_FOLDER}-done", f"{IMAP_FOLDER}-unparsed", f"{IMAP_FOLDER}-ignored"):
                client.create_folder(name)

    def bounces(self) -> list[tuple[chaos_mail.Message, chaos_mail.Recipient]]:
        return [(m, r) for m in self.messages for r in m.recipients if r.fate in chaos_mail.BOUNCED]

    def run(self, seconds: float, rng: random.Random) -> None:
        try:
            pause = seconds / (len(self.messages) + RETRY_AFTER)
            with _imap(self.server) as client:
                for number in range(len(self.messages) + RETRY_AFTER):
                    if number < len(self.messages):
                        self._send(client, self.messages[number], number, rng)
                    if number >= RETRY_AFTER:  # a few seconds later: the retries, and their bounces with them
                        self._retry(client, self.messages[number - RETRY_AFTER], number - RETRY_AFTER, rng)
                    time.sleep(pause)
        except BaseException as exc:  # noqa: BLE001 - the test thread re-raises it
            self.error = exc
        finally:
            self.done.set()

    def _send(self, client: IMAPClient, message: chaos_mail.Message, number: int, rng: random.Random) -> None:
        early = rng.random() < 0.25  # the bounce arrives before the line it corrects
        if early:
            self._bounce(client, message, number, "accepted-then-bounced")
        self._log(message, chaos_mail.log_lines(message))
        if not early:
            self._bounce(client, message, number, "accepted-then-bounced")

    def _retry(self, client: IMAPClient, message: chaos_mail.Message, number: int, rng: random.Random) -> None:
        lines = chaos_mail.late_lines(message)
        if not lines:
            return
        if rng.random() < 0.5:
            self._bounce(client, message, number, "retried-then-bounced")
            self._log(message, lines)
        else:
            self._log(message, lines)
            self._bounce(client, message, number, "retried-then-bounced")

    def _log(self, message: chaos_mail.Message, lines: list[str]) -> None:
        with self.logs[message.log].open("a") as out:
            out.write("\n".join(lines) + "\n")

    def _bounce(self, client: IMAPClient, message: chaos_mail.Message, number: int, fate: str) -> None:
        for j, recipient in enumerate(message.recipients):
            if recipient.fate != fate:
                continue
            raw = chaos_mail.dsn(message, recipient)
            if message.mailbox == MAILBOXES - 1:
                client.append(IMAP_FOLDER, raw)
                continue
            maildir = self.maildirs[message.mailbox]
            name = f"{number}.{j}.chaos"
            (maildir / "tmp" / name).write_bytes(raw)
            os.rename(maildir / "tmp" / name, maildir / "new" / name)  # how an MDA delivers: whole or not at all


def _config(path: Path, url: str, inputs: Inputs, receiver: Receiver | None, mailboxes: list[str]) -> Path:
    lines = [
        'log_level = "INFO"',
        "orphan_retry_seconds = 2",
        "expire_deferred_after_hours = 1",
        f'[database]\nurl = "{url}"',
        # off: it depends on the clock (a window may end between the ledger's last pass and the
        # reference's), and its first scheduled run is minutes away anyway
        "[settlement]\nenabled = false",
    ]
    lines += [f'[[sendlog]]\npath = "{log}"\nformat = "postfix"\ninterval_seconds = 1' for log in inputs.logs]
    lines += [f'[[mailbox]]\nurl = "{mailbox}"\ninterval_seconds = 1' for mailbox in mailboxes]
    if receiver is not None:
        (path.parent / "hook.secret").write_text(SECRET + "\n")
        lines.append(f'[[webhook]]\nurl = "{receiver.url}"\nsecret_file = "{path.parent / "hook.secret"}"\ntimeout_seconds = 5')
    path.write_text("\n\n".join(lines) + "\n")
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")}
    return env | {"BOUNCELEDGER_IMAP_PASSWORD": "secret"}


class Supervisors:
    """The three ``run --workers 2``, each in a process group of its own so that one kill takes all of it."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config = config
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * SUPERVISORS
        self.kills = Counter[str]()

    def start(self, i: int) -> None:
        with (self.logs / f"supervisor{i}.log").open("ab") as out:
            self.processes[i] = subprocess.Popen(
                [sys.executable, "-m", "bounceledger", "--config", str(self.config), "run", "--workers", str(WORKERS_EACH)],
                stdout=out, stderr=subprocess.STDOUT, env=_env(), start_new_session=True,
            )

    def workers_of(self, i: int) -> list[int]:
        process = self.processes[i]
        if process is None:
            return []
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == process.pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
        return found

    def kill_group(self, i: int) -> None:
        process = self.processes[i]
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
            self.processes[i] = None
            self.kills["supervisor"] += 1

    def kill_worker(self, i: int, rng: random.Random) -> None:
        workers = self.workers_of(i)
        if workers:
            try:
                os.kill(rng.choice(workers), signal.SIGKILL)  # its supervisor starts it again
                self.kills["worker"] += 1
            except ProcessLookupError:
                pass

    def stop_all(self) -> list[int]:
        for process in self.processes:
            if process is not None:
                process.send_signal(signal.SIGTERM)
        codes = [process.wait(90) for process in self.processes if process is not None]
        self.processes = [None] * SUPERVISORS
        return codes

    def kill_all(self) -> None:
        for i in range(SUPERVISORS):
            self.kill_group(i)


def _run_once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--once"],
        capture_output=True, text=True, timeout=300, env=_env(),
    )


def _fresh_database() -> str:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"bounceledger_chaos_ref_{os.getpid()}_{random.randrange(16**6):06x}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    database = Database(Settings(database_url=url))
    dbmod.upgrade(database)
    database.dispose()
    return url


def _drop_database(url: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _rows(url: str, sql: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


_DELIVERIES = """
    SELECT d.id, s.message_id, d.recipient, d.state, d.corrected
    FROM deliveries d JOIN sent_messages s ON s.id = d.sent_message_id
"""


def _expected_attempts(messages: list[chaos_mail.Message]) -> Counter[tuple[str, str]]:
    """(recipient, outcome) of every attempt line the plan wrote."""
    outcome = {"sent": "accepted", "deferred": "deferred", "bounced": "rejected"}
    found: Counter[tuple[str, str]] = Counter()
    for message in messages:
        for line in chaos_mail.log_lines(message) + chaos_mail.late_lines(message):
            if " to=<" in line:
                recipient = line.split(" to=<", 1)[1].split(">", 1)[0]
                found[(recipient, outcome[line.split("status=", 1)[1].split(" ", 1)[0]])] += 1
    return found


def test_three_worker_groups_killed_at_random_lose_nothing_and_repeat_nothing(
    postgres_database_url: str, dovecot: Dovecot, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    print(f"chaos seed {SEED} (BL_CHAOS_SEED={SEED} replays the same plan and kills)")
    messages = chaos_mail.plan(SEED, MESSAGES, LOGS, MAILBOXES, datetime.now(timezone.utc), racing=RACING)
    inputs = Inputs(tmp_path, dovecot, messages)
    mailboxes = [f"maildir:{m}" for m in inputs.maildirs] + [_imap_url(dovecot)]
    receiver = Receiver(SECRET).start()
    config = _config(tmp_path / "bounceledger.toml", postgres_database_url, inputs, receiver, mailboxes)
    runs = Supervisors(config, tmp_path)
    reference_url = _fresh_database()
    try:
        for i in range(SUPERVISORS):
            runs.start(i)
        feeder = threading.Thread(target=inputs.run, args=(CHAOS_SECONDS * 0.85, random.Random(SEED + 1)), daemon=True)
        feeder.start()
        ends = time.monotonic() + CHAOS_SECONDS
        while time.monotonic() < ends:
            time.sleep(rng.uniform(0.5, 2.5))
            victim = rng.randrange(SUPERVISORS)
            if runs.processes[victim] is None:
                runs.start(victim)
            elif rng.random() < 0.6:
                runs.kill_worker(victim, rng)
            else:
                runs.kill_group(victim)
                if rng.random() < 0.7:  # most come back at once, some after a while
                    runs.start(victim)
        feeder.join(60)
        assert inputs.done.is_set() and inputs.error is None, inputs.error
        for i in range(SUPERVISORS):
            if runs.processes[i] is None:
                runs.start(i)
        time.sleep(3)
        codes = runs.stop_all()
        assert codes == [0] * SUPERVISORS, codes

        final = _run_once(config)  # the clean final pass: whatever the last kill left half-done
        assert final.returncode == 0, final.stderr
        reference_box = tmp_path / "Reference"
        for sub in ("new", "cur", "tmp"):
            (reference_box / sub).mkdir(parents=True)
        for n, (message, recipient) in enumerate(inputs.bounces()):
            (reference_box / "new" / f"{n}.ref").write_bytes(chaos_mail.dsn(message, recipient))
        reference = _run_once(_config(tmp_path / "reference.toml", reference_url, inputs, None, [f"maildir:{reference_box}"]))
        assert reference.returncode == 0, reference.stderr
        _assert_ledger(postgres_database_url, reference_url, messages, inputs, receiver)
        logged = "".join((tmp_path / f"supervisor{i}.log").read_text(errors="replace") for i in range(SUPERVISORS))
        assert runs.kills["worker"] >= 3 and runs.kills["supervisor"] >= 3, runs.kills
        assert logged.count("leading: ledger-wide jobs") >= 2  # the lead changed hands
        assert "Traceback" not in logged, logged[-5000:]
    finally:
        runs.kill_all()
        receiver.stop()
        _drop_database(reference_url)


def _assert_ledger(
    url: str, reference_url: str, messages: list[chaos_mail.Message], inputs: Inputs, receiver: Receiver
) -> None:
    # every attempt line once
    attempts = Counter(
        (r, o) for r, o in _rows(url, "SELECT recipient, outcome FROM events WHERE kind = 'attempt' AND source LIKE 'postfix:%'")
    )
    assert attempts == _expected_attempts(messages)
    # every bounce once, as a verdict tied to its delivery
    bounced = Counter((m.message_id, r.address) for m, r in inputs.bounces())
    verdicts = Counter(
        (mid, rcpt)
        for mid, rcpt in _rows(
            url,
            "SELECT s.message_id, e.recipient FROM events e JOIN deliveries d ON d.id = e.delivery_id "
            "JOIN sent_messages s ON s.id = d.sent_message_id WHERE e.kind = 'verdict'",
        )
    )
    assert verdicts == bounced
    assert _rows(url, "SELECT count(*) FROM events WHERE kind = 'verdict' AND delivery_id IS NULL")[0][0] == 0
    assert _rows(url, "SELECT count(*) FROM returned_messages")[0][0] == sum(bounced.values())

    # every delivery ends as one process reading the same inputs ends it
    chaos = {(mid, rcpt): (state, corrected) for _, mid, rcpt, state, corrected in _rows(url, _DELIVERIES)}
    single = {(mid, rcpt): (state, corrected) for _, mid, rcpt, state, corrected in _rows(reference_url, _DELIVERIES)}
    assert chaos == single
    fates = {(m.message_id, r.address): r.fate for m in messages for r in m.recipients}
    assert len(chaos) == len(fates)
    assert all(chaos[key] == ("bounced", True) for key, fate in fates.items() if fate in chaos_mail.BOUNCED)
    assert all(chaos[key][0] == "expired" for key, fate in fates.items() if fate == "deferred-long")

    # each delivery's feed entries: one unbroken chain to its state
    state_of = {d: state for d, _, _, state, _ in _rows(url, _DELIVERIES)}
    chains: dict[int, list[tuple[int, str | None, str]]] = defaultdict(list)
    for seq, delivery_id, from_state, to_state in _rows(
        url, "SELECT seq, delivery_id, from_state, to_state FROM changes WHERE type LIKE 'delivery.%' ORDER BY seq"
    ):
        chains[delivery_id].append((seq, from_state, to_state))
    broken = []
    for delivery_id, state in state_of.items():
        chain = chains.get(delivery_id, [])
        at = "pending"
        for _, from_state, to_state in chain:
            if (from_state or "pending") != at:
                broken.append((delivery_id, chain))
                break
            at = to_state
        else:
            if at != state:
                broken.append((delivery_id, chain))
    assert broken == [], broken[:10]
    suppressions = Counter(
        _rows(url, "SELECT address, type FROM changes WHERE type LIKE 'suppression.%'")
    )
    assert all(count == 1 for count in suppressions.values()), suppressions.most_common(3)

    # the receiver took every entry, each under one webhook-id
    seqs = {seq for (seq,) in _rows(url, "SELECT seq FROM changes")}
    took = receiver.accepted()
    assert all(r.verified for r in receiver.all())
    assert {r.seq for r in took} == seqs
    ids_by_seq: dict[int, set[str]] = defaultdict(set)
    for r in receiver.all():
        ids_by_seq[r.seq].add(r.webhook_id)
    assert all(len(ids) == 1 for ids in ids_by_seq.values()), [s for s, ids in ids_by_seq.items() if len(ids) > 1][:5]
    assert len({r.webhook_id for r in took}) == len(seqs)
