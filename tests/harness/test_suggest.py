"""A typo in a `--set` key or a plug-in param names the key it was probably meant to be."""

from __future__ import annotations

import pytest
import yaml

from harness.config import SpecError, load_spec
from harness.suggest import did_you_mean


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"name": "typo", "generators": [{"name": "cutpaste"}],
                                    "detectors": [{"name": "padim"}], "output_dir": str(tmp_path / "run")}))
    return path


@pytest.mark.parametrize("override, meant", [
    ("seds=[0]", "'seeds'"),                                # a top-level key
    ("generation.n_sample=8", "'n_samples'"),               # a nested key
    ("generators.0.params.area_ratio=[0.1,0.2]", None),    # valid: no error at all
    ("generators.0.params.color_jiter=0.2", "'color_jitter'"),  # a plug-in param
    ("detectors.0.params.batchsize=4", "'batch_size'"),
])
def test_set_typo_gets_a_did_you_mean(spec_file, override, meant):
    if meant is None:
        assert load_spec(spec_file, [override]).generators[0].params["area_ratio"] == [0.1, 0.2]
        return
    with pytest.raises(SpecError, match=rf"did you mean {meant}\?"):
        load_spec(spec_file, [override])


def test_no_suggestion_for_a_word_like_no_choice():
    assert did_you_mean("zzzz", ["seeds", "name"]) == ""
