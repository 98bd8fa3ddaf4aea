"""The modality registry: built-ins from one spec each, shapes from the model's preprocessing
config, and a modality defined inside a test flowing file -> store -> query."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from binding.api import Engine
from binding.errors import InputError
from binding.inputs import ITEM_SHAPES, prepare
from binding.modality import (
    NETWORK_INPUT,
    Modality,
    ModalitySpec,
    modality_spec,
    parse_modality,
    register_modality,
    unregister_modality,
)
from binding.models.registry import PREPROCESS, get_spec, list_models


def test_builtins_are_specs_with_the_registry_shapes() -> None:
    assert [m.value for m in Modality][:7] == [
        "text", "image", "video", "audio", "depth", "thermal", "imu",
    ]  # fmt: skip
    for model in list_models():
        assert model.preprocess == PREPROCESS
        for modality in list(Modality)[:7]:
            spec = modality_spec(modality)
            assert spec.builtin and ITEM_SHAPES[modality] == spec.item_shape
            tower = model.arch.tower(NETWORK_INPUT[modality])
            if modality is Modality.VIDEO:
                assert spec.item_shape == (3, PREPROCESS.frames_per_clip, *tower.input_shape[1:])
            else:
                assert spec.item_shape == tower.input_shape
    assert get_spec("imagebind_tiny").arch.tower("text").stem.context_length == 77  # type: ignore[union-attr]
    assert PREPROCESS.audio_shape == (1, 128, 204) and PREPROCESS.imu_shape == (6, 2000)


def test_modality_is_an_open_interned_str() -> None:
    assert Modality("image") is Modality.IMAGE is parse_modality(" Vision ")
    assert isinstance(Modality.AUDIO, str) and Modality.AUDIO == "audio"
    assert pickle.loads(pickle.dumps(Modality.IMU)) is Modality.IMU
    assert f"{Modality.DEPTH}" == "depth" and Modality.DEPTH.value == "depth"
    with pytest.raises(ValueError, match="unknown modality 'sonar'; choose one of: text, image"):
        parse_modality("sonar")
    with pytest.raises(ValueError, match="built in"):
        register_modality(ModalitySpec("image", "vision", (3,), "image", preprocess=torch.tensor))
    extra = ModalitySpec("radar", "depth", (1, 224, 224), "heat-map", preprocess=torch.tensor)
    radar = register_modality(extra)
    assert parse_modality("RADAR") is radar is Modality("radar") and radar in list(Modality)
    assert NETWORK_INPUT[radar] == "depth" and ITEM_SHAPES[radar] == (1, 224, 224)
    assert register_modality(extra) is radar  # the same spec again: a no-op
    with pytest.raises(ValueError, match="already registered"):
        register_modality(ModalitySpec("radar", "imu", (6, 2000), "line-plot", preprocess=abs))
    unregister_modality("radar")
    assert "radar" not in Modality and radar not in NETWORK_INPUT and radar not in ITEM_SHAPES
    with pytest.raises(ValueError, match="unknown modality"):
        parse_modality("radar")
    for bad in ("Bad", "9lives", "with-dash", "vec", "vision"):
        with pytest.raises(ValueError):
            ModalitySpec(bad, "imu", (6, 2000), "line-plot", preprocess=torch.tensor)


def _seismic_items(values: np.ndarray) -> torch.Tensor:
    """A (3, T) seismometer trace fed to the IMU tower: 3 axes + their gradient, 2000 samples."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or values.shape[0] != 3:
        raise InputError("<seismic>", f"expected (3, samples), got {values.shape}")
    six = np.concatenate([values, np.gradient(values, axis=1)])[:, :2000]
    six = np.pad(six, ((0, 0), (0, 2000 - six.shape[1])))
    return torch.from_numpy(np.ascontiguousarray(six)).unsqueeze(0)


def _decode_seismic(source: object, *, name: str | None = None) -> np.ndarray:
    from binding.io.arrays import decode_array

    return decode_array(source, name=name)  # type: ignore[arg-type]


@pytest.fixture
def seismic() -> Iterator[Modality]:
    spec = ModalitySpec(
        name="seismic",
        network_input="imu",
        item_shape=(6, 2000),
        preview="line-plot",
        decode=_decode_seismic,
        preprocess=_seismic_items,
        suffixes=(".npy",),
        folder_names=("seismic",),
        folder_categories=frozenset({"array"}),
        payload_fields=(),
        description="a test modality: seismometer traces through the IMU tower",
    )
    yield register_modality(spec)
    unregister_modality("seismic")


def test_a_modality_defined_here_flows_file_to_store_to_query(
    seismic: Modality, tiny_engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "seismic"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        np.save(folder / f"quake{index}.npy", rng.normal(size=(3, 1500)).astype(np.float32))
    np.save(folder / "flat.npy", np.zeros((4, 100), dtype=np.float32))  # 4 axes: rejected
    assert prepare("seismic", [folder / "quake0.npy"])[0].shape == (1, 6, 2000)

    report = tiny_engine.ingest([folder])
    status = {Path(o.source).name: (o.status, o.modality, o.reason) for o in report.files}
    assert status["quake1.npy"] == ("embedded", "seismic", None)
    assert status["flat.npy"][0] == "rejected" and "(4, 100)" in str(status["flat.npy"][2])
    hits = tiny_engine.search(f"seismic:{folder / 'quake1.npy'}", limit=1).hits
    assert hits[0].payload["name"] == "quake1.npy" and hits[0].payload["modality"] == "seismic"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InputError, match="flat.npy: expected"):
        tiny_engine.encoder.embed(seismic, [folder / "flat.npy"])
