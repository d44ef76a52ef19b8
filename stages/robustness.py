"""robustness@<variant>: one variant's accuracy on corrupted copies of the test split."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import robustness


@cli
def main() -> None:
    params, files = arguments(robustness.Files, __doc__)
    result = robustness.run(load(params, files.variant), files)
    print(robustness.describe(result))


if __name__ == "__main__":
    main()
