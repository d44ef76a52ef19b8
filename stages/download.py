"""download: write the raw files of the dataset named in params under the raw folder."""

from imgstudy.core.cli import arguments, cli
from imgstudy.params import load
from imgstudy.pipeline import download


@cli
def main() -> None:
    params, files = arguments(download.Files, __doc__)
    result = download.run(load(params), files)
    print(download.describe(result))


if __name__ == "__main__":
    main()
