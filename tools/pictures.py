"""The README's picture of `dvc plots show`, made from the committed study.

    make pictures                  # = python -m tools.pictures, after installing Vega and Chromium

`dvc plots show` renders the committed compare/plots/ (git-tracked: a fresh clone has them without a
build) into a page whose Vega scripts come from a CDN; the page is pointed at the copies npm installed
under .pictures/ (no internet at run time), opened in headless Chromium and photographed into
docs/plots_page.png. docs/pictures.json records the commit the picture was made from, and the README's
caption names it (tests/test_readme.py checks both against the committed comparison).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imgstudy.core.cli import cli
from imgstudy.core.errors import UserError
from imgstudy.core.machine import cpu_name

ROOT = Path(__file__).resolve().parents[1]
VEGA = {  # DVC's CDN script -> the file npm installs (the versions dvc-render's page asks for)
    "https://cdn.jsdelivr.net/npm/vega@5.20.2": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5.2.0": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6.18.2": "vega-embed/build/vega-embed.min.js",
}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def render(out: Path, modules: Path) -> Path:
    """The plots page with its Vega scripts from `modules` (node_modules)."""
    dvc = [sys.executable, "-m", "dvc", "plots", "show", "-o", str(out)]
    subprocess.run(dvc, cwd=ROOT, check=True, capture_output=True)
    page = out / "index.html"
    text = page.read_text()
    for cdn, local in VEGA.items():
        if cdn not in text:
            raise UserError(f"{page} no longer loads {cdn}: update tools/pictures.py VEGA to dvc-render's versions")
        text = text.replace(cdn, (modules / local).as_uri())
    page.write_text(text)
    return page


def photograph(page: Path, picture: Path, width: int, height: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        raise UserError("Debian's chromium and chromium-driver are needed: make pictures installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="pictures-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", f"--user-data-dir={profile}", f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        browser.get(page.as_uri())
        deadline = time.time() + 30  # Vega draws after the page loads
        while (
            time.time() < deadline
            and browser.execute_script("return document.querySelectorAll('svg, canvas').length") < 5
        ):
            time.sleep(0.2)
        time.sleep(1)
        browser.save_screenshot(str(picture))
    finally:
        browser.quit()


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", type=Path, default=ROOT / ".pictures/node_modules")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/plots_page.png")
    args = parser.parse_args()
    if git("status", "--porcelain", "--", "compare"):
        raise UserError("compare/ differs from the committed study: the picture shows the committed one; commit first")
    with tempfile.TemporaryDirectory() as tmp:
        photograph(render(Path(tmp) / "plots", args.modules), args.out, 1300, 2400)
    commit = git("rev-parse", "--short", "HEAD")
    shown = hashlib.sha256((ROOT / "compare/compare.json").read_bytes()).hexdigest()  # what the picture shows
    record = {args.out.name: {"commit": commit, "compare_json_sha256": shown, "made_by": "make pictures",
                              "machine": cpu_name()}}  # fmt: skip
    (ROOT / "docs/pictures.json").write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"{args.out}: `dvc plots show` of the study committed in {commit} (caption: made by `make pictures` "
        f"from {commit})"
    )


if __name__ == "__main__":
    main()
