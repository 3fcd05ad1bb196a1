"""Command groups of the ``research`` CLI; each module defines ``register(app)``."""
