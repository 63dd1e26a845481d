"""Graph ops for video preprocessing: frame sampling and augmentation."""
