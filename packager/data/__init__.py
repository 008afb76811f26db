"""Calibration and evaluation data: readers, the dataset types, background loading, the one preprocessing spec and bounded .npy/.npz reading."""
