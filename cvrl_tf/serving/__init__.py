"""Export of the pretrained encoder for serving."""
