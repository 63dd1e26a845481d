"""Pictures of what the model sees: augmented views, retrieval results."""
