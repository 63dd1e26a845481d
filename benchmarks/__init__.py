"""Throughput benchmarks: input pipeline and pretraining step."""
