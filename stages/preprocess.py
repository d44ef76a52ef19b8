"""preprocess: decode the raw data once into the uint8 array store; report what could not be used."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import preprocess


@cli
def main() -> None:
    params, files = arguments(preprocess.Files, __doc__)
    result = preprocess.run(load(params), files)
    print(preprocess.describe(result))


if __name__ == "__main__":
    main()
