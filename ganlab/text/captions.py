"""Captions for the built-in sets, and the held-out prompts that test generalisation.

    captions_for("fashion-mnist", label=7, rng)     # e.g. "a photo of a sneaker"
    HELD_OUT["fashion-mnist"][7]                    # "running footwear for jogging": no training caption's words
    HELD_OUT_PAIRS                                  # shape-colour pairs no training image shows

Training captions come from a few templates and a few names per class. The
held-out prompts name each class in words that never appear in any training
caption of its set (a test checks it; MNIST's prompts keep the digit itself),
so a model that gets them right learned the meaning from the text encoder,
not by matching strings.
"""
from __future__ import annotations

import random
from typing import Dict, List

# Words per Fashion-MNIST class; the first is the plain name.
FASHION_NAMES: List[List[str]] = [
    ["t-shirt", "short-sleeved top", "top"],
    ["pair of trousers", "trousers", "long pants"],
    ["pullover", "sweater", "long-sleeved pullover"],
    ["dress", "frock", "summer dress"],
    ["coat", "overcoat", "long coat"],
    ["sandal", "strappy sandal", "open shoe"],
    ["shirt", "button-up shirt", "collared shirt"],
    ["sneaker", "trainer shoe", "sports shoe"],
    ["bag", "handbag", "purse"],
    ["ankle boot", "short boot", "heeled boot"],
]
FASHION_TEMPLATES = ["a {}", "a photo of a {}", "a picture of a {}", "a grey image of a {}",
                     "a black and white photo of a {}", "an item of clothing: a {}", "a {} on a black background"]

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGIT_TEMPLATES = ["a handwritten {word}", "the number {d}", "the digit {word}", "a {d} written by hand",
                   "a handwritten digit {d}", "the number {word}", "a scribbled {word}"]

HELD_OUT: Dict[str, List[str]] = {
    "fashion-mnist": ["a casual tee", "blue denim", "a cosy knitted jumper", "an evening gown",
                      "a warm winter parka", "flip flops for the beach", "a formal blouse",
                      "running footwear for jogging", "a tote", "leather booties"],
    "mnist": [f"the numeral {d} in pen" for d in range(10)],
}

# Shape-colour combinations kept out of the text GAN's (and the embedder's) training data.
HELD_OUT_PAIRS = [("triangle", "green"), ("square", "blue"), ("circle", "yellow")]


def fashion_caption(label: int, rng: random.Random) -> str:
    return _article(rng.choice(FASHION_TEMPLATES).format(rng.choice(FASHION_NAMES[label])))


def digit_caption(label: int, rng: random.Random) -> str:
    return rng.choice(DIGIT_TEMPLATES).format(d=label, word=DIGIT_WORDS[label])


def all_fashion_captions(label: int) -> List[str]:
    return sorted({_article(t.format(n)) for t in FASHION_TEMPLATES for n in FASHION_NAMES[label]})


def all_digit_captions(label: int) -> List[str]:
    return sorted({t.format(d=label, word=DIGIT_WORDS[label]) for t in DIGIT_TEMPLATES})


def class_prompts(domain: str) -> List[str]:
    """One plain prompt per class, for zero-shot classification ("a photo of a sneaker", "the digit seven")."""
    if domain == "fashion-mnist":
        return [_article(f"a photo of a {names[0]}") for names in FASHION_NAMES]
    if domain == "mnist":
        return [f"the digit {w}" for w in DIGIT_WORDS]
    raise ValueError(domain)


PLURALS = ("trousers", "long pants")


def _article(text: str) -> str:
    """'a item' -> 'an item', 'a overcoat' -> 'an overcoat', 'a trousers' -> 'trousers' (templates say 'a')."""
    for p in PLURALS:
        text = text.replace(f"a {p}", p)
    words = text.split(" ")
    for i in range(len(words) - 1):
        if words[i] == "a" and words[i + 1][:1] in "aeiou" and not words[i + 1].startswith("one"):
            words[i] = "an"
        elif words[i] == "an" and words[i + 1][:1] not in "aeiou":
            words[i] = "a"
    return " ".join(words)
