"""seg_train@<variant>: fit one segmentation variant's UNet; keep its best checkpoint by val Dice."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import train


@cli
def main() -> None:
    params, files = arguments(train.Files, __doc__)
    result = train.run(load(params, files.variant), files, kind="segmenter")
    print(train.describe(result))


if __name__ == "__main__":
    main()
