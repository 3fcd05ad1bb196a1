"""Frequentist meta-analysis checked against R's metafor 3.8.

Flow: effect sizes from :mod:`research.effects` -> :func:`rma` (one fitted results object) ->
its methods (``summary``, ``to_dict``, ``predict``, ``leave1out``, ``influence``, ``cumul``) and
the small-study methods (``egger``, ``trimfill``, ``pet_peese``, ``selmodel``), plus
:func:`subgroup` for subgroup analyses, :func:`rma_mv` for multilevel models (several
estimates per evaluation) and :func:`moderator_matrix` for continuous and categorical moderators. Conformance with metafor is tested against reference values
written by conformance/metafor_reference.R.
"""

from research.meta._core import METHODS, Control
from research.meta.bias import (
    PetPeese,
    RegressionTest,
    SelectionModel,
    TrimFill,
    egger,
    pet_peese,
    regtest,
    selmodel,
    trimfill,
)
from research.meta.conformance import assert_matches, compare
from research.meta.diagnostics import cumul, influence, leave1out
from research.meta.model import TESTS, MetaResults, Prediction, Summary, rma
from research.meta.moderators import moderator_matrix
from research.meta.multilevel import MultilevelControl, MultilevelResults, VarianceComponent, rma_mv
from research.meta.subgroup import SubgroupResults, subgroup

__all__ = [
    "METHODS",
    "TESTS",
    "Control",
    "MetaResults",
    "MultilevelControl",
    "MultilevelResults",
    "PetPeese",
    "Prediction",
    "RegressionTest",
    "SelectionModel",
    "SubgroupResults",
    "Summary",
    "TrimFill",
    "VarianceComponent",
    "assert_matches",
    "compare",
    "cumul",
    "egger",
    "influence",
    "leave1out",
    "moderator_matrix",
    "pet_peese",
    "regtest",
    "rma",
    "rma_mv",
    "selmodel",
    "subgroup",
    "trimfill",
]
