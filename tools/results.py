"""A built study's results, committed: results/<study>/ from the outputs of `make study NAME=<study>`.

    make results NAME=mnist            # = make study NAME=mnist, then python -m tools.results mnist

Refuses unless params.yaml is the study's preset and `dvc status` is clean (every output comes from the
current code and params). Writes results/<study>/: compare.md and compare.json (as compare/ has them),
params.yaml (resolved), dvc.lock (the pipeline's stages only), plots/*.png, and README.md, which sets the
study's reported numbers (studies/reported/<study>.yaml) beside ours, checks the targets, lists the
deviations, the wall time per variant, the machine and the commit.

    python -m tools.results --check    # which committed results the code has moved away from

lists, for each results/<study>/, the stages whose code (imgstudy/, stages/, dvc.yaml...) differs from
what its dvc.lock recorded: `dvc status` on a copy of this tree given the study's params and lock.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from pathlib import Path

from imgstudy.core.cli import cli
from imgstudy.core.errors import UserError
from imgstudy.core.machine import machine_record
from imgstudy.core.timings import read_timings
from imgstudy.params import Params, load, read_yaml
from tools import staleness
from tools.preset import MARKER
from tools.staleness import DVC, git, run

ROOT = Path(__file__).resolve().parents[1]
REPORTED = ROOT / "studies" / "reported"


def check_built(study: str, params: Path) -> None:
    first = params.read_text().splitlines()[0] if params.is_file() else ""
    if not first.startswith(f"{MARKER} {study}`"):
        raise UserError(f"{params} is not the {study!r} preset (first line {first!r}); run `make study NAME={study}`")
    stale = sorted(json.loads(run(*DVC, "status", "--json") or "{}"))
    if stale:
        raise UserError(f"`dvc status` lists {len(stale)} stale stages ({', '.join(stale[:5])}...): run `dvc repro`")


def pipeline_lock(text: str, stages: set[str]) -> str:
    """dvc.lock with only the entries of `stages`, in DVC's own formatting: DVC keeps a stage's entry after
    the stage leaves the pipeline (treeverse/dvc#5293), so a study built in a clone of the project also
    carries the default study's variants, and a variant dropped from the grid the code it last ran."""
    kept, keep = [], True
    for line in text.splitlines(keepends=True):
        if line.startswith("  ") and not line.startswith("   "):  # "  name:", where a stage's entry starts
            keep = line.strip().rstrip(":").strip("'\"") in stages
        if keep:
            kept.append(line)
    return "".join(kept)


def stage_names() -> set[str]:
    """The stages dvc.yaml and params.yaml make, as DVC lists them."""
    return set(run(*DVC, "stage", "list", "--name-only").split())


def value(ref: str | dict, report: dict) -> tuple[str, float | None]:
    """What `ref` names in compare.json: "variant.metric" (metric from the test metrics or robustness;
    variant "best" is the best variant), or {best_of: [variants]} (the best of those by the study's metric)."""
    variants, metric = report["variants"], report["metric"]
    if isinstance(ref, dict):
        best = max(ref["best_of"], key=lambda v: variants[v]["metrics"][metric])
        return best, variants[best]["metrics"][metric]
    name, key = ref.split(".", 1)
    name = report["best"] if name == "best" else name
    row = variants[name]
    number = nested(row["metrics"], key)
    number = nested(row.get("robustness") or {}, key) if number is None else number
    if isinstance(number, int) and not isinstance(number, bool):  # a count (true positives...)
        return str(number), number
    return (f"{number:.4f}" if number is not None else "n/a"), number


def nested(tree: dict, dotted: str):
    """tree["per_class"]["COVID"]["precision"] for "per_class.COVID.precision"; None where there is none."""
    node = tree
    for key in dotted.split("."):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return None
    return node


def reported_table(reported: dict, report: dict) -> list[str]:
    lines = ["| what | the study | ours | target | met | source |", "|---|---|---|---|---|---|"]
    for row in reported["rows"]:
        shown, number = value(row["ours"], report)
        if isinstance(row["ours"], dict):
            shown = f"{shown} ({number:.4f})"
        target = row.get("target")
        met = "" if target is None else ("yes" if number is not None and number >= target else "**no**")
        study = "-" if row["study"] is None else row["study"]
        target = "" if target is None else target
        lines.append(f"| {row['what']} | {study} | {shown} | {target} | {met} | {row['source']} |")
    return lines


def time_table(report: dict, models: Path, timings: Path) -> list[str]:
    """Epochs and training minutes per variant: from the timings this machine recorded (outside the
    hashed outputs), "-" for a variant trained elsewhere (pulled through the run cache)."""
    times = read_timings(timings)
    lines = ["| variant | epochs (best) | train min | accuracy |", "|---|---|---|---|"]
    for name, row in report["variants"].items():
        summary = json.loads((models / name / "summary.json").read_text())
        seconds = times.get(f"{name}.train", {}).get("seconds")
        minutes = "-" if seconds is None else f"{seconds / 60:.1f}"
        lines.append(
            f"| {name} | {summary['epochs']} ({row['metrics']['best_epoch']}) | {minutes} "
            f"| {row['metrics']['accuracy']:.4f} |"
        )
    return lines


def moved(previous: dict | None, report: dict, reported: dict) -> list[str]:
    """What a rebuild changed: the previous build's committed numbers beside this one's, for every variant (the
    study's metric) and every reported row; nothing for a first build. A rebuilt number that moved says from
    what to what, one that did not says unchanged."""
    if previous is None:
        return []
    lines = [
        "## Since the previous build",
        "",
        f"The previous build of this study (commit {previous['commit']}) beside this one.",
        "",
        "| what | before | now | |",
        "|---|---|---|---|",
    ]
    metric, old = report["metric"], previous["report"]
    rows = [(f"{name}, {metric}", f"{name}.{metric}") for name in report["variants"]]
    rows += [(row["what"], row["ours"]) for row in reported["rows"] if isinstance(row["ours"], str)]
    for what, ref in rows:
        now = value(ref, report)[0]
        try:
            before = value(ref, old)[0]
        except KeyError:  # a variant the previous build did not have
            before = "-"
        lines.append(f"| {what} | {before} | {now} | {'unchanged' if before == now else ''} |")
    return [*lines, ""]


def previous_build(out: Path) -> dict | None:
    """The committed compare.json of results/<study>/ and the commit its README names, before a rebuild."""
    if not (out / "compare.json").is_file():
        return None
    text = (out / "README.md").read_text() if (out / "README.md").is_file() else ""
    found = re.search(r"^from commit (\w+)", text, re.M)
    return {"report": json.loads((out / "compare.json").read_text()), "commit": found.group(1) if found else "?"}


def readme(
    study: str, reported: dict, report: dict, built: Params, plots: list[str], note: str, previous: dict | None = None
) -> str:
    cpu = machine_record()
    omp = os.environ.get("OMP_NUM_THREADS")
    threads = omp or (built.base.threads or "all cores")
    pin = f"OMP_NUM_THREADS={omp} " if omp else ""  # bf16 sums depend on the thread count: the command says it
    code = ["imgstudy", "stages", "tools", "dvc.yaml", "studies", "requirements.txt"]  # not the study's params
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no", "--", *code) else ""
    lines = [
        f"# Results: {reported['study']}",
        "",
        f"Built by `{pin}make results NAME={study}` (`make study NAME={study}`, "
        f"then `python -m tools.results {study}`)",
        f"from commit {git('rev-parse', '--short', 'HEAD')}{dirty}, on {cpu['name']} ({cpu['kind']}: AMX "
        f"{cpu['amx_bf16']}, AVX512-BF16 {cpu['avx512_bf16']}; precision {cpu['auto_precision']}), "
        f"torch {cpu['torch']}, threads per stage: {threads}. `dvc status` was clean.",
        "",
        "## The study's numbers beside ours",
        "",
        *reported_table(reported, report),
        "",
        *moved(previous, report, reported),
        "## Every variant",
        "",
        "From compare.md (test set; brackets: bootstrap intervals):",
        "",
        (Path(built.paths.compare) / "compare.md").read_text().strip(),
        "",
        "## Wall time per variant (training)",
        "",
        *([note, ""] if note else []),
        *time_table(report, Path(built.paths.models), Path(built.paths.timings)),
        "",
        "## Deviations from the study",
        "",
        *[f"- {d['text']} (Source: {d['source']}.)" for d in reported["deviations"]],
        "",
        "## Plots",
        "",
        *[f"![{name}](plots/{name})" for name in plots],
        "",
    ]
    return "\n".join(lines)


def write(study: str, params: Path, out: Path, note: str = "") -> Path:
    check_built(study, params)
    built = load(params, read_yaml(params)["grid"][0])
    reported = read_yaml(REPORTED / f"{study}.yaml")
    compare = Path(built.paths.compare)
    report = json.loads((compare / "compare.json").read_text())
    previous = previous_build(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "plots").mkdir(parents=True)
    for name in ("compare.md", "compare.json"):
        shutil.copy2(compare / name, out / name)
    shutil.copy2(params, out / "params.yaml")
    (out / "dvc.lock").write_text(pipeline_lock(Path("dvc.lock").read_text(), stage_names()))
    plots = sorted(f.name for f in (compare / "plots").glob("*.png"))
    for name in plots:
        shutil.copy2(compare / "plots" / name, out / "plots" / name)
    (out / "README.md").write_text(readme(study, reported, report, built, plots, note, previous))
    return out


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", nargs="?")
    parser.add_argument("--check", action="store_true", help="list the results the code has moved away from")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, help="default: results/<study>")
    parser.add_argument("--note", default="", help="how the run shared the machine, for the wall times")
    args = parser.parse_args()
    if args.check:
        raise SystemExit(0 if staleness.check() else 1)
    if not args.study:
        parser.error("name a study, or give --check")
    out = write(args.study, args.params, args.out or Path("results") / args.study, args.note)
    print(f"results: {out}/README.md")


if __name__ == "__main__":
    main()
