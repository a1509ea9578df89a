"""Synthetic training data with exact ground truth: shapes, appearance, light, renders.

Deterministic from a seed. Shapes and scene parameters are drawn with numpy on the
CPU; rendering (a brute-force ray caster with per-pixel layered depth) runs in torch
on whatever device it is given, the CPU for tests, a GPU for training in batch.
"""
