"""CVRL: Spatiotemporal Contrastive Video Representation Learning in TF/Keras.

Importing the package registers nothing: as in Model Garden, the binaries
(`cvrl_tf.train`, the demo, the tools) import `cvrl_tf.registry_imports`,
which registers the experiments, tasks and models with the factories.
"""
