"""Experiment configs registered with `exp_factory`."""
