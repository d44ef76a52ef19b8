"""The study report: one self-contained HTML page (images inline as data URLs, no script, no
network) that a user can send to a colleague.

The page is assembled from what the pipeline already wrote: the comparison (compare.json), its
plots, each variant's robustness and activation maps, each variant's differences from the base
params, and the data report (what preprocess could not decode).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.wide { overflow-x: auto; } table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f4f4f4; } td.name, th.name { text-align: left; }
tr.best td { background: #eef7ee; font-weight: 600; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; } figcaption { font-size: 0.85em; color: #555; }
.muted { color: #666; font-size: 0.9em; } code { background: #f4f4f4; padding: 0 3px; }
"""


def data_url(path: Path) -> str:
    """A PNG file as a data URL: the page carries its images."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def figure(path: Path, caption: str, width: int | None = None) -> str:
    if not path.is_file():
        return ""
    style = f' style="width:{width}px"' if width else ""
    return (
        f'<figure><img src="{data_url(path)}" alt="{html.escape(caption)}"{style}>'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def table(header: list[str], rows: list[list[str]], best_row: int | None = None, names: int = 1) -> str:
    """An HTML table; the first `names` columns are text (left-aligned), the best row highlighted."""

    def cells(row: list[str], tag: str) -> str:
        return "".join(
            f"<{tag}{' class=name' if i < names else ''}>{html.escape(str(c))}</{tag}>" for i, c in enumerate(row)
        )

    body = "".join(f"<tr{' class=best' if i == best_row else ''}>{cells(r, 'td')}</tr>" for i, r in enumerate(rows))
    return f"<div class=wide><table><thead><tr>{cells(header, 'th')}</tr></thead><tbody>{body}</tbody></table></div>"


def flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differences(overrides: dict[str, dict]) -> str:
    """Each variant's settings that differ from the base, as the study's variants declare them."""
    rows = [
        [name, "; ".join(f"{k} = {v}" for k, v in flatten(o).items()) or "(the base)"] for name, o in overrides.items()
    ]
    return table(["variant", "differences from the base params"], rows, names=2)


def page(title: str, sections: list[tuple[str, str]], subtitle: str = "") -> str:
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections if content)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<p class="muted">{subtitle}</p>\n{body}</body></html>\n'
    )
