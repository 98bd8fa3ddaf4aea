"""Our network against the reference ImageBind on identical weights (golden fixtures).

The fixtures come from `tools/golden.py`, which runs the reference code on the
`imagebind_tiny` configuration with `random_state_dict(tiny, seed)`. Weights and inputs are
regenerated here from the seed; their hashes must match the fixture's first.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from binding.models import ImageBind, get_spec, random_state_dict

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_tool", ROOT / "tools" / "golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden = _load_tool()
META = json.loads((GOLDEN / "imagebind_tiny.json").read_text())
ARRAYS = dict(np.load(GOLDEN / "imagebind_tiny.npz"))
INPUTS = golden.golden_inputs(META["seed"])


@pytest.fixture(scope="module")
def model() -> ImageBind:
    arch = get_spec("imagebind_tiny").arch
    state = random_state_dict(arch, META["seed"])
    assert golden.state_sha256(state) == META["state_sha256"], (
        "random_state_dict changed (or torch's generator did): rerun tools/golden.py"
    )
    network = ImageBind(arch)
    network.load_state_dict(state, strict=True)
    return network.eval()


def test_fixture_format_and_cases() -> None:
    assert META["format_version"] == golden.FORMAT_VERSION
    assert META["model"] == "imagebind_tiny"
    assert set(META["cases"]) == set(INPUTS)
    towers = {case["tower"] for case in META["cases"].values()}
    assert towers == {"vision", "text", "audio", "depth", "thermal", "imu"}


@pytest.mark.parametrize("case", sorted(INPUTS))
def test_regenerated_inputs_match_the_fixture(case: str) -> None:
    tower, x = INPUTS[case]
    assert META["cases"][case]["tower"] == tower
    assert golden.tensor_sha256(x) == META["cases"][case]["input_sha256"]


@pytest.mark.parametrize("case", sorted(INPUTS))
def test_outputs_equal_the_reference(model: ImageBind, case: str) -> None:
    tower, x = INPUTS[case]
    raw_ref = torch.from_numpy(ARRAYS[f"{case}.raw"])
    unit_ref = torch.from_numpy(ARRAYS[f"{case}.unit"])
    assert raw_ref.shape == (x.shape[0], 32)
    with torch.no_grad():
        raw = model.embed(tower, x)
        unit = model.embed(tower, x, normalize=True)
    torch.testing.assert_close(unit, unit_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(raw, raw_ref, rtol=1e-5, atol=1e-5)


def test_golden_outputs_are_not_degenerate() -> None:
    # a parity test on constant outputs would prove little
    for case, (_, x) in INPUTS.items():
        unit = ARRAYS[f"{case}.unit"]
        if x.shape[0] > 1:
            assert np.abs(unit[0] - unit[1]).max() > 1e-3, case
    expected = {"vision": 1.0, "text": 1 / 0.07, "depth": 5.0, "thermal": 10.0, "imu": 5.0}
    for case, scale in expected.items():
        norms = np.linalg.norm(ARRAYS[f"{case}.raw"], axis=-1)
        np.testing.assert_allclose(norms, scale, rtol=1e-5)
    # audio is clips: the mean of three vectors of norm 20 is shorter than 20
    norms = np.linalg.norm(ARRAYS["audio.raw"], axis=-1)
    assert np.all((norms > 1.0) & (norms < 20.0))


def test_forward_of_several_towers_at_once(model: ImageBind) -> None:
    batch = {tower: x for case, (tower, x) in INPUTS.items() if case == tower}
    with torch.no_grad():
        out = model(batch)
    assert list(out) == list(batch)
    for tower, raw in out.items():
        torch.testing.assert_close(
            raw, torch.from_numpy(ARRAYS[f"{tower}.raw"]), rtol=1e-5, atol=1e-5
        )
