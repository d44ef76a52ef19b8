"""The comparison as tables: variant names, the study's columns, markdown and CSV."""

from __future__ import annotations

import csv
import io
import re

from imgstudy.evaluation.statistics import SEG_METRICS
from imgstudy.params.choices import METRICS


def display_name(variant: str) -> str:
    """Variant keys cannot hold dots (DVC reads them as nesting): A0 is printed A.0."""
    m = re.fullmatch(r"([A-Za-z]+)(\d+)", variant)
    return f"{m.group(1)}.{m.group(2)}" if m else variant


# Keys of a switch group that say how its switches act, not whether one is on (augment.fill: what a moved
# image shows where it has no pixels).
MODES = ("fill",)


def column_value(params: dict, dotted: str) -> str:
    """A study-table cell from a variant's resolved params; a switch group reads yes/no."""
    node = params
    for key in dotted.split("."):
        node = node[key]
    if isinstance(node, dict):  # a group of switches (augment): "yes" if any is on
        switches = {k: v for k, v in node.items() if k not in MODES}
        return "yes" if any(bool(v) and v != "none" for v in switches.values()) else "no"
    if isinstance(node, bool):
        return "yes" if node else "no"
    return str(node)


# Optional columns: title -> (where in a variant's report, format); shown when any variant has the value.
EXTRA_COLUMNS = {
    "k-fold val acc": None,  # mean ± std, from metrics val_acc_mean / val_acc_std
    "mean corruption acc": (("robustness", "mean_corruption_accuracy"), "{:.4f}"),
    "altered acc": (("robustness", "altered_accuracy"), "{:.4f}"),
}


def _extra(v: dict, title: str) -> str | None:
    if title == "k-fold val acc":
        m = v["metrics"]
        return f"{m['val_acc_mean']:.4f} ± {m['val_acc_std']:.4f}" if "val_acc_mean" in m else None
    (group, key), fmt = EXTRA_COLUMNS[title]
    value = (v.get(group) or {}).get(key)
    return None if value is None else fmt.format(value)


def table_rows(report: dict, columns: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table, one row per variant, in grid order."""
    variants = report["variants"]
    extras = [t for t in EXTRA_COLUMNS if any(_extra(v, t) is not None for v in variants.values())]
    header = [
        "variant",
        *columns,
        *METRICS,
        *extras,
        "parameters",
        f"p vs {display_name(report['best'])}",
    ]
    rows = []
    for name, v in variants.items():
        cells = [display_name(name), *v["columns"].values()]
        for m in METRICS:
            lo, hi = v["ci"][m]
            cells.append(f"{v['metrics'][m]:.4f} [{lo:.4f}, {hi:.4f}]")
        cells += [_extra(v, t) or "" for t in extras]
        cells += [
            f"{v['metrics']['parameters']:,}",
            "best" if name == report["best"] else f"{v['mcnemar']['p_value']:.3g}",
        ]
        rows.append(cells)
    return header, rows


def to_markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def seeds_markdown(groups: dict[str, dict]) -> str:
    """The across-seeds table: mean ± std of each metric per group."""
    if not groups:
        return ""
    metrics = [m for m in METRICS if all(m in g for g in groups.values())]
    header = ["configuration", "variants", "seeds", *metrics]
    rows = [
        [
            display_name(name),
            ", ".join(display_name(v) for v in g["variants"]),
            ", ".join(str(s) for s in g["seeds"]),
            *(f"{g[m]['mean']:.4f} ± {g[m]['std']:.4f}" for m in metrics),
        ]
        for name, g in groups.items()
    ]
    return "\n\nAcross seeds (variants identical but for base.seed): mean ± sample std.\n\n" + to_markdown(header, rows)


def seg_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the segmentation table, one row per segmentation variant."""
    header = ["variant", "Dice", "IoU", "HD95 (px)", "test images", f"p vs {display_name(report['best'])}"]
    rows = []
    for name, v in report["variants"].items():
        cells = [display_name(name)]
        for m in SEG_METRICS:
            lo, hi = v[m]["ci"]
            digits = 2 if m == "hd95" else 4
            cells.append(f"{v[m]['mean']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]")
        cells += [str(v["images"]), "best" if name == report["best"] else f"{v['p_value']:.3g}"]
        rows.append(cells)
    return header, rows


def seg_caption(report: dict) -> str:
    return (
        f"Segmentation, best by Dice: {display_name(report['best'])}. Brackets: {report['confidence']:.0%} "
        f"bootstrap intervals over test images ({report['bootstrap']} resamples); last column: Wilcoxon "
        "signed-rank test of per-image Dice against the best."
    )


def seg_markdown(report: dict) -> str:
    return seg_caption(report) + "\n\n" + to_markdown(*seg_rows(report))


LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "±": r"$\pm$"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(header: list[str], rows: list[list[str]], caption: str = "") -> str:
    """A booktabs table (\\usepackage{booktabs}): the first column left-aligned, the others right."""
    lines = [r"\begin{table}[ht]", r"\centering", r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule"]
    lines.append(" & ".join(latex_escape(h) for h in header) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in rows]
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
