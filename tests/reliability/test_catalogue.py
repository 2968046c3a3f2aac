"""docs/reliability.md's table and these tests agree: every case in the doc is reproduced here."""

import re
from pathlib import Path

from reliability_kit import DOC, read_catalogue

HERE = Path(__file__).parent


def test_every_case_in_the_doc_has_a_test_and_every_test_a_case():
    documented = set(read_catalogue())
    tested: set[str] = set()
    for f in HERE.glob("test_*.py"):
        tested |= set(re.findall(r"""case\(["']([GB]\d+[a-z]?)["']\)""", f.read_text()))
    assert documented, f"{DOC}: no catalogue rows found"
    assert documented - tested == set(), f"cases in {DOC.name} without a test"
    assert tested - documented == set(), f"tests of cases missing from {DOC.name}"


def test_every_bad_case_says_what_the_user_sees():
    for c in read_catalogue().values():
        assert c.sees and c.kept, c.id
        if "exit 2" in c.sees:  # an error: the test checks the text shown
            assert c.fragments, f"{c.id}: no `quoted` text for the test to find"
