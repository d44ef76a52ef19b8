"""Mutation testing of the pure modules (setup.cfg [mutmut]) and its score per module.

    make mutation                      # = python -m tools.mutation (installs mutmut first)
    python -m tools.mutation --report  # the table of the last run, without running

The score counts killed and timed-out mutants over the mutants tested (a mutant that no test reaches
counts against it; "not checked" are those a stopped run has not reached yet). `mutmut results` lists
the survivors, `mutmut show <name>` one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

MUTMUT = str(Path(sys.executable).with_name("mutmut"))
CAUGHT = {"killed", "timeout"}


def statuses() -> dict[str, Counter]:
    """module -> Counter of mutant statuses, from `mutmut results --all true`."""
    out = subprocess.run([MUTMUT, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    per_module: dict[str, Counter] = defaultdict(Counter)
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if "__mutmut_" in name:
            module = name.rsplit(".", 1)[0]
            per_module[module][status] += 1
    return per_module


def table(per_module: dict[str, Counter]) -> str:
    rows = [
        "| module | mutants | not checked | killed | survived | no tests | score |",
        "|---|---|---|---|---|---|---|",
    ]
    total = Counter()
    for module, c in sorted(per_module.items()):
        total += c
        rows.append(row(module, c))
    rows.append(row("**all**", total))
    return "\n".join(rows)


def row(name: str, c: Counter) -> str:
    n, caught = sum(c.values()), sum(c[s] for s in CAUGHT)
    tested = n - c["not checked"]
    score = f"{100 * caught / tested:.1f}%" if tested else "-"
    return f"| {name} | {n} | {c['not checked']} | {caught} | {c['survived']} | {c['no tests']} | {score} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="only the table of the last run")
    parser.add_argument("--children", type=int, default=2, help="mutants tested in parallel")
    args = parser.parse_args()
    if not args.report:
        subprocess.run([MUTMUT, "run", "--max-children", str(args.children)], check=True)
    print(table(statuses()))


if __name__ == "__main__":
    main()
