"""Regenerate the image and text parity fixtures from the reference pipelines.

Run with an interpreter that has torchvision (it must NOT be the project's .venv):

    python3 -m venv .tools/tv
    .tools/tv/bin/pip install torch==2.14.1 torchvision==0.29.1 ftfy regex
    .tools/tv/bin/python tools/preprocess_fixtures.py

It writes into tests/fixtures/preprocess/:
- images/*: small images generated deterministically with Pillow and numpy (sizes and modes
  that exercise the resize rounding, the crop offsets, JPEG, palette, gray, CMYK, alpha);
- images.json: manifest (format version, library versions, sha256 of each image);
- image_reference.npz: the reference tensors, (3, 224, 224) float32 each, from
  `Compose([Resize(224, BICUBIC), CenterCrop(224), ToTensor(), Normalize(CLIP)])` applied to
  `PIL.Image.open(f).convert("RGB")`, exactly as imagebind/data.py does;
- text_tokens.json: texts and the ids of the reference `SimpleTokenizer`
  (imagebind/models/multimodal_preprocessors.py, loaded from its file with stand-ins for
  the imports the tokenizer does not use: iopath's g_pathmgr, timm and the model helpers).

The reference code (CC BY-NC-SA 4.0) is only run here, as an oracle; none of it is copied.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "preprocess"
FORMAT_VERSION = 1

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def scene(width: int, height: int, seed: int) -> np.ndarray:
    """A deterministic RGB picture: gradients, shapes, fine lines and mild noise (H, W, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    red = 255 * x / max(width - 1, 1)
    green = 127.5 + 127.5 * np.sin(2 * np.pi * (x + 2 * y) / 37.0)
    blue = 255 * y / max(height - 1, 1)
    pixels = np.stack([red, green, blue], axis=-1)
    pixels += rng.normal(0.0, 6.0, size=pixels.shape)
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, x1 = sorted(rng.integers(0, width, size=2).tolist())
        y0, y1 = sorted(rng.integers(0, height, size=2).tolist())
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), outline=colour, width=3)
    for offset in range(0, width, 11):  # one-pixel lines: sensitive to any resampling change
        draw.line((offset, 0, offset, height - 1), fill=(255, 255, 255), width=1)
    return np.asarray(image)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def make_images() -> dict[str, bytes]:
    """File name -> encoded bytes. Every name says its size and what it exercises."""
    files: dict[str, bytes] = {}

    def rgb(width: int, height: int, seed: int) -> Image.Image:
        return Image.fromarray(scene(width, height, seed), "RGB")

    files["landscape_300x200.png"] = encode(rgb(300, 200, 1), "PNG")
    files["portrait_200x300.png"] = encode(rgb(200, 300, 2), "PNG")
    files["square_224x224.png"] = encode(rgb(224, 224, 3), "PNG")  # no resize at all
    files["crop_227x224.png"] = encode(rgb(227, 224, 4), "PNG")  # left = round(1.5) = 2
    files["crop_224x229.png"] = encode(rgb(224, 229, 5), "PNG")  # top = round(2.5) = 2
    files["upscale_97x131.png"] = encode(rgb(97, 131, 6), "PNG")  # long = int(302.51) = 302
    files["photo_640x480.jpg"] = encode(rgb(640, 480, 7), "JPEG", quality=85)
    files["tall_150x401.jpg"] = encode(rgb(150, 401, 8), "JPEG", quality=90)
    files["gray_160x120.png"] = encode(rgb(160, 120, 9).convert("L"), "PNG")
    files["palette_130x170.gif"] = encode(rgb(130, 170, 10).quantize(64), "GIF")
    files["cmyk_100x80.jpg"] = encode(rgb(100, 80, 11).convert("CMYK"), "JPEG", quality=90)
    # Alpha: the colour under transparent pixels is black; the reference's convert("RGB")
    # shows it, our decoder shows white. Tested on purpose, not for equality.
    rgba = rgb(120, 90, 12).convert("RGBA")
    alpha = np.full((90, 120), 255, dtype=np.uint8)
    alpha[:, :40] = 0  # a transparent band
    alpha[:, 40:60] = 128  # a half-transparent band
    pixels = np.asarray(rgba).copy()
    pixels[..., 3] = alpha
    pixels[alpha == 0, :3] = 0
    files["alpha_120x90.png"] = encode(Image.fromarray(pixels, "RGBA"), "PNG")
    return files


def reference_tensor(content: bytes) -> np.ndarray:
    from torchvision import transforms  # the oracle, only in the tool environment

    transform = transforms.Compose(
        [
            transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(mean=CLIP_MEAN, std=CLIP_STD),
        ]
    )
    image = Image.open(io.BytesIO(content)).convert("RGB")
    return transform(image).numpy().astype(np.float32)


def load_reference_tokenizer(ref: Path) -> object:
    """The reference SimpleTokenizer, loaded from its file with stand-ins for unused imports."""
    import torch.nn as nn

    def stub(name: str, **attributes: object) -> None:
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module

    class PathManager:
        @staticmethod
        def open(path: str, mode: str = "r"):  # noqa: ANN205 - a stand-in
            return open(path, mode)

    stub("iopath")
    stub("iopath.common")
    stub("iopath.common.file_io", g_pathmgr=PathManager())
    stub("timm")
    stub("timm.layers", trunc_normal_=lambda tensor, **_: tensor)
    stub("imagebind")
    stub("imagebind.models")
    stub("imagebind.models.helpers", VerboseNNModule=nn.Module, cast_if_src_dtype=None)
    path = ref / "models" / "multimodal_preprocessors.py"
    spec = importlib.util.spec_from_file_location("reference_preprocessors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimpleTokenizer(bpe_path=str(ref / "bpe" / "bpe_simple_vocab_16e6.txt.gz"))


LONG_TEXT = (
    "The quick brown fox jumps over the lazy dog while a choir of seventeen well-trained "
    "parrots recites the complete works of an obscure nineteenth-century poet, pausing only "
    "to admire the sunset over the harbour, where fishing boats painted in every colour "
    "imaginable bob gently on the evening tide and gulls argue loudly about the day's catch. "
    "Later, under a sky full of stars, the parrots fall silent one by one, the fox curls up "
    "beside the sleeping dog, and the whole town dreams of tomorrow's market."
)

TEXTS: list[tuple[str, str]] = [
    ("short", "a photo of a dog"),
    ("upper_case", "A PHOTO OF A DOG!"),
    ("long", LONG_TEXT),
    ("exactly_75_tokens", " ".join(["a"] * 75)),
    ("exactly_76_tokens", " ".join(["a"] * 76)),
    ("long_single_word", "supercalifragilisticexpialidocious" * 12),
    ("accents", "Café naïve résumé, déjà vu à Zürich"),
    ("cjk", "東京の夜景 and 北京烤鸭, 서울의 밤"),
    ("arabic_hebrew", "مرحبا بالعالم שלום עולם"),
    ("emoji", "a dog 🐶 on fire 🔥 with family 👨‍👩‍👧"),
    ("html_entities", "fish &amp; chips &lt;b&gt;bold&lt;/b&gt; &#39;quoted&#39; &eacute;"),
    ("html_double_escaped", "rock &amp;amp; roll &amp;lt;3"),
    ("mojibake", "cafÃ© â€œquotedâ€\x9d donâ€™t"),
    ("whitespace_runs", "  many\t\tspaces \n\n and\r\nnewlines   \u00a0 nbsp\u2003em  "),
    ("control_separators", "\x1cfile\x1d group\x1e record\x1f unit"),
    ("empty", ""),
    ("only_spaces", "   \t\n "),
    ("contractions", "don't it's we're they've I'm you'll he'd"),
    ("numbers", "12345 3.14159 1,000,000 2nd 10km"),
    ("punctuation", "!!!???... --- ((())) @#$%^&*"),
    ("special_token_text", "hello <|endoftext|> world <|startoftext|>"),
    ("combining_marks", "e\u0301 n\u0303 a\u030a"),
    ("zero_width", "zero\u200bwidth\u200djoiner"),
    ("url_and_email", "see https://example.com/a?b=c&d=e or mail x@y.org"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=Path, default=ROOT / ".tools" / "ref" / "imagebind")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    args = parser.parse_args()

    import PIL
    import torch
    import torchvision

    images_dir = args.out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    files = make_images()
    tensors: dict[str, np.ndarray] = {}
    manifest: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "made_by": "tools/preprocess_fixtures.py",
        "reference": "torchvision Resize(224, BICUBIC), CenterCrop(224), ToTensor(), "
        "Normalize(CLIP) on PIL.Image.open(f).convert('RGB') (imagebind/data.py)",
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "pillow": PIL.__version__,
            "numpy": np.__version__,
        },
        "images": {},
    }
    for file_name, content in files.items():
        (images_dir / file_name).write_bytes(content)
        tensors[file_name] = reference_tensor(content)
        with Image.open(io.BytesIO(content)) as image:
            mode, size = image.mode, image.size
        manifest["images"][file_name] = {  # type: ignore[index]
            "sha256": hashlib.sha256(content).hexdigest(),
            "mode": mode,
            "size": list(size),
        }
    np.savez_compressed(args.out / "image_reference.npz", **tensors)
    (args.out / "images.json").write_text(json.dumps(manifest, indent=2) + "\n")

    tokenizer = load_reference_tokenizer(args.ref)
    cases = []
    for case, text in TEXTS:
        ids = tokenizer([text, ""])[0]  # a batch of two keeps the (N, 77) shape
        cases.append({"case": case, "text": text, "ids": [int(i) for i in ids.tolist()]})
    tokens = {
        "format_version": FORMAT_VERSION,
        "made_by": "tools/preprocess_fixtures.py",
        "reference": "SimpleTokenizer, imagebind-unofficial 0.1.1 "
        "(imagebind/models/multimodal_preprocessors.py)",
        "context_length": 77,
        "versions": {"ftfy": _version("ftfy"), "regex": _version("regex")},
        "cases": cases,
    }
    (args.out / "text_tokens.json").write_text(
        json.dumps(tokens, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {len(files)} images, {len(cases)} texts to {args.out} ({total:,} bytes)")
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    raise SystemExit(main())
