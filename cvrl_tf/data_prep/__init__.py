"""Dataset preparation: raw videos to sharded TFRecords, and toy video sets."""
