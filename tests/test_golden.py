"""Golden tests: the exact text symgrad emits for a few small functions.

A change to the emitted text must be looked at by a person: run
`SYMGRAD_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`, read the diff
of tests/golden/*.expected, and commit it with the change that caused it.
"""

import os
from pathlib import Path

import pytest

from symgrad import generate

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.glob("*.py"))


@pytest.mark.parametrize("name", CASES)
def test_emitted_source_is_exactly_the_golden_text(name):
    source = (GOLDEN / name).read_text()
    emitted = generate(source, f"tests/golden/{name}")
    expected_path = GOLDEN / (name[:-3] + ".expected")
    if os.environ.get("SYMGRAD_UPDATE_GOLDEN"):
        expected_path.write_text(emitted)
    assert emitted == expected_path.read_text()


def test_there_are_three_golden_cases():
    assert len(CASES) >= 3
