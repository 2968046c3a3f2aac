"""Feeding anomalib from our `TrainSet` and sample table.

anomalib's Folder/Tabular datamodules refuse anomalous *training* images, but the
whole point of this benchmark is training detectors on normals + generated anomalies
with their masks. So we build the datasets directly on `AnomalibDataset` (its
``samples`` frame: ``image_path``, ``mask_path``, ``label_index``, ``split``; masks
are read by anomalib's ``read_mask`` with ``> 0``) and serve them from an
`AnomalibDataModule` subclass:

- train: the real normal images + the generated pairs (never a test image);
  with ``balanced=True`` each batch is half normal, half generated (the generated
  pool is sampled with replacement when it is the smaller one), in a seeded order.
- validation: `TrainSet.validation_normal` only (never test images), or none.
- test/predict: the sample table, multi-mask ground truth merged with ``> 0`` into
  PNGs under the work dir.

Private module (leading underscore): the registry does not import it, so importing
a detector module stays cheap; detectors import this lazily in `fit`/`predict`.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from anomalib.data import AnomalibDataModule
from anomalib.data.datasets.base import AnomalibDataset
from torch.utils.data import DataLoader, Sampler
from torchvision.transforms.v2 import Resize

from harness.core import Predictions, TrainSet
from harness.core.io import load_mask, save_png

SEGMENTATION = "segmentation"
CLASSIFICATION = "classification"


def quiet_lightning() -> None:
    """Silence lightning/anomalib chatter that drowns the harness's own output."""
    names = {"lightning", "lightning.pytorch", "lightning.fabric", "anomalib", "lightning_utilities"}
    names |= {n for n in logging.root.manager.loggerDict if "lightning" in n.split(".")[0] or n.startswith("anomalib")}
    for name in names:  # children carry their own INFO level, so set each one
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (
        ".*does not have many workers.*",
        ".*ckpt_path is not provided.*",
        ".*GPU available but not used.*",
        ".*The number of training batches.*",
        ".*LightningModule.configure_optimizers.*",
        ".*Consider setting `persistent_workers.*",
        ".*is deprecated.*",
        ".*You are using a CUDA device.*",
        r".*module\(s\) in eval mode.*",
        ".*but have no logger configured.*",
        ".*Trying to infer the `batch_size`.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)


class SamplesDataset(AnomalibDataset):
    """An `AnomalibDataset` over an explicit samples frame (one row per image).

    Items are decoded and resized once and kept: the detectors train for many epochs over a few
    hundred images, and anomalib's dataset decodes every image again each epoch (on a GPU that
    decoding, one image at a time on the CPU, was most of a cell's time). Exact: the only
    augmentation is a deterministic resize, and collation copies each item into a new batch.
    """

    def __init__(self, samples: pd.DataFrame, task: str, augmentations=None) -> None:
        super().__init__(augmentations=augmentations)
        samples = samples.copy()
        samples.attrs["task"] = task
        self.samples = samples  # anomalib sorts by image_path; callers map back by path
        self._decoded: dict[tuple, object] = {}

    def __getitem__(self, index: int):
        row = self.samples.iloc[index]
        key = (row.image_path, row.mask_path, int(row.label_index), self.task)  # by content, not position
        item = self._decoded.get(key)
        if item is None:
            item = self._decoded[key] = super().__getitem__(index)
        return item


def merged_mask_path(mask_paths: Sequence[str], work_dir: Path) -> str:
    """One PNG holding the union (``> 0``) of an image's mask files; written once per set."""
    if len(mask_paths) == 1:
        return str(mask_paths[0])
    key = hashlib.sha1("\n".join(str(p) for p in mask_paths).encode()).hexdigest()[:20]
    out = Path(work_dir) / "merged_masks" / f"{key}.png"
    if not out.exists():
        save_png(load_mask(mask_paths), out)
    return str(out)


def _train_samples(train: TrainSet, include_anomalous: bool) -> pd.DataFrame:
    rows = [{"image_path": str(p), "mask_path": "", "label_index": 0, "split": "train"} for p in train.normal]
    if include_anomalous:
        rows += [
            {"image_path": str(img), "mask_path": str(mask), "label_index": 1, "split": "train"}
            for img, mask in train.anomalous
        ]
    return pd.DataFrame(rows, columns=["image_path", "mask_path", "label_index", "split"])


def test_samples(test: pd.DataFrame, work_dir: Path) -> tuple[pd.DataFrame, str]:
    """Samples frame for a sample table, and the task it supports (segmentation if masks)."""
    rows = []
    for image_path, mask_paths, label in zip(test["image_path"], test["mask_paths"], test["label"]):
        masks = list(mask_paths) if mask_paths is not None else []
        rows.append({
            "image_path": str(image_path),
            "mask_path": merged_mask_path(masks, work_dir) if masks else "",
            "label_index": int(label),
            "split": "test",
        })
    frame = pd.DataFrame(rows, columns=["image_path", "mask_path", "label_index", "split"])
    anomalous = frame["label_index"] == 1
    task = SEGMENTATION if (frame.loc[anomalous, "mask_path"] != "").all() else CLASSIFICATION
    return frame, task


class BalancedBatchSampler(Sampler[list[int]]):
    """Seeded batches of half normal, half generated anomalous indices.

    An epoch covers every normal image once; generated images are drawn without
    replacement, recycled (reshuffled) when the epoch needs more of them than exist.
    """

    def __init__(self, normal_idx: Sequence[int], anomalous_idx: Sequence[int], batch_size: int, seed: int) -> None:
        if batch_size < 2:
            raise ValueError("balanced batches need batch_size >= 2 (half normal, half generated)")
        self.normal_idx = list(normal_idx)
        self.anomalous_idx = list(anomalous_idx)
        self.n_anomalous = batch_size // 2
        self.n_normal = batch_size - self.n_anomalous
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return max(1, -(-len(self.normal_idx) // self.n_normal))

    def __iter__(self) -> Iterator[list[int]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        normal = [self.normal_idx[i] for i in torch.randperm(len(self.normal_idx), generator=gen)]
        need = len(self) * self.n_anomalous
        anomalous: list[int] = []
        while len(anomalous) < need:
            anomalous += [self.anomalous_idx[i] for i in torch.randperm(len(self.anomalous_idx), generator=gen)]
        for b in range(len(self)):
            nb = normal[b * self.n_normal:(b + 1) * self.n_normal]
            if len(nb) < self.n_normal:  # last batch: top up from the start so batches stay balanced
                nb += normal[: self.n_normal - len(nb)]
            yield nb + anomalous[b * self.n_anomalous:(b + 1) * self.n_anomalous]


class TrainSetDataModule(AnomalibDataModule):
    """anomalib datamodule over a `TrainSet` (+ generated pairs) and an optional test table."""

    def __init__(
        self,
        train: TrainSet,
        test: pd.DataFrame | None = None,
        *,
        image_size: int,
        work_dir: Path,
        seed: int,
        train_batch_size: int = 8,
        eval_batch_size: int = 16,
        include_anomalous: bool = True,
        balanced: bool = True,
    ) -> None:
        resize = Resize((image_size, image_size), antialias=True)
        super().__init__(
            train_batch_size=train_batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=0,
            augmentations=resize,
            val_split_mode="from_dir",  # only what we put in val_data: validation normals
            test_split_mode="from_dir",  # the test table as given, normals included
            seed=seed,
        )
        if not train.normal:
            raise ValueError("TrainSet.normal is empty: a detector needs normal training images")
        self.train_set = train
        self.test_table = test
        self.image_size = image_size
        self.work_dir = Path(work_dir)
        self.include_anomalous = include_anomalous and bool(train.anomalous)
        self.balanced = balanced and self.include_anomalous
        self.category = "bench"

    @property
    def name(self) -> str:
        return "bench"

    def _setup(self, _stage: str | None = None) -> None:
        self.train_data = SamplesDataset(_train_samples(self.train_set, self.include_anomalous), SEGMENTATION)
        if self.train_set.validation_normal:
            val = pd.DataFrame({
                "image_path": [str(p) for p in self.train_set.validation_normal],
                "mask_path": "", "label_index": 0, "split": "val",
            })
            self.val_data = SamplesDataset(val, SEGMENTATION)
        if self.test_table is not None:
            frame, task = test_samples(self.test_table, self.work_dir)
            self.test_data = SamplesDataset(frame, task)

    def _create_test_split(self) -> None:
        """No-op: the test set is the table as given (anomalib's split logic would move
        training normals into it when the table has no normal rows)."""

    @property
    def has_validation(self) -> bool:
        return bool(self.train_set.validation_normal)

    def train_dataloader(self) -> DataLoader:
        if not self.balanced:
            gen = torch.Generator().manual_seed(int(self.seed or 0))
            return DataLoader(
                self.train_data, batch_size=self.train_batch_size, shuffle=True, generator=gen,
                num_workers=0, collate_fn=self.train_data.collate_fn, drop_last=False,
            )
        labels = self.train_data.samples["label_index"].to_numpy()
        sampler = BalancedBatchSampler(
            np.flatnonzero(labels == 0).tolist(), np.flatnonzero(labels == 1).tolist(),
            self.train_batch_size, int(self.seed or 0),
        )
        return DataLoader(self.train_data, batch_sampler=sampler, num_workers=0, collate_fn=self.train_data.collate_fn)

    def val_dataloader(self) -> DataLoader | list:
        return super().val_dataloader() if self.has_validation else []


def collect_predictions(batches: list, test: pd.DataFrame, image_size: int) -> Predictions:
    """Row-align anomalib predict batches (sorted by path) with the test table; raw values."""
    by_path: dict[str, tuple[float, np.ndarray]] = {}
    for batch in batches:
        maps = batch.anomaly_map
        if maps is None:
            raise RuntimeError("the model produced no anomaly_map; cannot report pixel metrics")
        maps = maps.detach().float()
        if maps.ndim == 3:
            maps = maps.unsqueeze(1)
        if maps.shape[-2:] != (image_size, image_size):
            maps = torch.nn.functional.interpolate(maps, size=(image_size, image_size), mode="bilinear", align_corners=False)
        scores = batch.pred_score.detach().float().reshape(-1)
        for path, score, amap in zip(batch.image_path, scores, maps[:, 0]):
            by_path[str(path)] = (float(score), amap.cpu().numpy().astype(np.float32))
    missing = [p for p in test["image_path"] if str(p) not in by_path]
    if missing:
        raise RuntimeError(f"no prediction for {len(missing)} test image(s), e.g. {missing[0]}")
    scores = np.array([by_path[str(p)][0] for p in test["image_path"]], dtype=np.float64)
    maps_out = np.stack([by_path[str(p)][1] for p in test["image_path"]]).astype(np.float32)
    return Predictions(image_scores=scores, anomaly_maps=maps_out)
