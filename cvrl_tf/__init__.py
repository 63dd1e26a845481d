"""CVRL: Spatiotemporal Contrastive Video Representation Learning in TF/Keras."""
