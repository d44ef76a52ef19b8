"""train@<variant>: fit one variant's classifier; keep its best checkpoint, its params and curves."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import train


@cli
def main() -> None:
    params, files = arguments(train.Files, __doc__)
    result = train.run(load(params, files.variant), files)
    print(train.describe(result))


if __name__ == "__main__":
    main()
