"""End to end on tiny models with the paper models' architectures (Llama-3.1, Qwen3, Llama-2)."""
