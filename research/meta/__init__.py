"""Frequentist meta-analysis checked against R's metafor 3.8.

Flow: effect sizes from :mod:`research.effects` -> :func:`rma` (one fitted results object) ->
its methods (``predict``, ``leave1out``, ``influence``, ``cumul``) and the small-study methods in
:mod:`research.meta.bias` -> plain data via ``to_dict()``.
"""

from research.meta._core import METHODS, Control
from research.meta.model import TESTS, MetaResults, Prediction, Summary, rma

__all__ = ["METHODS", "TESTS", "Control", "MetaResults", "Prediction", "Summary", "rma"]
