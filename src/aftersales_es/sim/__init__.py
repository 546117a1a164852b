"""Simulation under a virtual clock: scenario files and the demo."""
