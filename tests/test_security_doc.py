"""docs/security.md names, for every attack, the test that pins it: each named test must exist, so
the threat model cannot drift from the suite (twin: a name that is not a test is reported)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _defined_tests() -> set[str]:
    names: set[str] = set()
    for f in (ROOT / "tests").glob("*.py"):
        names.update(re.findall(r"^\s*def (test_\w+)", f.read_text(encoding="utf-8"), re.M))
    return names


def missing_tests(text: str, defined: set[str]) -> list[str]:
    """Test names a document mentions (``test_x`` after ``::`` or in backquotes) that no test file
    defines; module names (``test_x.py``) are not test names."""
    named = set(re.findall(r"(?<![\w.])(test_\w+)(?!\w|\.py)", text))
    return sorted(n for n in named if n not in defined)


def test_every_test_the_threat_model_names_exists():
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert re.search(r"test_\w+", text), "the threat model names no test"
    assert missing_tests(text, _defined_tests()) == []


def test_a_renamed_test_is_reported():
    defined = _defined_tests()
    assert missing_tests("pinned by `tests/test_log.py::test_no_such_test_here`", defined) == [
        "test_no_such_test_here"]
    assert missing_tests("see `tests/test_log.py`", defined) == []
