"""The CLIP tokenizer gives the reference tokenizer's ids, token for token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from binding.errors import InputError
from binding.preprocess.text import (
    CONTEXT_LENGTH,
    EOT_TOKEN,
    SOT_TOKEN,
    VOCAB_SIZE,
    clean_text,
    default_tokenizer,
    tokenize,
)

FIXTURE = json.loads(
    (
        Path(__file__).resolve().parents[1] / "fixtures" / "preprocess" / "text_tokens.json"
    ).read_text(encoding="utf-8")
)
CASES = {case["case"]: case for case in FIXTURE["cases"]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ids_equal_reference_tokenizer(case: str) -> None:
    expected = CASES[case]["ids"]
    assert tokenize([CASES[case]["text"]])[0].tolist() == expected


def test_batch_equals_reference_in_one_call() -> None:
    texts = [case["text"] for case in FIXTURE["cases"]]
    expected = torch.tensor([case["ids"] for case in FIXTURE["cases"]])
    assert torch.equal(tokenize(texts), expected)


def test_layout_sot_tokens_eot_padding() -> None:
    ids = tokenize(["a photo of a dog"])
    assert ids.shape == (1, CONTEXT_LENGTH) and ids.dtype == torch.long
    row = ids[0].tolist()
    end = row.index(EOT_TOKEN)
    assert row[0] == SOT_TOKEN and end == 6  # SOT + 5 words + EOT
    assert all(token == 0 for token in row[end + 1 :])


def test_long_text_keeps_eot_last() -> None:
    row = tokenize([CASES["long"]["text"]])[0]
    assert row[-1].item() == EOT_TOKEN and (row != 0).all()
    assert int(row.argmax()) == CONTEXT_LENGTH - 1  # the text head pools at argmax = EOT
    exactly = tokenize([CASES["exactly_75_tokens"]["text"]])[0]
    one_more = tokenize([CASES["exactly_76_tokens"]["text"]])[0]
    assert torch.equal(exactly, one_more)  # 75 content tokens fit; the 76th is cut


def test_empty_text_is_sot_eot() -> None:
    assert tokenize([""])[0, :3].tolist() == [SOT_TOKEN, EOT_TOKEN, 0]
    assert torch.equal(tokenize(["  \n\t "]), tokenize([""]))


def test_single_string_and_empty_batch() -> None:
    assert torch.equal(tokenize("a dog"), tokenize(["a dog"]))
    assert tokenize([]).shape == (0, CONTEXT_LENGTH)


def test_non_str_items_are_input_errors_naming_their_position() -> None:
    with pytest.raises(InputError, match=r"text\[1\]: expected str, got int"):
        tokenize(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(InputError, match="got bytes"):
        tokenize([b"bytes"])  # type: ignore[list-item]


def test_clean_text_steps() -> None:
    assert clean_text("  Fish &amp;amp; CHIPS \n\n ") == "fish & chips"
    assert clean_text("cafÃ©") == "café"  # ftfy repairs mojibake


def test_vocabulary_and_decode() -> None:
    tokenizer = default_tokenizer()
    assert len(tokenizer.pieces) == VOCAB_SIZE
    assert tokenizer.ids["<|startoftext|>"] == SOT_TOKEN
    assert tokenizer.ids["<|endoftext|>"] == EOT_TOKEN
    ids = tokenize(["Café 東京 🐶 with  friends"])[0].tolist()
    assert tokenizer.decode(ids) == "café 東京 🐶 with friends"


def test_huge_text_is_cut_quickly() -> None:
    ids = tokenize(["word " * 200_000])[0]
    assert ids[-1].item() == EOT_TOKEN
