"""Text preprocessing: CLIP's byte-level BPE tokenizer, as ImageBind's text tower expects.

Our own implementation of the algorithm, checked token-for-token against the reference
`SimpleTokenizer` (see tests/fixtures/preprocess/text_tokens.json). Steps for each text:
ftfy repair, HTML unescape (twice, as CLIP), whitespace runs to one space, lower-case; split
into words, numbers and punctuation runs; each piece as UTF-8 bytes, merged by the BPE ranks;
then `[SOT] + tokens + [EOT]`, cut to 77 with EOT kept last, zero-padded.

Behaviour worth knowing (all as the reference does):
- An empty or all-whitespace text is allowed and gives `[SOT, EOT, 0, ...]`.
- The literal strings `<|startoftext|>` and `<|endoftext|>` in a text become the special
  tokens, not their characters.
"""

from __future__ import annotations

import functools
import gzip
import html
import importlib.resources
from collections.abc import Iterator, Sequence

import ftfy
import regex
import torch

from binding.errors import ConfigurationError, InputError
from binding.models.registry import PREPROCESS

# Special tokens and context of CLIP's text encoder (ImageBind text preprocessor, vocab 49408)
SOT_TOKEN = 49406
EOT_TOKEN = 49407
CONTEXT_LENGTH = PREPROCESS.context_length
VOCAB_SIZE = 49408
# CLIP uses the first 49152 - 256 - 2 merges of the file (512 byte symbols + merges + 2 = 49408)
MERGE_COUNT = 49152 - 256 - 2
VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"

_SOT_TEXT = "<|startoftext|>"
_EOT_TEXT = "<|endoftext|>"
_WORD_END = "</w>"
# CLIP's pre-tokenisation: special tokens, English contractions, letter runs, single digits,
# runs of anything else that is not a space.
_PIECES = regex.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
    regex.IGNORECASE,
)
_SPACES = regex.compile(r"\s+")
_WORD_CACHE_SIZE = 100_000


def _byte_alphabet() -> dict[int, str]:
    """Byte -> the printable character standing for it; dict order is vocabulary order.

    Bytes that are visible Latin-1 characters stand for themselves; the 68 others (controls,
    space, soft hyphen...) get characters from U+0100 on, in byte order.
    """
    visible = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    hidden = sorted(set(range(256)) - set(visible))
    alphabet = {byte: chr(byte) for byte in visible}
    alphabet.update({byte: chr(0x100 + index) for index, byte in enumerate(hidden)})
    return alphabet


def clean_text(text: str) -> str:
    """The normalisation CLIP applies before tokenising: ftfy, HTML, whitespace, lower-case."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return _SPACES.sub(" ", text).strip().lower()


class BpeTokenizer:
    """CLIP's byte-level BPE over a merges file; `encode` one text, `decode` ids back."""

    def __init__(self, merges: Sequence[tuple[str, str]]) -> None:
        self._alphabet = _byte_alphabet()
        symbols = list(self._alphabet.values())
        vocabulary = symbols + [symbol + _WORD_END for symbol in symbols]
        vocabulary += [first + second for first, second in merges]
        vocabulary += [_SOT_TEXT, _EOT_TEXT]
        self.ids: dict[str, int] = {piece: index for index, piece in enumerate(vocabulary)}
        self.pieces: list[str] = vocabulary
        self._ranks = {pair: rank for rank, pair in enumerate(merges)}
        self._bytes_of = {char: byte for byte, char in self._alphabet.items()}
        self._words: dict[str, tuple[int, ...]] = {}

    @classmethod
    def from_file(cls, path: str) -> BpeTokenizer:
        """Load a gzipped CLIP merges file (first line a version header)."""
        with gzip.open(path, "rt", encoding="utf-8") as file:
            return cls(_parse_merges(file.read()))

    def encode(self, text: str, *, max_tokens: int | None = None) -> list[int]:
        """Token ids of `text` (no SOT/EOT); stops once `max_tokens` ids are produced."""
        ids: list[int] = []
        for piece in self._pieces(clean_text(text)):
            ids.extend(self._word_ids(piece))
            if max_tokens is not None and len(ids) >= max_tokens:
                return ids[:max_tokens]
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids up to the first EOT (so padding is ignored); SOT is skipped.

        Word ends become spaces, so contractions come back split ("don 't"), as in CLIP.
        """
        pieces = []
        for token in ids:
            if token == EOT_TOKEN:
                break
            if 0 <= token < SOT_TOKEN:
                pieces.append(self.pieces[token])
        text = "".join(pieces)
        raw = bytes(self._bytes_of[char] for char in text)
        return raw.decode("utf-8", errors="replace").replace(_WORD_END, " ").strip()

    def _pieces(self, text: str) -> Iterator[str]:
        for match in _PIECES.finditer(text):
            yield match.group()

    def _word_ids(self, piece: str) -> tuple[int, ...]:
        cached = self._words.get(piece)
        if cached is not None:
            return cached
        if piece in (_SOT_TEXT, _EOT_TEXT):
            ids: tuple[int, ...] = (self.ids[piece],)
        else:
            word = "".join(self._alphabet[byte] for byte in piece.encode("utf-8"))
            ids = tuple(self.ids[symbol] for symbol in self._merge(word))
        if len(self._words) >= _WORD_CACHE_SIZE:
            self._words.clear()
        self._words[piece] = ids
        return ids

    def _merge(self, word: str) -> list[str]:
        """Apply the merges to one word, lowest rank first, until none applies."""
        symbols = [*word[:-1], word[-1] + _WORD_END]
        while len(symbols) > 1:
            pairs = set(zip(symbols, symbols[1:], strict=False))
            best = min(pairs, key=lambda pair: self._ranks.get(pair, len(self._ranks)))
            if best not in self._ranks:
                break
            merged: list[str] = []
            index = 0
            while index < len(symbols):
                if (
                    index + 1 < len(symbols)
                    and symbols[index] == best[0]
                    and symbols[index + 1] == best[1]
                ):
                    merged.append(best[0] + best[1])
                    index += 2
                else:
                    merged.append(symbols[index])
                    index += 1
            symbols = merged
        return symbols


def _parse_merges(content: str) -> list[tuple[str, str]]:
    lines = content.split("\n")[1 : MERGE_COUNT + 1]
    merges = []
    for line in lines:
        first, second = line.split()
        merges.append((first, second))
    if len(merges) != MERGE_COUNT:
        raise ConfigurationError(
            f"{VOCAB_FILE} has {len(merges)} merges, expected {MERGE_COUNT}; reinstall binding"
        )
    return merges


@functools.cache
def default_tokenizer() -> BpeTokenizer:
    """The CLIP tokenizer over the packaged vocabulary, loaded once per process."""
    resource = importlib.resources.files("binding.preprocess").joinpath(VOCAB_FILE)
    try:
        with importlib.resources.as_file(resource) as path:
            return BpeTokenizer.from_file(str(path))
    except FileNotFoundError:
        raise ConfigurationError(
            f"the tokenizer vocabulary {VOCAB_FILE} is missing from binding/preprocess; "
            "reinstall binding"
        ) from None


def tokenize(texts: Sequence[str] | str, *, context_length: int = CONTEXT_LENGTH) -> torch.Tensor:
    """Texts -> token ids, (N, context_length) int64, as ImageBind's text tower expects.

    Each row is `SOT, tokens..., EOT, 0, 0, ...`; a text longer than `context_length - 2`
    tokens is cut and its last position holds EOT (the text head pools at EOT). A single
    `str` is one text. Non-str items raise `InputError` naming their position.
    """
    if context_length < 2:
        raise ValueError(f"context_length must be at least 2, got {context_length}")
    items = [texts] if isinstance(texts, str) else list(texts)
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise InputError(f"text[{index}]", f"expected str, got {type(text).__name__}")
    tokenizer = default_tokenizer()
    result = torch.zeros(len(items), context_length, dtype=torch.long)  # (N, 77)
    for row, text in enumerate(items):
        ids = [SOT_TOKEN, *tokenizer.encode(text, max_tokens=context_length - 2), EOT_TOKEN]
        result[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return result


#: Tokens one passage of a text file may hold: the context less the SOT and EOT tokens.
PASSAGE_TOKENS = CONTEXT_LENGTH - 2
_WORD_OR_PARAGRAPH = regex.compile(r"\S+|\n[^\S\n]*\n\s*")


def split_passages(text: str, max_tokens: int = PASSAGE_TOKENS) -> list[tuple[int, int]]:
    """Character spans (start, end) of `text` cut into passages that fit the text tower.

    Passages end at word boundaries, hold at most `max_tokens` CLIP tokens (counted word by
    word) and never run across a blank line (a paragraph break). A single word longer than
    `max_tokens` is a passage of its own (truncated when embedded). Empty for blank text.
    """
    tokenizer = default_tokenizer()
    spans: list[tuple[int, int]] = []
    start, end, count = -1, -1, 0
    for match in _WORD_OR_PARAGRAPH.finditer(text):
        if not match.group().strip():  # a blank line: the passage ends here
            if start >= 0:
                spans.append((start, end))
            start, count = -1, 0
            continue
        tokens = len(tokenizer.encode(match.group()))
        if start >= 0 and count + tokens > max_tokens:
            spans.append((start, end))
            start, count = -1, 0
        if start < 0:
            start = match.start()
        end, count = match.end(), count + tokens
    if start >= 0:
        spans.append((start, end))
    return spans
