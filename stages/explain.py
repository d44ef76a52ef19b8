"""explain@<variant>: class activation maps, their mean per class and how faithful they are."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import explain


@cli
def main() -> None:
    params, files = arguments(explain.Files, __doc__)
    result = explain.run(load(params, files.variant), files)
    print(explain.describe(result))


if __name__ == "__main__":
    main()
