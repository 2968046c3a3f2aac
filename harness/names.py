"""Short names of cells, for the places that cut long ones: the progress bar and MLflow's run table."""

from __future__ import annotations

from harness.cells import ONE_CLASS, CellKey


def cell_name(key: CellKey) -> str:
    """``dhdiff·frozen-seg·s0·pushpins``: what tells two cells apart, most telling first, seed before
    anything a narrow column may cut (MLflow's run table shows ~30 characters)."""
    gen = "one-class" if key.generator == ONE_CLASS else key.generator
    n = [f"n{key.n_synthetic}"] if key.n_synthetic else []
    return "·".join([gen, key.detector, f"s{key.seed}", *n, key.category])
