"""Experiment configs registered with `exp_factory`, and their YAMLs."""
import os

# The YAML experiments (paper settings and small presets). They ship inside
# the package, so an installed copy (the demo, a user) finds them here.
EXPERIMENTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               'experiments')
