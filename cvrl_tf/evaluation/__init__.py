"""Evaluation protocols: linear probe, multi-view testing, retrieval, subsets."""
