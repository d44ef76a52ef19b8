"""evaluate@<variant>: score one variant's best model on the test split; keep predictions and plots."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import evaluate


@cli
def main() -> None:
    params, files = arguments(evaluate.Files, __doc__)
    result = evaluate.run(load(params, files.variant), files)
    print(evaluate.describe(result))


if __name__ == "__main__":
    main()
