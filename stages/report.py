"""report: the whole study on one self-contained page."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import report


@cli
def main() -> None:
    params, files = arguments(report.Files, __doc__)
    result = report.run(load(params), files)
    print(report.describe(result))


if __name__ == "__main__":
    main()
