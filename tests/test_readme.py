"""The README's numbers are the committed ones: a rebuilt study that leaves the README behind fails here."""

from __future__ import annotations

import re

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_the_default_study_table_is_the_committed_comparison() -> None:
    assert (ROOT / "compare" / "compare.md").read_text().strip() in README


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
