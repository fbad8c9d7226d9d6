"""Synthetic, benign test material: generated images, generated web sites, and a loopback server.

Used by ``make demo``, the end-to-end tests and the pipeline benchmark. Nothing here is ever real material:
every image is drawn from a seeded random generator.
"""
