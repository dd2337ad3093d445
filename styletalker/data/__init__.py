"""Datasets: the on-disk clip format, the synthetic-world builder, the real-clip preparer and the torch Dataset."""
