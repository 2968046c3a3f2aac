"""harness.data.duplicates: which copies leak, and which `duplicates: drop` removes."""

from __future__ import annotations

import pandas as pd

from harness.data.duplicates import leaking_groups, rows_to_drop


def table(rows):
    return pd.DataFrame(rows, columns=["image_path", "label", "defect_type", "split"])


def test_same_split_and_label_is_no_leak_but_train_test_is():
    t = table([("a.png", 0, "good", "train"), ("b.png", 0, "good", "train"), ("c.png", 0, "good", "test")])
    content = {"a.png": "h1", "b.png": "h1", "c.png": "h2"}
    assert leaking_groups(t, content, {}) == []
    content["c.png"] = "h1"
    (group,) = leaking_groups(t, content, {})
    assert group == [0, 1, 2] and rows_to_drop(t, group) == [2]  # the test copy goes


def test_a_defect_filed_as_good_drops_the_good_copy():
    t = table([("good/x.png", 0, "good", "train"), ("dent/x.png", 1, "dent", "test")])
    (group,) = leaking_groups(t, {"good/x.png": "h", "dent/x.png": "h"}, {})
    assert rows_to_drop(t, group) == [0]


def test_resized_copy_matches_by_perceptual_hash_only_at_another_size_and_same_shape():
    t = table([("a.png", 0, "good", "train"), ("b.png", 0, "good", "test"), ("c.png", 1, "dent", "test")])
    content = {"a.png": "1", "b.png": "2", "c.png": "3"}
    same_size = {"a.png": ("00000000000000ff", (32, 32)), "b.png": ("00000000000000fe", (32, 32))}
    assert leaking_groups(t, content, same_size) == []  # look-alikes of one size are not copies
    resized = {"a.png": ("00000000000000ff", (32, 32)), "b.png": ("00000000000000fe", (64, 64))}
    assert leaking_groups(t, content, resized) == [[0, 1]]
    other_shape = {"a.png": ("00000000000000ff", (32, 32)), "b.png": ("00000000000000fe", (64, 32))}
    assert leaking_groups(t, content, other_shape) == []
