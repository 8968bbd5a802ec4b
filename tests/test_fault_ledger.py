from fault_ledger import tally


def test_a_tally_counts_the_lost_the_duplicated_and_the_never_sent():
    counted = tally("f", "t", landed=[1, 2, 2, 2, 4, 9], expected=[1, 2, 3, 4, 5])
    assert (counted.expected, counted.landed) == (5, 6)
    assert counted.clean == (2, 2, 1)  # 3 and 5 lost, 2 twice too many, 9 never sent


def test_a_clean_tally_is_all_zero():
    assert tally("f", "t", landed=[(0, 1), (1, 0)], expected=[(1, 0), (0, 1)]).clean == (0, 0, 0)
