"""Disclosure control of published tables: primary and complementary suppression, known answers.

Each table is small enough to work out by hand; the expected hidden cells are written out.
The rule (Hundepool et al. 2012, *Statistical Disclosure Control*, ch. 4): hide every cell
about 1-4 people, then, in every group of cells that adds up to a published total, hide the
smallest visible cell while a single cell is hidden or the hidden cells together are about
fewer than 5 people.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from pipeline.errors import InputError
from reporting.suppress import Margin, primary_mask, suppress


def test_primary_mask_hides_one_to_four_and_small_bases() -> None:
    counts = pd.Series([0, 1, 4, 5, 12, np.nan])
    assert_array_equal(primary_mask(counts, 5), [False, True, True, False, False, False])
    base = pd.Series([3, 20, 20, 20, 20, 20])  # a zero out of 3 people is about 3 people
    assert_array_equal(primary_mask(counts, 5, base=base), [True, True, True, False, False, False])


def test_one_hidden_cell_in_a_row_takes_the_next_smallest_with_it() -> None:
    # improved 3 / unchanged 90 / deteriorated 14 of n = 107: 3 is hidden, and 14 with it,
    # else 107 - 90 - 14 = 3 gives it back
    table = pd.DataFrame({"category": ["improved", "unchanged", "deteriorated"], "count": [3, 90, 14],
                          "n": [107] * 3, "share": [3 / 107, 90 / 107, 14 / 107]})  # fmt: skip
    out = suppress(table, count="count", values=["share"], keys=["category"], margins=[Margin("category")], base="n")
    assert_array_equal(out["suppressed"], [True, False, True])
    assert_allclose(out["count"].to_numpy(), [np.nan, 90, np.nan], rtol=0)
    assert_allclose(out["share"].to_numpy(), [np.nan, 90 / 107, np.nan], rtol=0)
    assert_allclose(out["n"].to_numpy(), [107, 107, 107], rtol=0)  # the margin itself stays


def test_two_hidden_cells_that_add_up_to_fewer_than_five_take_a_third() -> None:
    # 1 and 2 hidden: together 3 < 5, so their sum would still be about 3 people; 10 goes too
    table = pd.DataFrame({"category": list("abcd"), "count": [1, 2, 10, 50]})
    out = suppress(table, count="count", keys=["category"], margins=[Margin("category")])
    assert_array_equal(out["suppressed"], [True, True, True, False])


def test_no_complement_needed_when_nothing_is_small() -> None:
    table = pd.DataFrame({"category": list("abc"), "count": [5, 6, 70]})
    out = suppress(table, count="count", keys=["category"], margins=[Margin("category")])
    assert not out["suppressed"].any()
    assert_allclose(out["count"].to_numpy(), [5, 6, 70], rtol=0)


def test_zero_cells_are_shown_but_never_protect_a_hidden_one() -> None:
    # 0 is about nobody and stays visible; hiding it would not protect the 3 (0 gives nothing away),
    # so the next smallest cell that is about people (8) is hidden
    table = pd.DataFrame({"category": list("abc"), "count": [0, 3, 8], "n": [11, 11, 11]})
    out = suppress(table, count="count", keys=["category"], margins=[Margin("category")], base="n")
    assert_array_equal(out["suppressed"], [False, True, True])
    assert_allclose(out["count"].to_numpy(), [0, np.nan, np.nan], rtol=0)


def test_programmes_adding_up_to_all_hide_a_second_programme_not_the_total() -> None:
    # programme c has 3 people: hidden; all - a - b would give it back, so b (the smaller) goes too
    table = pd.DataFrame({"programme": ["all", "a", "b", "c"], "n": [73, 50, 20, 3], "mean": [1.0, 1.1, 0.9, 2.0]})
    out = suppress(table, count="n", values=["mean"], keys=["programme"], margins=[Margin("programme", total="all")])
    assert_array_equal(out["suppressed"], [False, False, True, True])
    assert_allclose(out["mean"].to_numpy(), [1.0, 1.1, np.nan, np.nan], rtol=0)


def test_two_margins_are_followed_until_stable() -> None:
    # a 2 x 2 body with its totals: hiding (x, p) = 2 forces (x, q) by the row, (y, p) by the column,
    # and then (y, q) by the second row and column: the whole body goes, the totals stay
    table = pd.DataFrame({
        "row": ["x", "x", "y", "y", "x", "y", "all", "all", "all"],
        "col": ["p", "q", "p", "q", "all", "all", "p", "q", "all"],
        "count": [2, 30, 40, 50, 32, 90, 42, 80, 122],
    })  # fmt: skip
    out = suppress(table, count="count", keys=["row", "col"],
                   margins=[Margin("col", total="all"), Margin("row", total="all")])  # fmt: skip
    body = out.iloc[:4]
    assert body["suppressed"].all()
    assert not out.iloc[4:]["suppressed"].any()


def test_unknown_columns_are_named() -> None:
    with pytest.raises(InputError, match="count"):
        suppress(pd.DataFrame({"n": [1]}), count="count")
