"""What a cell's MLflow run records as params: its inputs only, every one resolved.

MLflow params are what a user filters and compares runs by, so they hold what went *in*: every
generator and detector param as the run used it (profile defaults included, not only the ones a
spec overrode), the data and split settings, the seed, and the package versions that decide the
numbers. What a run *measured* (generation quality and the statistics behind it, counts) is a
metric or the run's ``generation.json`` artifact (`harness.tracking`), never a param.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.cells import ONE_CLASS

if TYPE_CHECKING:
    from harness.config import ExperimentSpec, PluginSpec
    from harness.jobs import DetectJob

#: the distributions whose versions decide a cell's numbers
VERSIONED = ("anomaly-aug-bench", "torch", "torchvision", "anomalib", "timm", "diffusers", "numpy", "scikit-learn",
             "mlflow")


def resolved(registry: Any, plugin: "PluginSpec", profile: str) -> dict[str, Any]:
    """The plug-in's params as its run used them: profile defaults under the spec's overrides."""
    params = registry.get(plugin.name).resolve_params(plugin.params, profile)
    return {"name": plugin.name, "label": plugin.key, "params": params.model_dump(mode="json")}


def versions() -> dict[str, str]:
    from harness.runtime import package_versions

    return package_versions(VERSIONED)


def cell_params(spec: "ExperimentSpec", job: "DetectJob", device: str) -> dict[str, Any]:
    """The nested inputs of one cell (`harness.tracking` flattens them to dotted keys)."""
    from harness.core.registry import DETECTORS, GENERATORS

    generator = resolved(GENERATORS, job.generator, spec.profile) if job.generator else {"name": ONE_CLASS}
    return {"generator": generator, "detector": resolved(DETECTORS, job.detector, spec.profile),
            "dataset": job.data.dataset.model_dump(mode="json"), "category": job.data.category, "seed": job.data.seed,
            "image_size": spec.image_size, "profile": spec.profile, "device": device,
            "split": spec.split.model_dump(mode="json"),
            "generation": {"pool": spec.generation.pool, "n_synthetic": job.n_synthetic,
                           "quality_metrics": spec.generation.quality_metrics},
            "version": versions()}
