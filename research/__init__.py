"""Sightline: evidence synthesis and claim verification for public-safety technology."""
__version__ = "0.1.0"
