import re
import textwrap
from pathlib import Path

from torchdoctor.checks import CHECKS
from torchdoctor.checks.base import sections
from torchdoctor.taxonomy import CATEGORIES

SHARED_TAXONOMY = Path(__file__).resolve().parents[2] / "shared" / "TAXONOMY.md"


def test_codes_are_unique_and_categories_known():
    codes = [c.CODE for c in CHECKS]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[A-Z]\d{3}", c) for c in codes)
    assert all(c.CATEGORY in CATEGORIES for c in CHECKS)


def test_every_check_documents_the_four_sections():
    for c in CHECKS:
        doc = sections(c)
        assert set(doc) == {"What it detects", "Why training fails", "Fix", "Evidence"}, c.__name__
        assert all(len(v) > 20 for v in doc.values()), c.__name__


def test_categories_match_the_shared_taxonomy():
    if not SHARED_TAXONOMY.exists():
        import pytest
        pytest.skip("../shared/TAXONOMY.md is not beside this checkout")
    listed = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", SHARED_TAXONOMY.read_text(), re.M)
    assert set(listed) == set(CATEGORIES)


def test_every_check_has_an_example_and_its_fix():
    for c in CHECKS:
        assert c.CONFIRMATION in ("re-run", "analytic", "analytic+widen", "evidence"), c.__name__
        assert c.EXAMPLE.strip() and c.FIXED.strip() and c.EXAMPLE != c.FIXED, c.__name__
        compile("def _():\n" + textwrap.indent(c.FIXED, "    "), c.__name__, "exec")   # valid Python
        assert (c.CONFIRMATION in ("re-run", "analytic+widen")) == hasattr(c, "plan"), c.__name__


def test_docs_pages_are_in_sync_with_the_checks(tmp_path):
    from torchdoctor.report.docs import write_docs
    committed = Path(__file__).resolve().parents[1] / "docs" / "checks"
    written = write_docs(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in committed.glob("*.md")), \
        "run `torchdoctor docs docs/checks`"
    for p in written:
        assert p.read_text() == (committed / p.name).read_text(), f"{p.name} is stale: run `torchdoctor docs docs/checks`"


def test_rules_and_explain_commands():
    from helpers import run_cli
    rc, out, _ = run_cli("rules")
    assert rc == 0 and all(c.CODE in out for c in CHECKS)
    rc, out, _ = run_cli("explain", "loss.double_softmax")
    assert rc == 0 and "Why training fails" in out and "nn.Softmax" in out
    rc, _, err = run_cli("explain", "nope")
    assert rc == 2 and "no check" in err


def test_every_category_has_a_check():
    assert {c.CATEGORY for c in CHECKS} == set(CATEGORIES)
