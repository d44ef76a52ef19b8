"""Training: the one loop and its tasks, inputs, augmentation, optimizers, losses, precision, checkpoints."""
