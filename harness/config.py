"""Experiment specs: YAML → validated `ExperimentSpec`, with one-line errors naming file and key.

Everything a run needs is checked here, before anything is written: the YAML parses, keys
are known (typos are errors, not silently ignored), plug-in names are registered and their
params validate against each plug-in's own `Params` model.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.suggest import did_you_mean
from harness.core.plugin import ParamError
from harness.core.registry import DATASETS, DETECTORS, GENERATORS, UnknownNameError


class SpecError(ValueError):
    """A spec problem, already phrased as '<file>: <key path>: <problem>'."""


#: what `name` and generator/detector labels may hold: they name folders and files
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_NAME_RULE = "must be letters, digits, '_', '-' or '.' and start with a letter or digit (it names folders)"


def _check_name(v: str) -> str:
    if not re.fullmatch(NAME_PATTERN, v) or v in (".", ".."):
        raise ValueError(f"'{v}' {_NAME_RULE}")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DatasetSpec(_Strict):
    name: str = "builtin"
    root: Path | None = None
    categories: list[str] | None = None  # None: every category the adapter finds
    params: dict[str, Any] = Field(default_factory=dict)
    #: an anomalous image whose mask is all zero: "error" (the default) or "drop" it with a counted warning
    empty_masks: Literal["error", "drop"] = "error"
    #: masks that are not exactly binary: None refuses them; T binarises them as > T (counted in a warning)
    mask_threshold: int | None = Field(None, ge=0, le=65534)
    #: the same picture across train/test or good/defect (harness.data.duplicates): "refuse" or "drop" the copies
    duplicates: Literal["refuse", "drop"] = "refuse"


class PluginSpec(_Strict):
    name: str
    label: str | None = None  # row/column name in reports; defaults to name
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("label")
    @classmethod
    def _label(cls, v: str | None) -> str | None:
        return None if v is None else _check_name(v)

    @property
    def key(self) -> str:
        return self.label or self.name


class SplitSpec(_Strict):
    generator_fraction: float = Field(1 / 3, gt=0.0, lt=1.0)
    # the validation fold (early stopping, budget curves; never test): this fraction of each
    # defect type's generator-train anomalies is held out from the generator, and, for datasets
    # without validation normals, this fraction of the normal train images
    validation_fraction: float = Field(1 / 3, ge=0.0, lt=1.0)
    validation_normal_fraction: float = Field(0.15, ge=0.0, lt=1.0)


class GenerationSpec(_Strict):
    #: generated pairs per (category, seed, generator); a list makes it a grid axis (the
    #: synthetic:normal ratio axis): the generator samples the largest once, each detector cell
    #: trains on a stratified subset of each size
    n_samples: int | list[int] = 64
    quality_metrics: bool = True  # IS / IC-LPIPS / mask statistics per generator
    ic_lpips_net: Literal["vgg", "alex"] = "vgg"
    ic_lpips_size: int = Field(256, ge=32, le=1024)
    ic_lpips_cap: int = Field(50, ge=2)

    @field_validator("n_samples")
    @classmethod
    def _counts(cls, v: int | list[int]) -> int | list[int]:
        counts = [v] if isinstance(v, int) else v
        if not counts or any(not 1 <= n <= 100_000 for n in counts):
            raise ValueError("must be a count from 1 to 100000, or a non-empty list of such counts")
        if not isinstance(v, int) and len(set(v)) != len(v):
            raise ValueError(f"duplicate counts in {v}")
        return v

    @property
    def pool(self) -> int:
        """How many pairs each generator samples."""
        return self.n_samples if isinstance(self.n_samples, int) else max(self.n_samples)

    @property
    def axis(self) -> list[int | None]:
        """The sample counts a detector cell is trained with; [None] = all (no axis)."""
        return [None] if isinstance(self.n_samples, int) or len(self.n_samples) == 1 else sorted(self.n_samples)


class ReportSpec(_Strict):
    dir: Path | None = None  # default <output_dir>/report when output_dir is set, else reports/<name>
    metrics: list[str] = Field(
        default_factory=lambda: ["image_auroc", "image_ap", "pixel_auroc", "pixel_ap", "pixel_aupro"]
    )
    #: CSV of numbers reported elsewhere (papers, re-runs), shown in their own labelled table
    references: Path | None = None

    @field_validator("references")
    @classmethod
    def _readable_references(cls, v: Path | None) -> Path | None:
        if v is not None:
            from harness.references import load_references

            load_references(v)  # ReferenceError is a ValueError: one line naming the file
        return v

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v: list[str]) -> list[str]:
        from harness.report_tables import METRIC_NAMES

        unknown = [m for m in v if m not in METRIC_NAMES]
        if unknown:
            raise ValueError(f"unknown metric {', '.join(repr(m) for m in unknown)}; choose from {', '.join(METRIC_NAMES)}")
        return v


class ExperimentSpec(_Strict):
    name: str
    #: the MLflow experiment's note: MLflow stores at most 20000 characters (MAX_EXPERIMENT_TAG_VAL_LENGTH)
    description: str = Field("", max_length=20000)
    profile: Literal["cpu-quick", "gpu-full"] = "cpu-quick"
    image_size: int = Field(128, ge=32, le=1024)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")  # resolved once: harness.core.device
    threads: int | Literal["auto"] = "auto"  # torch CPU threads (harness.runtime.choose_threads); not in cell identity
    # who runs the jobs: local (one after another), ray, or auto (ray where it is installed and the machine
    # has ≥ 2 cores, one job per core; else local); not in cell identity (numbers match for the same threads)
    executor: Literal["local", "ray", "auto"] = "local"
    datasets: list[DatasetSpec] = Field(default_factory=lambda: [DatasetSpec()], min_length=1)
    split: SplitSpec = Field(default_factory=SplitSpec)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    generators: list[PluginSpec] = Field(min_length=1)
    detectors: list[PluginSpec] = Field(min_length=1)
    output_dir: Path | None = None  # default runs/<name>
    tracking_uri: str | None = None  # default sqlite:///<output_dir>/mlflow.db
    weights_dir: Path | None = None  # where metric/backbone weight files are looked for first
    report: ReportSpec = Field(default_factory=ReportSpec)

    @field_validator("threads")
    @classmethod
    def _threads(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be ≥ 1 or 'auto'")
        return v

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if len(v) > 200:  # a folder name (runs/<name>) and MLflow's experiment name (≤ 500)
            raise ValueError(f"is {len(v)} characters; at most 200")
        return _check_name(v)

    @field_validator("seeds")
    @classmethod
    def _seed_range(cls, v: list[int]) -> list[int]:
        bad = [s for s in v if not 0 <= s <= 2**32 - 1]
        if bad:
            raise ValueError(f"seed {bad[0]} is outside numpy's range 0..{2**32 - 1}; use seeds from 0 to {2**32 - 1}")
        return v

    @model_validator(mode="after")
    def _unique_labels(self) -> "ExperimentSpec":
        for field in ("generators", "detectors"):
            keys = [p.key for p in getattr(self, field)]
            dup = sorted({k for k in keys if keys.count(k) > 1})
            if dup:
                raise ValueError(f"{field}: duplicate entries {dup}; give each a distinct 'label'")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: duplicate seeds")
        return self

    # Derived locations -------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.output_dir or Path("runs") / self.name

    @property
    def report_dir(self) -> Path:
        """Next to the run when the spec places the run (an absolute output_dir must not leave the
        report in the caller's current folder); reports/<name> for the default runs/<name>."""
        if self.report.dir:
            return self.report.dir
        return self.output_dir / "report" if self.output_dir else Path("reports") / self.name

    @property
    def mlflow_uri(self) -> str:
        return self.tracking_uri or default_tracking_uri(self.run_dir)

    def resolved_device(self) -> str:
        """The device every job of the run computes on (``cuda:0``, ``cpu``), decided once; a GPU the
        machine lacks is `DeviceUnavailable` (one line, before anything is written)."""
        from harness.core.device import resolve_device

        return str(resolve_device(self.device))


def recorded_report_dir(run_dir: Path) -> Path:
    """Where `bench report RUN_DIR` writes: the recorded spec's report.dir, else ``RUN_DIR/report``
    when the spec placed the run (output_dir), else reports/<run dir name> as for the default runs/<name>."""
    try:
        spec = json.loads((run_dir / "spec.json").read_text())
    except (OSError, ValueError):
        spec = {}
    chosen = (spec.get("report") or {}).get("dir")
    if chosen:
        return Path(chosen)
    return run_dir / "report" if spec.get("output_dir") else Path("reports") / run_dir.name


def default_tracking_uri(run_dir: Path) -> str:
    """The MLflow store a run keeps in its own folder when the spec names no tracking server."""
    return f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"


def fingerprint(*parts: Any) -> str:
    """Short stable hash of JSON-able parts: a cell's identity for resume."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


# --- loading ----------------------------------------------------------------------------


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]], source: str) -> dict[str, Any]:
    """Apply ``--set a.b.0.c=value`` overrides to the raw YAML mapping, through OmegaConf.

    OmegaConf walks dotted paths through mappings and list indices and creates missing
    mappings; two things it does differently from what a spec needs are checked first: it
    would silently replace a scalar by a mapping (``image_size.x=1``) and it reports a bad
    list index as a multi-line exception."""
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cfg = OmegaConf.create(data)
    for dotted, value in overrides:
        keys = dotted.split(".")
        node: Any = cfg
        for i, key in enumerate(keys):
            if isinstance(node, ListConfig):
                if not key.isdigit() or int(key) >= len(node):
                    raise SpecError(f"{source}: --set {dotted}: '{key}' is not an index of a {len(node)}-item list")
                node = node[int(key)]
            elif isinstance(node, DictConfig):
                node = node.get(key)
            elif node is None:  # a new mapping: OmegaConf creates it
                break
            else:
                raise SpecError(f"{source}: --set {dotted}: '{'.'.join(keys[:i])}' is not a mapping or list")
        try:
            OmegaConf.update(cfg, dotted, value, merge=False)
        except (OmegaConfBaseException, TypeError, ValueError) as exc:
            first = str(exc).splitlines()[0]
            raise SpecError(f"{source}: --set {dotted}: {first}") from None
    out = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(out, dict)
    return out


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> list[tuple[str, Any]]:
    out = []
    for pair in pairs:
        if "=" not in pair:
            raise SpecError(f"--set {pair}: expected key.path=value")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SpecError(f"--set {pair}: value is not valid YAML ({problem}); quote it, e.g. "
                            f"--set '{key.strip()}=[1, 2]' or --set \"{key.strip()}='text'\"") from None
        out.append((key.strip(), value))
    return out


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


#: nodes a spec may hold once its YAML aliases are expanded (a real spec has a few hundred)
MAX_SPEC_NODES = 100_000


def _limit_expansion(data: Any, source: str) -> None:
    """Refuse a spec whose aliases expand past MAX_SPEC_NODES (a "billion laughs" bomb): PyYAML
    shares aliased nodes, but OmegaConf (``--set``) and validation copy them."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = MAX_SPEC_NODES + 1  # a cycle (a recursive alias) counts as too large
        children = node.values() if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_SPEC_NODES:
                break
        sizes[id(node)] = total
        return total

    if size(data) > MAX_SPEC_NODES:
        raise SpecError(f"{source}: the spec expands to more than {MAX_SPEC_NODES} values through YAML aliases "
                        "(&anchor / *alias); write the values out or use fewer aliases")


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentSpec:
    """Read, override, validate. Raises `SpecError` with a one-line message."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise SpecError(f"{source}: no such spec file; see experiments/ for examples (e.g. experiments/quick.yaml)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}: malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{source}: the spec must be a YAML mapping with at least name, generators, detectors")
    _limit_expansion(data, source)  # before --set: OmegaConf copies every alias, and a bomb expands
    if overrides:
        data = apply_overrides(data, parse_overrides(overrides), source)
    return validate_spec(data, source)


def validate_spec(data: dict[str, Any], source: str = "<spec>") -> ExperimentSpec:
    try:
        spec = ExperimentSpec(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _loc(err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(err["loc"][:-1])
            msg = (f"unknown key '{err['loc'][-1]}'{did_you_mean(err['loc'][-1], allowed)}"
                   + (f"; allowed: {', '.join(allowed)}" if allowed else ""))
            loc = _loc(err["loc"][:-1])
        else:
            msg = err["msg"]
            if err["type"] == "literal_error" and "expected" in err.get("ctx", {}):
                msg = f"must be one of {err['ctx']['expected']}"
        raise SpecError(f"{source}: {loc}: {msg}") from None
    _check_plugins(spec, source)
    _check_output_folders(spec, source)
    return spec


def _inside(path: Path, root: Path) -> bool:
    path, root = path.resolve(), root.resolve()
    return path == root or root in path.parents


def _check_output_folders(spec: ExperimentSpec, source: str) -> None:
    """Outputs never go inside a dataset root: its figures and augmented sets would be read as data."""
    for i, ds in enumerate(spec.datasets):
        if ds.root is None:
            continue
        for key, folder in (("output_dir", spec.run_dir), ("report.dir", spec.report_dir)):
            if _inside(folder, ds.root):
                raise SpecError(f"{source}: {key}: {folder} is inside dataset root {ds.root} (datasets.{i}.root); "
                                "put outputs outside the dataset, e.g. runs/ and reports/")


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = ExperimentSpec
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        ann = field.annotation
        inner = getattr(ann, "__args__", (ann,))
        nxt = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nxt is None:
            return []
        model = nxt
    return sorted(model.model_fields)


def _check_plugins(spec: ExperimentSpec, source: str) -> None:
    """Every named plug-in exists and its params validate under the spec's profile."""
    groups = (("generators", GENERATORS, spec.generators), ("detectors", DETECTORS, spec.detectors))
    for field, registry, items in groups:
        for i, item in enumerate(items):
            try:
                cls = registry.get(item.name)
            except UnknownNameError as exc:
                raise SpecError(f"{source}: {field}.{i}.name: {exc}") from None
            _check_params(cls, item.params, spec.profile, f"{source}: {field}.{i}.params")
            _check_device(cls, spec.device, f"{source}: device")
    for i, ds in enumerate(spec.datasets):
        try:
            cls = DATASETS.get(ds.name)
        except UnknownNameError as exc:
            raise SpecError(f"{source}: datasets.{i}.name: {exc}") from None
        _check_params(cls, ds.params, "cpu-quick", f"{source}: datasets.{i}.params")


def _check_device(cls: Any, device: str, where: str) -> None:
    """A spec naming a device type the plug-in does not declare (`supported_devices`) is refused
    before anything runs; ``auto`` picks among what the machine has."""
    kind = device.split(":")[0]
    supported = tuple(getattr(cls, "supported_devices", ("cpu", "cuda")))
    if device != "auto" and kind not in supported:
        raise SpecError(f"{where}: {device}, but {cls.name or cls.__name__} runs on {', '.join(supported)} only; "
                        f"set device: {supported[0]} or auto")


def _check_params(cls: Any, params: dict[str, Any], profile: str, where: str) -> None:
    """The plug-in's params validate; a typo names the key and lists the valid ones."""
    model = getattr(cls, "Params", None)
    fields = getattr(model, "model_fields", None)
    if fields is not None and model.model_config.get("extra") == "forbid":
        valid = set(fields) | {f.alias for f in fields.values() if f.alias}
        unknown = sorted(k for k in params if k not in valid)
        if unknown:
            hint = did_you_mean(unknown[0], valid) if len(unknown) == 1 else ""
            raise SpecError(f"{where}: {cls.name or cls.__name__}: param {', '.join(repr(k) for k in unknown)} is "
                            f"unknown{hint}; valid params: {', '.join(sorted(fields)) or 'none'}")
    try:
        cls.resolve_params(params, profile)
    except ParamError as exc:
        raise SpecError(f"{where}: {exc}") from None


def spec_to_dict(spec: ExperimentSpec) -> dict[str, Any]:
    return json.loads(spec.model_dump_json())

