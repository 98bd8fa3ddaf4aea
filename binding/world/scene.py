"""Scenes of the synthetic world and their captions (see docs/mini.md, "The synthetic world").

A scene is one to three objects of one colour and one shape, small or large, at positions on
a background, photographed by someone who is still, walking, running, turning or shaking.
Its class name (`Scene.label`) is "<colour> <shape>": 6 x 3 = 18 classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow", "white", "black")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
ACTIVITIES: tuple[str, ...] = ("still", "walking", "running", "turning", "shaking")
SIZES: tuple[str, ...] = ("small", "large")
#: Plain backgrounds (a grey or a pale tint) and textured ones.
PLAIN_BACKGROUNDS: tuple[str, ...] = ("light grey", "grey", "dark grey", "beige", "pale blue")
TEXTURED_BACKGROUNDS: tuple[str, ...] = ("noisy", "striped", "checkered")
BACKGROUNDS: tuple[str, ...] = PLAIN_BACKGROUNDS + TEXTURED_BACKGROUNDS

#: Pixel colour of each object colour (RGB).
COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (35, 165, 60),
    "blue": (35, 70, 215),
    "yellow": (240, 215, 35),
    "white": (248, 248, 248),
    "black": (18, 18, 18),
}

#: Side of the square picture (and of depth and thermal maps), in pixels.
FRAME = 224
#: The frame is cut into GRID x GRID cells; each object sits in its own cell (no overlap).
GRID = 3


@dataclass(frozen=True)
class Scene:
    """One scene: what is in it, where, and how the camera moved (all modalities derive from it).

    `positions` holds one (x, y) object centre per object, in pixels of a FRAME x FRAME
    picture. `seed` drives every random detail of every rendering (noise, phase, jitter),
    so a scene renders the same way each time.
    """

    colour: str
    shape: str
    count: int
    size: str
    background: str
    activity: str
    seed: int
    positions: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("colour", self.colour, COLOURS),
            ("shape", self.shape, SHAPES),
            ("size", self.size, SIZES),
            ("background", self.background, BACKGROUNDS),
            ("activity", self.activity, ACTIVITIES),
        ):
            if value not in allowed:
                raise ValueError(f"scene {name} {value!r} is not one of {', '.join(allowed)}")
        if not 1 <= self.count <= 3:
            raise ValueError(f"scene count {self.count} is not 1, 2 or 3")
        if len(self.positions) != self.count:
            raise ValueError(f"{len(self.positions)} positions for {self.count} objects")

    @property
    def label(self) -> str:
        """The class name: "<colour> <shape>", e.g. "red circle"."""
        return f"{self.colour} {self.shape}"

    @property
    def radius(self) -> float:
        """Half the side of each object's bounding box in the default picture, in pixels."""
        return OBJECT_RADIUS[self.size]

    def rng(self, purpose: int) -> np.random.Generator:
        """A generator for one rendering (`purpose` tells renderings apart), from `seed`."""
        return np.random.default_rng([self.seed, purpose])


#: Object half-size by size, in pixels of the default picture (alt style uses others).
OBJECT_RADIUS: dict[str, float] = {"small": 17.0, "large": 31.0}


def sample_scenes(n: int, seed: int) -> list[Scene]:
    """`n` scenes drawn from `seed`: the same arguments give the same scenes.

    Colour, shape, count, size, background and activity are drawn uniformly and
    independently; positions are distinct cells of a 3 x 3 grid with a jitter.
    """
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    rng = np.random.default_rng([seed, 0x5CE7E])
    cell = FRAME / GRID
    scenes = []
    for _ in range(n):
        colour = COLOURS[int(rng.integers(len(COLOURS)))]
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        count = int(rng.integers(1, 4))
        size = SIZES[int(rng.integers(len(SIZES)))]
        background = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
        activity = ACTIVITIES[int(rng.integers(len(ACTIVITIES)))]
        cells = rng.choice(GRID * GRID, size=count, replace=False)
        slack = cell / 2 - OBJECT_RADIUS[size] - 2  # room to move inside the cell
        positions = tuple(
            (
                round(float((c % GRID + 0.5) * cell + rng.uniform(-slack, slack)), 2),
                round(float((c // GRID + 0.5) * cell + rng.uniform(-slack, slack)), 2),
            )
            for c in sorted(int(c) for c in cells)
        )
        scene_seed = int(rng.integers(2**31))
        scenes.append(
            Scene(colour, shape, count, size, background, activity, scene_seed, positions)
        )
    return scenes


# --- captions ------------------------------------------------------------------------------

_NUMBER_WORDS = {1: ("a", "one"), 2: ("two", "a pair of"), 3: ("three",)}
_SHAPE_WORDS = {
    "circle": (("circle", "circles"), ("disc", "discs"), ("round dot", "round dots")),
    "square": (("square", "squares"), ("box", "boxes"), ("square block", "square blocks")),
    "triangle": (("triangle", "triangles"), ("triangle shape", "triangle shapes")),
}
_SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
_COLOUR_WORDS = {
    "red": ("red",),
    "green": ("green",),
    "blue": ("blue",),
    "yellow": ("yellow",),
    "white": ("white",),
    "black": ("black",),
}
_BACKGROUND_WORDS = {
    "light grey": ("a light grey", "a pale grey"),
    "grey": ("a grey", "a gray"),
    "dark grey": ("a dark grey", "a charcoal"),
    "beige": ("a beige", "a cream"),
    "pale blue": ("a pale blue", "a light blue"),
    "noisy": ("a noisy", "a grainy"),
    "striped": ("a striped",),
    "checkered": ("a checkered", "a chequered"),
}
_PREFIXES = ("", "", "a photo of ", "a picture of ", "an image of ", "a snapshot of ")
_ACTIVITY_TAILS = {
    "still": (", taken while standing still", ", shot from a steady camera", "a sharp photo of "),
    "walking": (", taken while walking", ", photographed on a walk", "a photo taken walking: "),
    "running": (", taken while running", ", shot mid-run", "a blurry photo taken running: "),
    "turning": (", taken while turning around", ", shot while turning", "a panning shot of "),
    "shaking": (", taken with a shaking hand", ", shot with a shaky camera", "a shaky photo of "),
}


#: Share of captions that name the photographer's activity. Named this often, the activity
#: tells apart captions of the same objects, so stage 1 learns to see it in the pictures
#: (the IMU tower, bound to images only, can learn no more than the image vectors carry).
ACTIVITY_NAMED = 0.8


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """A varied English caption of `scene`, e.g. "two small blue squares on a grey background".

    Colour and shape are always named; count, size and background often; the activity in
    most captions (ACTIVITY_NAMED: "..., taken while walking", "a shaky photo of ...").
    """
    singular, plural = _SHAPE_WORDS[scene.shape][int(rng.integers(len(_SHAPE_WORDS[scene.shape])))]
    words = [_pick(rng, _COLOUR_WORDS[scene.colour]), singular if scene.count == 1 else plural]
    if rng.random() < 0.6:
        words.insert(0, _pick(rng, _SIZE_WORDS[scene.size]))
    number = _pick(rng, _NUMBER_WORDS[scene.count])
    if scene.count == 1 and number == "a" and words[0][0] in "aeiou":
        number = "an"
    phrase = f"{number} {' '.join(words)}"
    if rng.random() < 0.5:
        phrase += f" on {_pick(rng, _BACKGROUND_WORDS[scene.background])} background"
    if rng.random() < ACTIVITY_NAMED:
        tail = _pick(rng, _ACTIVITY_TAILS[scene.activity])
        return f"{tail}{phrase}" if tail.endswith((" ", ": ")) else f"{phrase}{tail}"
    return f"{_pick(rng, _PREFIXES)}{phrase}"
