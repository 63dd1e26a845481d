"""Training objectives."""
from cvrl_tf.losses.contrastive import contrastive_loss
