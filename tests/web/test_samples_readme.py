"""The READMEs say what the code does with the bundled samples.

``bounceledger/samples/README.md`` promises a ledger state for every
recipient, and the top README shows ``parse --json`` of one sample file: both
are checked against what the real pipeline and the real parser produce.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select

from bounceledger.db import Database
from bounceledger.ingest.bounces import parse
from bounceledger.models import Delivery
from tests.web.conftest import REPO_ROOT, SAMPLES

#: "| m1 | `unknown2@example.net` | provisionally ... | `bounced`, corrected (was `accepted`) |"
ROW = re.compile(r"^\| m\d+ \| `([^`]+)` \| [^|]+ \| `(\w+)`(, corrected)?[^|]*\|$", re.M)


def test_samples_readme_states_are_the_ledgers(seeded: Database) -> None:
    promised = {address: (state, bool(corrected)) for address, state, corrected in ROW.findall(
        (SAMPLES / "README.md").read_text(encoding="utf-8"))}
    assert len(promised) == 17
    with seeded.session() as session:
        found = {d.recipient: (d.state, d.corrected) for d in session.scalars(select(Delivery))}
    assert found == promised


def test_readme_parse_example_is_what_parse_says() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("`parse --json` prints one object per message:", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    example = json.loads(block)
    path = SAMPLES / example["file"]
    assert path.is_file(), f"the README names {example['file']}, which the samples do not have"
    parsed = parse(path.read_bytes())
    assert example["outcome"] == parsed.outcome
    [record] = example["records"]
    [verdict] = parsed.verdicts
    for key, value in record.items():
        assert getattr(verdict, key) == value, key


def test_readme_names_the_sample_files_that_exist() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for name in set(re.findall(r"returned/new/\d{4}\.sample\.msg", readme)):
        assert (SAMPLES / name).is_file(), name
    samples_readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for name in set(re.findall(r"`new/(\d{4}\.sample\.msg)`", samples_readme)):
        assert (SAMPLES / "returned" / "new" / name).is_file(), name
    for folder in re.findall(r"`(tests/[\w/-]+/)`", samples_readme):
        assert (REPO_ROOT / folder).is_dir(), folder
    assert Path(SAMPLES / "sendlog" / "postfix.log").is_file()
