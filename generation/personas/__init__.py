"""Persona datasets (seed 004): data writers, the image step, exports."""
