"""The man pages render without a groff warning. (That nanodns.8 documents
every key the loader accepts is tests/unit/test_config.c's job: it reads the
loader's own key tables.)"""

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
PAGES = [ROOT / "controlplane" / "nanodns.8", ROOT / "nanoctl" / "nanoctl.1"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_man_page_renders_without_a_warning(page):
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    # -ww: every warning; -z: format, print nothing
    proc = subprocess.run(
        ["groff", "-man", "-ww", "-z", str(page)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
