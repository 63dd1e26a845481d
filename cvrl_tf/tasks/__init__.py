"""Training and evaluation tasks registered with `task_factory`."""
