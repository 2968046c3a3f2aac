"""Training and prediction through anomalib's `Engine`, the same way for every detector.

Seeded (``lightning.seed_everything`` + the datamodule's seeded order), quiet (no
logger, no model summary, no checkpoint files: the fitted module stays in memory),
raw outputs (detectors build their modules with ``post_processor=False``).
Private module: imported lazily by the detectors.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import torch

from detectors._anomalib_data import TrainSetDataModule, collect_predictions, quiet_lightning
from detectors.base import Predictions, TrainSet
from harness.plugin import RunContext


def accelerator_for(device: str) -> str:
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device '{device}' requested but CUDA is not available; run with device: cpu")
        return "gpu"
    return "cpu"


def make_engine(context: RunContext, **trainer_kwargs: Any):
    from anomalib.callbacks.checkpoint import ModelCheckpoint
    from anomalib.engine import Engine
    from lightning.pytorch import Trainer  # noqa: F401  (import first so its loggers exist to silence)

    quiet_lightning()

    work = Path(context.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    # A checkpoint callback that never writes: Engine adds a saving one otherwise.
    no_save = ModelCheckpoint(dirpath=work / "ckpt", save_top_k=0, save_last=False)
    return Engine(
        callbacks=[no_save],
        logger=False,
        default_root_dir=work / "anomalib",
        accelerator=accelerator_for(context.device),
        devices=1,
        enable_progress_bar=context.show_progress,
        enable_model_summary=False,
        deterministic="warn" if context.device == "cpu" else False,
        **trainer_kwargs,
    )


@contextlib.contextmanager
def progress_bars(show: bool) -> Iterator[None]:
    """Silence anomalib's own tqdm bars (coreset selection) unless progress is wanted.

    tqdm reads ``TQDM_DISABLE`` only at import, so the module's ``tqdm`` is swapped for the call.
    """
    if show:
        yield
        return
    from anomalib.models.components.sampling import k_center_greedy
    from tqdm import tqdm

    original = k_center_greedy.tqdm
    k_center_greedy.tqdm = functools.partial(tqdm, disable=True)
    try:
        yield
    finally:
        k_center_greedy.tqdm = original


def fit_module(
    module,
    train: TrainSet,
    context: RunContext,
    *,
    seed: int,
    batch_size: int,
    include_anomalous: bool,
    balanced: bool,
    **trainer_kwargs: Any,
):
    """Train `module` on the train set; returns the engine (holding the trained module)."""
    import lightning

    quiet_lightning()
    lightning.seed_everything(seed, workers=True, verbose=False)
    datamodule = TrainSetDataModule(
        train, None, image_size=context.image_size, work_dir=context.work_dir, seed=seed,
        train_batch_size=batch_size, include_anomalous=include_anomalous, balanced=balanced,
    )
    if not datamodule.has_validation:
        trainer_kwargs.setdefault("limit_val_batches", 0)
    trainer_kwargs.setdefault("num_sanity_val_steps", 0)
    engine = make_engine(context, **trainer_kwargs)
    with progress_bars(context.show_progress):
        engine.fit(model=module, datamodule=datamodule)
    return engine


def predict_module(engine, module, train: TrainSet, test: pd.DataFrame, context: RunContext, *, seed: int,
                   batch_size: int = 16) -> Predictions:
    """Raw image scores and anomaly maps for every row of `test`, row-aligned."""
    quiet_lightning()
    datamodule = TrainSetDataModule(
        train, test, image_size=context.image_size, work_dir=context.work_dir, seed=seed,
        eval_batch_size=batch_size, include_anomalous=False, balanced=False,
    )
    module.eval()
    with torch.no_grad():
        with progress_bars(context.show_progress):
            batches = engine.predict(model=module, datamodule=datamodule, return_predictions=True)
    return collect_predictions(list(batches or []), test, context.image_size)
