"""English and Turkish are complete: every string in the code has a Turkish translation."""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "tr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def test_the_turkish_catalogue_is_complete():
    catalogue = polib.pofile(str(PO))
    assert catalogue.untranslated_entries() == []
    assert catalogue.fuzzy_entries() == []
    assert len(catalogue) > 100


def test_the_compiled_catalogue_matches_the_source():
    # `make run` uses the committed .mo, so it must be compiled from the current .po.
    source = {(e.msgid, e.msgctxt): e.msgstr for e in polib.pofile(str(PO)) if not e.msgid_plural}
    compiled = {(e.msgid, e.msgctxt): e.msgstr for e in polib.mofile(str(MO)) if not e.msgid_plural}
    assert compiled == source


def test_no_string_in_the_code_is_missing_from_the_catalogue(tmp_path):
    """Run makemessages on a copy of the source and check nothing new appears untranslated."""
    if shutil.which("xgettext") is None:
        pytest.fail("xgettext (Debian package gettext) is needed; make test installs it.")
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".venv", "var", ".git", "node_modules", "__pycache__", "tests"
        ),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "tr", "--no-obsolete"],
        cwd=copy,
        env={"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    regenerated = polib.pofile(str(copy / "locale" / "tr" / "LC_MESSAGES" / "django.po"))
    missing = [entry.msgid for entry in regenerated.untranslated_entries()]
    missing += [entry.msgid for entry in regenerated.fuzzy_entries()]
    assert missing == [], f"untranslated: {missing[:10]}"
