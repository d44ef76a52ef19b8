"""seg_evaluate@<variant>: Dice, IoU, pixel accuracy and HD95 of one UNet on the test split."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import seg_evaluate


@cli
def main() -> None:
    params, files = arguments(seg_evaluate.Files, __doc__)
    result = seg_evaluate.run(load(params, files.variant), files)
    print(seg_evaluate.describe(result))


if __name__ == "__main__":
    main()
