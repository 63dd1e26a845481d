"""The trainer and what keeps a run going: resume, NaN stop, preemption."""
