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

import numpy as np
import pandas as pd
import torch

from detectors._accelerator import lightning_device
from detectors._anomalib_data import TrainSetDataModule, collect_predictions, quiet_lightning
from harness.core import Predictions, RunContext, TrainSet
from harness.core.device import as_tensor
from harness.core.pixel_metrics import average_precision


def make_engine(context: RunContext, **trainer_kwargs: Any):
    from anomalib.callbacks.checkpoint import ModelCheckpoint
    from anomalib.engine import Engine
    from lightning.pytorch import Trainer  # noqa: F401  (import first so its loggers exist to silence)

    quiet_lightning()

    work = Path(context.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    # A checkpoint callback that never writes: Engine adds a saving one otherwise.
    no_save = ModelCheckpoint(dirpath=work / "ckpt", save_top_k=0, save_last=False)
    extra_callbacks = trainer_kwargs.pop("callbacks", [])
    return Engine(
        callbacks=[no_save, *extra_callbacks],
        logger=False,
        default_root_dir=work / "anomalib",
        **lightning_device(context.device),
        enable_progress_bar=context.show_progress,
        enable_model_summary=False,
        deterministic="warn" if context.device.type == "cpu" else False,
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


def validation_fold(train: TrainSet, image_size: int) -> tuple[torch.Tensor, np.ndarray] | None:
    """The validation fold's images ((N, 3, S, S) floats in [0, 1]) and masks, or None without anomalies."""
    from harness.core.io import load_image, load_mask

    table = train.validation
    if table is None or not len(table) or not (table["label"] == 1).any():
        return None
    images = np.stack([load_image(p, image_size) for p in table["image_path"]])
    masks = np.stack([load_mask(list(r.mask_paths), image_size) for r in table.itertuples()])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0, masks


class ValidationCurve:
    """Lightning callback: every `every` steps, pixel AP on the validation fold (never test).

    It records the curve (step, mean training loss since the last point, val pixel AP) and
    keeps the weights of the best point; with `patience` > 0 training stops after that many
    points without a better one. After training, `restore_best` loads the best weights.
    """

    def __init__(self, images: torch.Tensor, masks: np.ndarray, *, every: int, patience: int, image_size: int):
        import lightning

        class _Hook(lightning.Callback):
            def on_train_batch_end(hook, trainer, pl_module, outputs, batch, batch_idx):  # noqa: N805
                self._after_step(trainer, pl_module, outputs)

        self.callback = _Hook()
        self.images, self.masks = images, masks
        self.every, self.patience, self.size = every, patience, image_size
        self.curve: list[dict[str, float]] = []
        self._losses: list[torch.Tensor] = []  # on the module's device, read at each evaluation
        self._device_masks: torch.Tensor | None = None
        self.best_ap, self.best_step, self._best_state, self._stale = -1.0, 0, None, 0

    @torch.no_grad()
    def score(self, pl_module) -> float:
        was_training = pl_module.training
        pl_module.eval()
        maps = []
        for i in range(0, len(self.images), 16):
            out = pl_module(self.images[i:i + 16].to(pl_module.device))
            m = out.anomaly_map
            m = m[:, None] if m.ndim == 3 else m
            maps.append(torch.nn.functional.interpolate(m.float(), size=(self.size, self.size), mode="bilinear",
                                                        align_corners=False)[:, 0])
        pl_module.train(was_training)
        maps = torch.cat(maps)  # scored where they are: no copy of every pixel to the host
        if self._device_masks is None or self._device_masks.device != maps.device:
            self._device_masks = as_tensor(np.asarray(self.masks, dtype=bool), maps.device)
        return average_precision(maps, self._device_masks)

    def _after_step(self, trainer, pl_module, outputs) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._losses.append(loss.detach().float() if torch.is_tensor(loss) else torch.tensor(float(loss)))
        step = int(trainer.global_step)
        if step == 0 or step % self.every:
            return
        ap = self.score(pl_module)
        losses = [float(x) for x in torch.stack([x.to(self._losses[0].device) for x in self._losses]).tolist()] \
            if self._losses else []
        self.curve.append({"step": step, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                           "val_pixel_ap": ap})
        self._losses = []
        if ap > self.best_ap:
            self.best_ap, self.best_step, self._stale = ap, step, 0
            self._best_state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        else:
            self._stale += 1
            if self.patience and self._stale >= self.patience:
                trainer.should_stop = True

    def restore_best(self, pl_module) -> None:
        if self._best_state is not None:
            pl_module.load_state_dict(self._best_state)


def fit_module(
    module,
    train: TrainSet,
    context: RunContext,
    *,
    seed: int,
    batch_size: int,
    include_anomalous: bool,
    balanced: bool,
    eval_every: int = 0,
    patience: int = 0,
    **trainer_kwargs: Any,
):
    """Train `module` on the train set; returns (engine holding the trained module, validation curve).

    With `eval_every` > 0 and a validation fold with anomalies, the module is scored on it every
    `eval_every` steps and the best point's weights are kept (see `ValidationCurve`).
    """
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
    fold = validation_fold(train, context.image_size) if eval_every > 0 else None
    curve = ValidationCurve(*fold, every=eval_every, patience=patience, image_size=context.image_size) if fold else None
    if curve is not None:
        trainer_kwargs["callbacks"] = [*trainer_kwargs.get("callbacks", []), curve.callback]
    engine = make_engine(context, **trainer_kwargs)
    with progress_bars(context.show_progress):
        engine.fit(model=module, datamodule=datamodule)
    if curve is not None:
        curve.restore_best(module)
    return engine, curve


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
