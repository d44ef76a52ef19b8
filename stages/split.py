"""split: stratified train/val/test index files over the store."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import split


@cli
def main() -> None:
    params, files = arguments(split.Files, __doc__)
    result = split.run(load(params), files)
    print(split.describe(result))


if __name__ == "__main__":
    main()
