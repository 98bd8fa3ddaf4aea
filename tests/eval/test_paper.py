"""The paper-benchmark readers on small replicas of each published layout: the right counts
per class and split, absent datasets skipped with their layout, broken layouts named."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from binding.eval import paper
from binding.eval.cache import CachedEmbedder
from binding.eval.paper import (
    audioset,
    captions,
    esc50,
    imagenet,
    llvip,
    msrvtt,
    places365,
    sunrgbd,
    vggsound,
)
from binding.eval.paper.base import LayoutError, read_lines, templates
from binding.modality import Modality, parse_modality
from tests.eval.conftest import write_png, write_wav


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def esc50_replica(root: Path) -> Path:
    base = root / "ESC-50"
    rows = []
    for fold in (1, 2):
        for target, category in enumerate(["dog", "rain", "crying_baby"]):
            name = f"{fold}-{target}-A-{target}.wav"
            write_wav(base / "audio" / name, hz=200 + 100 * target + fold)
            rows.append([name, fold, target, category, False, 1, "A"])
    write_csv(base / "meta" / "esc50.csv", ["filename", "fold", "target", "category", "esc10", "src_file", "take"], rows)  # fmt: skip
    return base


def test_esc50_counts_per_class_and_fold(tmp_path: Path):
    base = esc50_replica(tmp_path)
    data = esc50.read(base)
    assert data.classes == ["dog", "rain", "crying baby"]
    assert data.counts() == {"dog": 2, "rain": 2, "crying baby": 2}
    assert esc50.fold_counts(base) == {1: 3, 2: 3}


def test_esc50_missing_clip_is_named(tmp_path: Path):
    base = esc50_replica(tmp_path)
    (base / "audio" / "2-1-A-1.wav").unlink()
    with pytest.raises(LayoutError, match=r"2-1-A-1\.wav is missing"):
        esc50.read(base)
    (base / "meta" / "esc50.csv").unlink()
    with pytest.raises(LayoutError, match=r"meta/esc50\.csv is missing \(the clip table\)"):
        esc50.read(base)


def test_imagenet_with_the_synset_mapping(tmp_path: Path):
    base = tmp_path / "imagenet"
    for wnid, count in (("n01440764", 2), ("n01443537", 3)):
        for i in range(count):
            write_png(base / "val" / wnid / f"ILSVRC2012_val_{wnid}_{i}.JPEG", seed=i)
    (base / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n"
    )
    data = imagenet.read(base)
    assert data.counts() == {"tench": 2, "goldfish": 3}


def test_imagenet_needs_all_folders_without_the_mapping(tmp_path: Path):
    base = tmp_path / "imagenet"
    write_png(base / "val" / "n01440764" / "a.JPEG", seed=0)
    with pytest.raises(LayoutError, match="has 1 class folders, not 1000"):
        imagenet.read(base)
    for i in range(999):
        (base / "val" / f"n9{i:07d}").mkdir()
    data = imagenet.read(base)
    assert len(data.classes) == 1000 and data.classes[0] == "tench" and len(data.items) == 1
    assert len(read_lines("imagenet_classes.txt")) == 1000
    assert len(templates("image")) == 80


def test_places365_official_lists(tmp_path: Path):
    base = tmp_path / "places365"
    (base).mkdir()
    (base / "categories_places365.txt").write_text(
        "/a/airfield 0\n/a/apartment_building/outdoor 1\n"
    )
    lines = []
    for i, label in enumerate([0, 1, 1]):
        name = f"Places365_val_{i + 1:08d}.jpg"
        write_png(base / "val_256" / name, seed=i)
        lines.append(f"{name} {label}")
    (base / "places365_val.txt").write_text("\n".join(lines) + "\n")
    data = places365.read(base)
    assert data.counts() == {"airfield": 1, "apartment building outdoor": 2}
    (base / "val_256" / "Places365_val_00000002.jpg").unlink()
    with pytest.raises(LayoutError, match="Places365_val_00000002.jpg is missing .line 2"):
        places365.read(base)


def test_clotho_five_captions_per_clip(tmp_path: Path):
    base = tmp_path / "clotho"
    rows = []
    for i in range(3):
        write_wav(base / "evaluation" / f"clip{i}.wav", hz=300 + 50 * i)
        rows.append([f"clip{i}.wav", *[f"caption {j} of clip {i}" for j in range(5)]])
    header = ["file_name", *[f"caption_{j}" for j in range(1, 6)]]
    write_csv(base / "clotho_captions_evaluation.csv", header, rows)
    pairs = captions.read_clotho(base)
    assert len(pairs.queries) == 15 and len(set(map(str, pairs.targets))) == 3
    write_csv(
        base / "clotho_captions_evaluation.csv", ["file_name", "caption"], [["clip0.wav", "x"]]
    )
    with pytest.raises(LayoutError, match="no column caption_1"):
        captions.read_clotho(base)


def test_audiocaps_test_csv(tmp_path: Path):
    base = tmp_path / "audiocaps"
    write_wav(base / "audio" / "test" / "abc.wav", hz=300)
    write_wav(base / "audio" / "test" / "def_30.wav", hz=400)
    write_csv(
        base / "test.csv",
        ["audiocap_id", "youtube_id", "start_time", "caption"],
        [[1, "abc", 0, "a dog barks"], [2, "def", 30, "rain falls"], [3, "gone", 0, "absent clip"]],
    )
    pairs = captions.read_audiocaps(base)
    assert pairs.queries == ["a dog barks", "rain falls"]


def sunrgbd_replica(root: Path) -> Path:
    base = root / "SUNRGBD"
    scenes = [("kv1/NYUdata/NYU0001", "bedroom"), ("kv1/NYUdata/NYU0002", "kitchen"),
              ("kv1/NYUdata/NYU0003", "study"), ("kv2/align_kv2/0001", "office"),
              ("realsense/lg/0002", "corridor")]  # fmt: skip
    for i, (folder, label) in enumerate(scenes):
        scene = base / folder
        scene.mkdir(parents=True)
        (scene / "scene.txt").write_text(label + "\n")
        depth = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * (i + 1)).astype(np.uint16)
        from PIL import Image

        (scene / "depth").mkdir()
        Image.fromarray(depth).save(scene / "depth" / f"{i:04d}.png")
    return base


def test_sun_d_and_nyu_d_scenes(tmp_path: Path):
    base = sunrgbd_replica(tmp_path)
    nyu = sunrgbd.read_nyu(base)
    assert len(nyu.classes) == 10
    counts = {k: v for k, v in nyu.counts().items() if v}
    assert counts == {"bedroom": 1, "kitchen": 1, "others": 1}  # "study" folds into others
    sun = sunrgbd.read_sun(base)
    assert len(sun.classes) == 19 and len(sun.items) == 4  # "study" is not a SUN-D class
    (base / "kv2" / "align_kv2" / "0001" / "depth" / "0003.png").unlink()
    with pytest.raises(LayoutError, match=r"0001/depth is missing or holds no \.png"):
        sunrgbd.read_sun(base)


def test_llvip_person_and_street_crops(tmp_path: Path):
    base = tmp_path / "LLVIP"
    write_png(base / "infrared" / "test" / "190001.jpg", seed=1, size=(128, 96))
    (base / "Annotations").mkdir(parents=True)
    box = "<object><name>person</name><bndbox><xmin>80</xmin><ymin>40</ymin><xmax>110</xmax><ymax>90</ymax></bndbox></object>"
    (base / "Annotations" / "190001.xml").write_text(f"<annotation>{box}</annotation>")
    data = llvip.read(base)
    assert data.counts() == {"person": 1, "street": 1}
    assert all(isinstance(item, bytes) for item in data.items)
    write_png(base / "infrared" / "test" / "190002.jpg", seed=2)
    with pytest.raises(LayoutError, match=r"190002\.xml is missing"):
        llvip.read(base)


def test_rows_evaluate_present_skip_absent_and_name_broken(tmp_path: Path, tiny_encoder):
    esc50_replica(tmp_path)
    (tmp_path / "clotho").mkdir()  # present but empty: broken
    rows = {r.dataset.key: r for r in paper.rows(tmp_path, CachedEmbedder(tiny_encoder, None))}
    assert len(rows) == len(paper.DATASETS)
    assert rows["esc50"].status == "evaluated" and rows["esc50"].count == 6
    assert 0.0 <= rows["esc50"].ours["top1"] <= 100.0
    line = rows["esc50"].lines()[0]
    assert line[0] == "ESC-50" and line[3] == "66.9"
    assert float(line[4]) == pytest.approx(float(line[2]) - 66.9, abs=0.11)
    assert rows["in1k"].status == "absent" and "imagenet/val/<wnid>" in rows["in1k"].detail
    assert "image-net.org" in rows["in1k"].detail
    assert (
        rows["clotho"].status == "broken"
        and "clotho_captions_evaluation.csv is missing" in rows["clotho"].detail
    )
    assert rows["ego4d_imu"].status == "no reader"
    assert {r.dataset.title for r in rows.values()} >= {"ImageNet-1k", "Places365", "Kinetics-400",
        "MSR-VTT", "NYU-D", "SUN-D", "AudioSet", "VGGSound", "ESC-50", "LLVIP", "Ego4D IMU",
        "Clotho", "AudioCaps"}  # fmt: skip


def test_paper_numbers_are_table_2():
    numbers = {d.key: d.paper for d in paper.DATASETS}
    assert numbers["in1k"] == {"top1": 77.7} and numbers["esc50"] == {"top1": 66.9}
    assert numbers["clotho"] == {"R@1": 6.0, "R@10": 28.4}
    assert numbers["audiocaps"] == {"R@1": 9.3, "R@10": 42.3}
    assert numbers["audioset"] == {"mAP": 17.6} and numbers["llvip"] == {"top1": 63.4}


def test_selection_hash_is_set_and_follows_the_files(tmp_path: Path, tiny_encoder):
    base = esc50_replica(tmp_path)
    embedder = CachedEmbedder(tiny_encoder, None)
    first = {r.dataset.key: r for r in paper.rows(tmp_path, embedder, only=["esc50"])}["esc50"]
    assert len(first.hash) == 64
    assert paper.selection_hash(esc50.read(base), base) == first.hash  # the same files, same hash
    table = paper.table_hash([first])
    name = "3-0-A-0.wav"
    write_wav(base / "audio" / name, hz=250)
    with (base / "meta" / "esc50.csv").open("a", newline="") as handle:
        csv.writer(handle).writerow([name, 3, 0, "dog", False, 1, "A"])
    again = paper.rows(tmp_path, embedder, only=["esc50"])[0]
    assert again.hash != first.hash and paper.table_hash([again]) != table


def vggsound_replica(root: Path) -> Path:
    base = root / "vggsound"
    rows = [["aaa", 30, "dog barking", "test"], ["bbb", 0, "dog barking", "test"],
            ["ccc", 10, "rain", "test"], ["ddd", 5, "rain", "train"],
            ["eee", 7, "playing drums", "train"], ["gone", 1, "rain", "test"]]  # fmt: skip
    write_wav(base / "video" / "aaa_000030.wav", hz=300)
    write_wav(base / "audio" / "bbb_0.wav", hz=310)  # the start as written in the table
    write_wav(base / "ccc_000010.flac.wav", hz=320)  # not a clip name: ignored
    write_wav(base / "audio" / "ccc_000010.wav", hz=330)
    write_wav(base / "audio" / "ddd_000005.wav", hz=340)  # train: not evaluated
    base.mkdir(parents=True, exist_ok=True)
    with (base / "vggsound.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return base


def test_vggsound_test_split_and_classes(tmp_path: Path):
    base = vggsound_replica(tmp_path)
    data = vggsound.read(base)
    assert data.classes == ["dog barking", "playing drums", "rain"]  # every label, both splits
    assert data.counts() == {"dog barking": 2, "playing drums": 0, "rain": 1}
    assert vggsound.split_counts(base) == {"test": 4, "train": 2}
    assert {p.name for p in data.items} == {"aaa_000030.wav", "bbb_0.wav", "ccc_000010.wav"}


def test_vggsound_broken_layouts_are_named(tmp_path: Path):
    base = vggsound_replica(tmp_path)
    for clip in list(base.rglob("*.wav")):
        clip.unlink()
    with pytest.raises(LayoutError, match="holds none of the test clips .*vggsound.csv lists"):
        vggsound.read(base)
    (base / "vggsound.csv").write_text("aaa,30,dog barking\n")
    with pytest.raises(LayoutError, match=r"vggsound\.csv line 1: expected youtube_id"):
        vggsound.read(base)
    (base / "vggsound.csv").unlink()
    with pytest.raises(LayoutError, match=r"vggsound\.csv is missing \(the published clip table\)"):
        vggsound.read(base)


def audioset_replica(root: Path) -> Path:
    base = root / "audioset"
    write_csv(base / "class_labels_indices.csv", ["index", "mid", "display_name"],
              [[0, "/m/09x0r", "Speech"], [1, "/m/0bt9lr", "Dog"], [2, "/m/0jbk", "Animal"]])  # fmt: skip
    (base / "eval_segments.csv").write_text(
        "# Segments csv created Sun Mar  5 10:54:31 2017\n"
        "# num_ytids=4, num_segs=4, num_unique_labels=3, num_positive_labels=6\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
        '--4gqARaEJE, 0.000, 10.000, "/m/0bt9lr,/m/0jbk"\n'
        '-0RWZT-miFs, 420.000, 430.000, "/m/09x0r"\n'
        'abcdefghijk, 30.000, 40.000, "/m/09x0r,/m/0bt9lr,/m/0jbk"\n'
        'notfetched1, 0.000, 10.000, "/m/09x0r"\n'
    )
    write_wav(base / "audio" / "--4gqARaEJE_0.wav", hz=300)
    write_wav(base / "audio" / "-0RWZT-miFs_420.000.flac.wav", hz=310)  # not a clip name
    write_wav(base / "audio" / "-0RWZT-miFs_000420.wav", hz=320)
    write_wav(base / "eval" / "Yabcdefghijk.wav", hz=330)  # the PANNs naming
    return base


def test_audioset_segments_labels_and_clip_names(tmp_path: Path):
    base = audioset_replica(tmp_path)
    data = audioset.read(base)
    assert data.classes == ["Speech", "Dog", "Animal"]
    assert [p.name for p in data.items] == [
        "--4gqARaEJE_0.wav", "-0RWZT-miFs_000420.wav", "Yabcdefghijk.wav"]  # fmt: skip
    assert data.labels == [[1, 2], [0], [0, 1, 2]]
    assert data.counts() == {"Speech": 2, "Dog": 2, "Animal": 2}


def test_audioset_broken_layouts_are_named(tmp_path: Path):
    base = audioset_replica(tmp_path)
    with (base / "eval_segments.csv").open("a") as handle:
        handle.write('zzzzzzzzzzz, 0.000, 10.000, "/m/unknown"\n')
    with pytest.raises(LayoutError, match=r"zzzzzzzzzzz has labels \['/m/unknown'\] not in"):
        audioset.read(base)
    (base / "eval_segments.csv").write_text("abc, 0.000, 10.000\n")
    with pytest.raises(LayoutError, match="expected YTID, start_seconds, end_seconds"):
        audioset.read(base)
    (base / "class_labels_indices.csv").unlink()
    with pytest.raises(LayoutError, match=r"class_labels_indices\.csv is missing \(the 527"):
        audioset.read(base)


class MultiHotEmbedder:
    """Texts to their class's one-hot vector, clips to the (normalised) multi-hot vector of
    their true classes: every positive outscores every negative, so mAP is 100."""

    def __init__(self, data: paper.MultiLabelSet) -> None:
        self.classes = data.classes
        self.labels = {
            str(item): labels for item, labels in zip(data.items, data.labels, strict=True)
        }

    def embed(
        self, modality: Modality | str, items: Sequence[Any], *, progress: object = None
    ) -> np.ndarray:
        out = np.zeros((len(items), len(self.classes)), dtype=np.float32)
        for row, item in enumerate(items):
            if parse_modality(str(modality)) is Modality.TEXT:
                out[row, next(i for i, c in enumerate(self.classes) if c in item)] = 1.0
            else:
                out[row, self.labels[str(item)]] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_audioset_mean_average_precision(tmp_path: Path, tiny_encoder):
    base = audioset_replica(tmp_path)
    spec = next(d for d in paper.DATASETS if d.key == "audioset")
    data = audioset.read(base)
    assert paper.evaluate_dataset(spec, data, MultiHotEmbedder(data)) == {"mAP": 100.0}
    row = paper.rows(tmp_path, CachedEmbedder(tiny_encoder, None), only=["audioset"])[0]
    assert row.status == "evaluated" and row.count == 3 and 0.0 <= row.ours["mAP"] <= 100.0
    assert row.lines()[0][:2] == ("AudioSet", "mAP") and row.lines()[0][3] == "17.6"


def write_mp4(path: Path, shade: int, frames: int = 12) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=6)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(frames):
            frame = np.full((48, 64, 3), shade, dtype=np.uint8)
            frame[:, : (index * 5) % 64] = (200, 80, 20)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def msrvtt_replica(root: Path, folder: str = "videos") -> Path:
    base = root / "msrvtt"
    rows = []
    for i in range(3):
        write_mp4(base / folder / f"video{7010 + i}.mp4", shade=40 * i)
        rows.append([f"ret{i}", f"msr{7010 + i}", f"video{7010 + i}", f"a clip number {i}"])
    write_csv(base / "MSRVTT_JSFUSION_test.csv", ["key", "vid_key", "video_id", "sentence"], rows)
    return base


def test_msrvtt_text_to_video_pairs(tmp_path: Path, tiny_encoder):
    base = msrvtt_replica(tmp_path, "videos/all")  # as the CLIP4Clip download unpacks
    pairs = msrvtt.read(base)
    assert pairs.queries == ["a clip number 0", "a clip number 1", "a clip number 2"]
    assert [p.name for p in pairs.targets] == ["video7010.mp4", "video7011.mp4", "video7012.mp4"]
    assert (pairs.query_modality.value, pairs.target_modality.value) == ("text", "video")
    row = paper.rows(tmp_path, CachedEmbedder(tiny_encoder, None), only=["msrvtt"])[0]
    assert row.status == "evaluated" and row.count == 3 and len(row.hash) == 64
    assert 0.0 <= row.ours["R@1"] <= 100.0 and row.lines()[0][3] == "36.1"


def test_msrvtt_missing_video_is_named(tmp_path: Path):
    base = msrvtt_replica(tmp_path)
    (base / "videos" / "video7011.mp4").unlink()
    with pytest.raises(LayoutError, match=r"video7011\.mp4 is missing \(line 3 of"):
        msrvtt.read(base)
    write_csv(base / "MSRVTT_JSFUSION_test.csv", ["key", "video_id", "caption"], [])
    with pytest.raises(LayoutError, match="has no column sentence"):
        msrvtt.read(base)
