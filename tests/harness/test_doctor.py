"""`bench doctor SPEC` lists model checkpoints, detector backbones and data, not only metric weights."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from harness.cli import main


def test_doctor_names_checkpoints_backbones_and_their_sources(tmp_path):
    sd = tmp_path / "my-sd"
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        (sd / part).mkdir(parents=True)
    weights = tmp_path / "wrn.pth"
    weights.write_bytes(b"x")
    spec = {"name": "doc", "profile": "gpu-full", "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
            "generators": [{"name": "dhdiff"}, {"name": "twostage", "params": {"pretrained": str(sd)}}],
            "detectors": [{"name": "padim"}, {"name": "patchcore", "params": {"backbone_weights": str(weights)}},
                          {"name": "supervised-seg"}]}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = CliRunner().invoke(main, ["doctor", str(path)])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    # the gpu-full default checkpoint (a hub id, not cached here) with how to get it offline
    assert "SD checkpoint stable-diffusion-v1-5/stable-diffusion-v1-5" in out and "huggingface-cli download" in out
    assert f"SD checkpoint {sd}" in out  # the local folder twostage was given
    assert "backbone resnet18" in out and "backbone_weights: /path/resnet18.pth" in out  # PaDiM's gpu-full backbone
    assert f"backbone wide_resnet50_2 weights {weights}" in out and "present" in out
    assert "Weight files for generation-quality metrics" in out  # the metric section is still there


def test_doctor_flags_an_incomplete_checkpoint_folder_and_bad_specs(tmp_path):
    (tmp_path / "half" / "unet").mkdir(parents=True)
    spec = {"name": "doc", "generators": [{"name": "dhdiff", "params": {"pretrained": str(tmp_path / "half")}}],
            "detectors": [{"name": "supervised-seg"}]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    res = CliRunner().invoke(main, ["doctor", str(tmp_path / "s.yaml")])
    assert "INCOMPLETE (no vae, text_encoder, tokenizer, scheduler/)" in " ".join(res.output.split())
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**spec, "generators": [{"name": "gan9000"}]}))
    res = CliRunner().invoke(main, ["doctor", str(tmp_path / "bad.yaml")])
    assert res.exit_code != 0 and "unknown generator 'gan9000'" in res.output


def test_doctor_lists_the_files_a_plugin_declares(tmp_path, monkeypatch):
    """The doctor asks the plug-in (`required_files`), so a third party's file params are listed
    with its own advice, and a plug-in without any adds no row."""
    from harness.config import validate_spec
    from harness.core import GENERATORS, Entry, Generator, PluginParams, RequiredFile
    from harness.doctor import model_needs

    class Textured(Generator):
        """Needs a texture folder."""

        name = "textured"

        class Params(PluginParams):
            textures: str | None = None

        @classmethod
        def required_files(cls, params):
            return [RequiredFile("textures", params.textures, "path", "texture folder", "unzip textures.zip there")] \
                if params.textures else []

        def fit(self, normal_images, anomaly_pairs, *, seed):
            pass

        def sample(self, n, *, normal_images, defect_type=None, seed):
            return []

    monkeypatch.setitem(GENERATORS._entries, "textured", Entry("textured", Textured, "", "test"))
    tex = tmp_path / "tex"
    spec = validate_spec({"name": "doc", "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
                          "generators": [{"name": "textured", "params": {"textures": str(tex)}}, {"name": "cutpaste"}],
                          "detectors": [{"name": "supervised-seg"}]})
    rows = {n.what: n for n in model_needs(spec)}
    assert set(rows) == {"dataset builtin", f"texture folder {tex}"}
    row = rows[f"texture folder {tex}"]
    assert (row.status, row.used_by, row.how) == ("MISSING", "textured", "unzip textures.zip there")
    tex.mkdir()
    assert {n.what: n.status for n in model_needs(spec)}[f"texture folder {tex}"] == "present"
