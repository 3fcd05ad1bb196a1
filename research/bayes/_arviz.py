"""ArviZ, loaded only where it is used, with its FutureWarnings (announcements of its own API
changes, nothing about the user's model) kept off the user's terminal."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def quiet() -> Iterator[None]:
    """Silence ArviZ's FutureWarnings inside the block (other warnings still show)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"arviz(\.|$)")
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*[Aa]rvi[Zz].*")
        yield


def arviz():
    """The arviz module, imported quietly."""
    with quiet():
        import arviz as az
    return az
