"""The README's numbers are the committed ones: a rebuilt study that leaves the README behind fails here.

The default study's table is read from the committed revision (git show HEAD:...), never from the
workspace: `make run` rewrites compare/, and on another kind of CPU its numbers may differ (bf16 against
fp32), which must not turn the README's own order - run, then test - red.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def committed(path: str) -> str:
    return subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_the_default_study_table_is_the_committed_comparison() -> None:
    assert committed("compare/compare.md").strip() in README


def test_each_full_data_number_is_in_its_study_results() -> None:
    section = README.split("## Results on full data", 1)[1].split("\n## ", 1)[0]
    rows, study = [], None
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.fullmatch(r"0\.\d{4}", cells[2]):
            continue
        link = re.search(r"\(results/(\w+)/README\.md\)", cells[0])
        study = link.group(1) if link else study
        rows.append((study, cells[2]))
    assert {s for s, _ in rows} == {p.name for p in (ROOT / "results").iterdir() if p.is_dir()}, rows
    for study, number in rows:  # a cell's value, not an interval's bound
        assert f"| {number} " in (ROOT / "results" / study / "compare.md").read_text(), (study, number)


def test_the_plots_picture_is_of_the_committed_study_and_its_caption_names_the_commit() -> None:
    """docs/plots_page.png comes from `make pictures` on the committed comparison: a rebuilt study without a
    new picture fails here, and so does a caption that names another commit."""
    record = json.loads((ROOT / "docs/pictures.json").read_text())["plots_page.png"]
    committed_json = subprocess.run(
        ["git", "show", "HEAD:compare/compare.json"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    assert hashlib.sha256(committed_json).hexdigest() == record["compare_json_sha256"], "run `make pictures`"
    assert f"`make pictures` from commit {record['commit']}" in README
