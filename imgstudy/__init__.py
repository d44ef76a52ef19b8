"""imgstudy: reproducible image-classification and segmentation studies (the library; never reads params.yaml)."""
