"""One module per kind of dataset source; imgstudy.data.catalog names the datasets."""
