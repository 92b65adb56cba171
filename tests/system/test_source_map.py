"""The README's source map names every source file, and only files that exist."""

import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FOLDERS = ("common", "controlplane", "dataplane", "nanoctl")


def source_map():
    """{folder: set of file names} from the README's source map table."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text.split("### Source map", 1)[1].split("\n## ", 1)[0]
    named = {folder: set() for folder in FOLDERS}
    folder = None
    for line in section.splitlines():
        heading = re.match(r"\| \*\*(\w+)/\*\*", line)
        if heading:
            folder = heading.group(1)
            continue
        if folder and line.startswith("| `"):
            first_cell = line.split("|")[1]
            named[folder].update(re.findall(r"`([\w.]+)`", first_cell))
    return named


def sources(folder):
    names = set(os.listdir(os.path.join(ROOT, folder)))
    files = {n for n in names if n.endswith(".c") or n.endswith(".h")}
    # X.h beside X.c is the module's header: the map names the module by X.c
    return {n for n in files if not (n.endswith(".h") and n[:-2] + ".c" in names)}


def test_every_source_file_is_in_the_map():
    named = source_map()
    for folder in FOLDERS:
        missing = sources(folder) - named[folder]
        assert not missing, f"README source map lacks {folder}/: {sorted(missing)}"


def test_every_file_in_the_map_exists():
    named = source_map()
    for folder in FOLDERS:
        gone = {n for n in named[folder] if not os.path.exists(os.path.join(ROOT, folder, n))}
        assert not gone, f"README source map names files that are gone in {folder}/: {sorted(gone)}"
