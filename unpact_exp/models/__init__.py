"""Models: prompt formats, the tiny target, and loading of hub/local checkpoints."""
