"""The synthetic world: determinism, files the platform's decoders read, mappings, manifests."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from binding.eval.classify import read_labelled
from binding.eval.retrieve import read_pairs as retrieve_pairs
from binding.io.audio import decode_audio
from binding.io.depth import decode_depth
from binding.io.image import decode_image
from binding.io.imu import decode_imu
from binding.io.thermal import decode_thermal
from binding.io.video import decode_video
from binding.modality import Modality
from binding.train.manifest import read_pairs, split_pairs, validate_pairs
from binding.world import (
    ACTIVITIES,
    COLOURS,
    SHAPES,
    Scene,
    caption,
    render_audio,
    render_depth,
    render_image,
    render_imu,
    render_thermal,
    render_video,
    sample_scenes,
    write_world,
)
from binding.world.__main__ import main
from binding.world.render import NOTE_HZ, OBJECT_DEPTH_M, object_mask

N = 12


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return write_world(tmp_path_factory.mktemp("world"), n=N, seed=3)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _scene(**changes: object) -> Scene:
    base = Scene("red", "square", 1, "large", "grey", "still", 7, ((112.0, 112.0),))
    return dataclasses.replace(base, **changes)


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(world, tmp_path):
    again = write_world(tmp_path / "again", n=N, seed=3)
    first, second = _hashes(world.root), _hashes(again.root)
    assert len(first) == 5 * N + 5 + 5 + 5 + 2  # media, pairs, labels/*, retrieval/*, 2 more
    assert first == second
    other = write_world(tmp_path / "other", n=N, seed=4)
    assert _hashes(other.root)["image/train-00000.png"] != first["image/train-00000.png"]


def test_scenes_cover_the_attributes_and_are_reproducible():
    scenes = sample_scenes(300, seed=1)
    assert scenes == sample_scenes(300, seed=1)
    assert {s.colour for s in scenes} == set(COLOURS)
    assert {s.shape for s in scenes} == set(SHAPES)
    assert {s.activity for s in scenes} == set(ACTIVITIES)
    assert {s.count for s in scenes} == {1, 2, 3}
    assert len({s.label for s in scenes}) == 18
    assert scenes[0].label == f"{scenes[0].colour} {scenes[0].shape}"
    with pytest.raises(ValueError, match="colour 'purple'"):
        _scene(colour="purple")


def test_captions_name_colour_and_shape_and_vary():
    rng = np.random.default_rng(0)
    positions = ((40.0, 40.0), (150.0, 150.0))
    scene = _scene(
        colour="blue", shape="triangle", count=2, activity="walking", positions=positions
    )
    texts = [caption(scene, rng) for _ in range(60)]
    assert all("blue" in t and "triangle" in t for t in texts)
    assert all("two" in t or "pair" in t for t in texts)
    assert len(set(texts)) > 20
    with_activity = [t for t in texts if "walk" in t]
    assert 36 < len(with_activity) < 60  # most (ACTIVITY_NAMED, 80%) name the activity


def test_every_file_is_read_by_the_platform_decoders(world):
    for index, scene in enumerate(world.scenes):
        image = decode_image(world.file("image", index))
        assert image.size == (224, 224) and image.mode == "RGB"
        audio = decode_audio(world.file("audio", index))
        assert audio.sample_rate == 16_000 and audio.samples.shape == (1, 32_000)
        depth = decode_depth(world.file("depth", index))
        assert depth.unit == "m" and depth.values.shape == (224, 224)
        assert np.abs(depth.values - render_depth(scene)).max() <= 0.0006  # mm rounding
        thermal = decode_thermal(world.file("thermal", index))
        assert thermal.shape == (224, 224)
        assert np.array_equal(np.rint(thermal * 255).astype(np.uint8), render_thermal(scene))
        imu = decode_imu(world.file("imu", index))
        assert imu.sample_rate == 400 and imu.samples.shape == (6, 2000)
        assert np.abs(imu.samples - render_imu(scene)).max() < 1e-4


def test_render_shapes_and_dtypes():
    scene = sample_scenes(1, seed=5)[0]
    assert render_audio(scene).dtype == np.float32 and render_audio(scene).shape == (32_000,)
    assert render_depth(scene).dtype == np.float32 and render_depth(scene).shape == (224, 224)
    assert render_thermal(scene).dtype == np.uint8
    assert render_imu(scene).dtype == np.float32 and render_imu(scene).shape == (6, 2000)
    default, alt = render_image(scene), render_image(scene, style="alt")
    assert alt.size == default.size == (224, 224)
    assert not np.array_equal(np.asarray(alt), np.asarray(default))


def test_thermal_temperature_follows_colour():
    means = {}
    for colour in COLOURS:
        scene = _scene(colour=colour)
        means[colour] = render_thermal(scene)[object_mask(scene)].mean()
    assert means["red"] > means["yellow"] > means["white"] > means["green"]
    assert means["green"] > means["blue"] > means["black"]
    background = render_thermal(_scene())[~object_mask(_scene())].mean()
    assert background < means["black"] - 20


def test_audio_pitch_follows_colour_and_note_count_follows_count():
    for colour, hz in NOTE_HZ.items():
        for shape in SHAPES:
            samples = render_audio(_scene(colour=colour, shape=shape))
            spectrum = np.abs(np.fft.rfft(samples))
            peak = np.fft.rfftfreq(samples.size, 1 / 16_000)[spectrum.argmax()]
            assert abs(peak - hz) / hz < 0.03, (colour, shape, peak)
    for count in (1, 2, 3):
        positions = ((40.0, 40.0), (112.0, 112.0), (180.0, 180.0))[:count]
        loud = np.abs(render_audio(_scene(count=count, positions=positions))) > 0.1
        sounding = (np.convolve(loud, np.ones(400), "same") > 0).astype(int)
        onsets = np.flatnonzero(np.diff(sounding) > 0)
        assert len(onsets) == count


def test_depth_silhouettes_carry_shape_and_size():
    areas = {}
    for shape in SHAPES:
        depth = render_depth(_scene(shape=shape))
        areas[shape] = int((depth < 1.5).sum())
    assert areas["square"] > areas["circle"] > areas["triangle"] > 1000
    near_large = render_depth(_scene(size="large"))[object_mask(_scene(size="large"))].mean()
    near_small = render_depth(_scene(size="small"))[object_mask(_scene(size="small"))].mean()
    assert abs(near_large - OBJECT_DEPTH_M["large"]) < 0.15 < near_small - near_large
    assert render_depth(_scene()).max() > 3.5  # the far plane


def test_imu_signal_follows_activity():
    def stats(activity: str) -> tuple[float, float, float]:
        imu = render_imu(_scene(activity=activity)).astype(np.float64)
        acc = np.linalg.norm(imu[:3], axis=0)
        spectrum = np.abs(np.fft.rfft(acc - acc.mean()))
        peak = np.fft.rfftfreq(acc.size, 1 / 400)[spectrum.argmax()]
        return float(acc.std()), float(peak), float(np.abs(imu[3:].sum(axis=0).mean()))

    still, walking, running = stats("still"), stats("walking"), stats("running")
    turning, shaking = stats("turning"), stats("shaking")
    assert abs(np.linalg.norm(render_imu(_scene()).mean(axis=1)[:3]) - 9.81) < 0.1
    assert still[0] < 0.2 < walking[0] < running[0]
    assert 1.5 < walking[1] < 2.5 and 2.5 < running[1] < 3.6
    assert turning[2] > 0.5 > still[2]
    assert shaking[0] > running[0] / 2 and shaking[1] > 6


def test_image_motion_cue_follows_activity():
    def sharpness(activity: str, axis: int) -> float:
        pixels = np.asarray(render_image(_scene(activity=activity)), np.float32)
        return float(np.abs(np.diff(pixels, axis=axis)).max())

    assert sharpness("still", 0) > 2 * sharpness("running", 0)
    assert sharpness("still", 1) > 2 * sharpness("turning", 1)
    assert sharpness("running", 1) > 2 * sharpness("running", 0)  # vertical blur only
    red = np.asarray(render_image(_scene(activity="running")), np.float32)[112, 112]
    assert red[0] > 150 and red[1] < 80  # colour still readable at the object's centre


def test_image_motion_shows_in_the_background_too():
    """The film grain smears along the camera's motion: every patch carries the activity,
    not only the objects' edges (a plain background, far from the object)."""

    def roughness(activity: str, axis: int) -> float:
        pixels = np.asarray(render_image(_scene(activity=activity)), np.float32)[:40, :40]
        return float(np.abs(np.diff(pixels, axis=axis)).mean())

    assert roughness("still", 0) > 2 * roughness("running", 0)  # vertical streaks
    assert roughness("running", 1) > 2 * roughness("running", 0)
    assert roughness("turning", 0) > 2 * roughness("turning", 1)  # horizontal streaks
    assert roughness("walking", 0) > roughness("running", 0)  # shorter blur, more grain left


def test_manifests_are_read_by_the_trainer_and_the_eval_harness(world):
    for modality in ("text", "audio", "depth", "thermal", "imu"):
        pairs = read_pairs(world.pairs[modality])
        assert len(pairs) == N and all(p.split == "train" for p in pairs)
        assert all(Path(p.anchor).is_file() for p in pairs)
        if modality == "text":
            assert pairs[0].input == world.captions[0]
        else:
            assert all(Path(p.input).is_file() for p in pairs)
    imu_pairs = read_pairs(world.pairs["imu"])
    checked = validate_pairs(imu_pairs, anchor_is_text=False)
    assert checked.problems == [] and checked.arrays[0].shape == (6, 2000)
    assert {p.label for p in imu_pairs} <= set(ACTIVITIES)
    depth = read_labelled(world.labels_by_modality["depth"], "depth")
    assert depth.modality is Modality.DEPTH and len(depth.items) == N
    assert all(Path(p).is_file() for p in depth.items)
    assert set(depth.classes) == {s.label for s in world.scenes}
    imu = read_labelled(world.labels_by_modality["imu"])
    assert imu.modality is Modality.IMU and set(imu.classes) == {s.activity for s in world.scenes}
    everything = read_labelled(world.labels, mixed=True)
    assert len(everything.items) == 5 * N
    text = retrieve_pairs(world.retrieval["text"], "text", "image")
    assert text.queries == world.captions and all(Path(p).is_file() for p in text.targets)
    audio = retrieve_pairs(world.retrieval["audio"], "audio", "image")
    assert all(Path(p).is_file() for p in audio.queries) and len(audio.targets) == N


def test_a_val_split_joins_the_train_manifest(tmp_path):
    write_world(tmp_path, n=4, seed=1, modalities=("image", "text", "imu"))
    val = write_world(tmp_path, n=3, seed=2, modalities=("image", "text", "imu"), split="val")
    pairs = read_pairs(val.pairs["text"])
    assert [p.split for p in pairs] == ["train"] * 4 + ["val"] * 3
    checked = validate_pairs(pairs, anchor_is_text=False, read=lambda text: np.zeros((1, 1)))
    assert split_pairs(checked, val_fraction=0.1, seed=0) == ([0, 1, 2, 3], [4, 5, 6])
    with (tmp_path / "scenes.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 7
    test = write_world(tmp_path, n=2, seed=5, modalities=("image", "imu"), split="test")
    assert test.pairs["imu"].name == "pairs_imu_test.csv"
    assert len(read_pairs(tmp_path / "pairs_imu.csv")) == 7  # train + val untouched


def test_video_is_a_short_mp4(tmp_path):
    path = render_video(
        _scene(count=2, positions=((40.0, 40.0), (150.0, 150.0))), tmp_path / "a.mp4"
    )
    with decode_video(path) as video:
        assert video.info.frame_count == 16 and video.info.width == 112
        assert abs(video.info.duration_s - 2.0) < 0.01


def test_command_line_writes_a_world(tmp_path, capsys):
    assert main([str(tmp_path), "--n", "2", "--seed", "1", "--modalities", "image,text"]) == 0
    assert "2 train scenes" in capsys.readouterr().out
    assert len(read_pairs(tmp_path / "pairs_text.csv")) == 2
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--modalities", "smell"])


def test_video_files_join_the_manifests_when_asked(tmp_path):
    world = write_world(tmp_path, n=1, seed=0, modalities=("image", "video"))
    assert [p.input for p in read_pairs(world.pairs["video"])] == [str(world.file("video", 0))]
    labelled = read_labelled(world.labels_by_modality["video"])
    assert labelled.modality is Modality.VIDEO and labelled.classes == [world.scenes[0].label]


def test_bad_arguments_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="split must be one of train, val, test"):
        write_world(tmp_path, n=1, seed=0, split="dev")
    with pytest.raises(ValueError, match="unknown modality smell"):
        write_world(tmp_path, n=1, seed=0, modalities=("image", "smell"))
    with pytest.raises(ValueError, match="style must be"):
        render_image(_scene(), style="sketch")
    with pytest.raises(ValueError, match="3 positions for 1 objects"):
        _scene(positions=((1.0, 1.0), (2.0, 2.0), (3.0, 3.0)))


def test_alt_style_draws_outlines_on_a_textured_background():
    scene = _scene(background="grey")
    default = np.asarray(render_image(scene), np.float32)
    alt = np.asarray(render_image(scene, style="alt"), np.float32)
    corner = (slice(0, 40), slice(0, 40))
    # a textured background plus pixel noise on top of the grain every picture has
    assert alt[corner].std() > 1.4 * default[corner].std()
    redness = default[..., 0] - default[..., 1], alt[..., 0] - alt[..., 1]
    centre = (slice(106, 119), slice(106, 119))  # a window: single pixels carry grain and noise
    assert redness[0][centre].mean() > 120 and redness[1][centre].mean() < 40  # not filled
    assert redness[1][112, 112 - 32] > 120  # the outline is
