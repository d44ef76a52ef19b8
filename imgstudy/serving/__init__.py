"""Using a trained model: prediction, the web app, export to TorchScript and ONNX."""
