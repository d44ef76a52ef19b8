"""compare: every variant side by side with intervals and paired tests; the best model."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import compare


@cli
def main() -> None:
    params, files = arguments(compare.Files, __doc__)
    result = compare.run(load(params), files)
    print(compare.describe(result))


if __name__ == "__main__":
    main()
