"""The anomalib datamodule serves generated pairs for training, never a test image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detectors._anomalib_data import BalancedBatchSampler, TrainSetDataModule, collect_predictions
from harness.core.io import file_sha256, load_mask, save_png


def _module(tiny_set, tmp_path, **kw):
    train, test = tiny_set
    dm = TrainSetDataModule(train, test, image_size=32, work_dir=tmp_path / "work", seed=0, train_batch_size=4, **kw)
    dm.setup("fit")
    return train, test, dm


def test_training_set_holds_normals_and_generated_pairs_and_no_test_image(tiny_set, tmp_path):
    train, test, dm = _module(tiny_set, tmp_path)
    served = {file_sha256(p) for p in dm.train_data.samples["image_path"]}
    assert {file_sha256(p) for p, _ in train.anomalous} <= served
    assert {file_sha256(p) for p in train.normal} <= served
    assert not served & {file_sha256(p) for p in test["image_path"]}
    # generated masks travel with their images, normal rows have none
    labelled = dm.train_data.samples.set_index("image_path")
    for img, mask in train.anomalous:
        assert labelled.loc[str(img), "mask_path"] == str(mask)
        assert labelled.loc[str(img), "label_index"] == 1


def test_training_batches_are_balanced_resized_and_carry_masks(tiny_set, tmp_path):
    train, _, dm = _module(tiny_set, tmp_path)
    batch = next(iter(dm.train_dataloader()))
    assert batch.image.shape == (4, 3, 32, 32)
    assert batch.gt_label.tolist().count(1) == 2
    assert batch.gt_mask.shape == (4, 32, 32)
    assert batch.gt_mask[batch.gt_label == 0].sum() == 0
    assert batch.gt_mask[batch.gt_label == 1].flatten(1).any(dim=1).all()


def test_balanced_sampler_is_seeded_and_covers_every_normal_once():
    a = list(BalancedBatchSampler(range(10), range(10, 13), 4, seed=5))
    b = list(BalancedBatchSampler(range(10), range(10, 13), 4, seed=5))
    c = list(BalancedBatchSampler(range(10), range(10, 13), 4, seed=6))
    assert a == b and a != c
    normals = [i for batch in a for i in batch if i < 10]
    assert set(normals) == set(range(10))
    assert all(sum(i >= 10 for i in batch) == 2 for batch in a)


def test_test_set_keeps_the_table_with_merged_masks_and_no_validation_from_test(tiny_set, tmp_path):
    train, test, dm = _module(tiny_set, tmp_path)
    assert sorted(dm.test_data.samples["image_path"]) == sorted(test["image_path"])
    assert not hasattr(dm, "val_data")  # no validation normals given → no validation at all
    # multi-mask rows are merged with > 0
    m1, m2 = np.zeros((32, 32), bool), np.zeros((32, 32), bool)
    m1[:4] = True
    m2[-4:] = True
    save_png(m1, tmp_path / "a.png")
    save_png(m2, tmp_path / "b.png")
    test = test.copy()
    test.at[test.index[-1], "mask_paths"] = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    dm2 = TrainSetDataModule(train, test, image_size=32, work_dir=tmp_path / "w2", seed=0)
    dm2.setup("predict")
    row = dm2.test_data.samples.set_index("image_path").loc[test["image_path"].iloc[-1]]
    assert (load_mask([row["mask_path"]]) == (m1 | m2)).all()


def test_collect_predictions_realigns_sorted_batches_with_the_table(tiny_set):
    _, test = tiny_set
    paths = list(test["image_path"])[::-1]

    class B:  # the fields anomalib's predict batches carry
        image_path = paths
        pred_score = torch.arange(len(paths), dtype=torch.float32)
        anomaly_map = torch.arange(len(paths), dtype=torch.float32)[:, None, None, None].expand(-1, 1, 8, 8)

    preds = collect_predictions([B()], test, image_size=16)
    expected = np.arange(len(paths))[::-1]
    assert preds.image_scores.tolist() == expected.tolist()
    assert preds.anomaly_maps.shape == (len(paths), 16, 16) and preds.anomaly_maps.dtype == np.float32
    assert preds.anomaly_maps[:, 0, 0].tolist() == expected.tolist()


def test_empty_normal_set_is_refused(tiny_set, tmp_path):
    from harness.core import TrainSet

    with pytest.raises(ValueError, match="normal"):
        TrainSetDataModule(TrainSet(normal=[]), None, image_size=32, work_dir=tmp_path, seed=0)
