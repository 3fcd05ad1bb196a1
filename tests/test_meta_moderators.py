"""Moderator columns for meta-regression: continuous as given, categorical in R's treatment coding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.errors import InputError
from research.meta import moderator_matrix

TABLE = pd.DataFrame({"year": [2001, 2005, 2010, 2012], "area": ["urban", "rural", "urban", "mixed"],
                      "id": ["e1", "e2", "e3", "e4"]})


def test_categorical_levels_become_indicators_with_the_first_sorted_level_as_reference():
    mods = moderator_matrix(TABLE, ["year"], ["area"])
    assert list(mods) == ["year", "arearural", "areaurban"]
    assert mods["year"].tolist() == [2001, 2005, 2010, 2012]
    assert mods["arearural"].tolist() == [0, 1, 0, 0] and mods["areaurban"].tolist() == [1, 0, 1, 0]


def test_reference_level_can_be_named():
    mods = moderator_matrix(TABLE, categorical=["area"], reference={"area": "urban"})
    assert list(mods) == ["areamixed", "arearural"]
    assert np.array_equal(mods["areamixed"], [0, 0, 0, 1])


@pytest.mark.parametrize(
    ("kwargs", "table", "message"),
    [
        ({"continuous": ["speed"]}, TABLE, "'speed' is not a column"),
        ({"continuous": ["area"]}, TABLE, "not numbers; declare it categorical"),
        ({"continuous": ["year"]}, TABLE.assign(year=[2001, None, 2010, 2012]), "no value for e2"),
        ({"categorical": ["area"]}, TABLE.assign(area="urban"), "single level"),
        ({"categorical": ["area"], "reference": {"area": "desert"}}, TABLE, "'desert' of moderator 'area'"),
        ({"continuous": ["year"], "categorical": ["year"]}, TABLE, "both continuous and categorical"),
    ],
)
def test_bad_moderators_are_refused_with_the_reason(kwargs, table, message):
    with pytest.raises(InputError, match=message):
        moderator_matrix(table, labels=table["id"].tolist(), **kwargs)
