import re
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
