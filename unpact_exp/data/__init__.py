"""Datasets: the embedded synthetic benchmark and loaders for hub datasets."""
