"""Tiny data files for the CLI tests, written into a temporary directory."""

from __future__ import annotations

import csv
import datetime
import json
import math
import random

from rnnkit.cli.main import main

FAST = ["--epochs", "1", "--hidden", "8", "--batch-size", "16", "--quiet"]


def run_cli(*argv) -> int:
    return main([str(a) for a in argv])


def text_csv(path, n=60, seed=0):
    r = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for _ in range(n):
            label = r.choice(["pos", "neg"])
            words = ["good", "great", "fine"] if label == "pos" else ["bad", "awful", "poor"]
            writer.writerow([" ".join(r.choice(words + ["the", "film"]) for _ in range(5)), label])
    return path


def series_csv(path, n=120):
    with open(path, "w", encoding="utf-8") as f:
        f.write("month,value\n")
        for t in range(n):
            f.write(f"{t},{10 + 3 * math.sin(2 * math.pi * t / 12) + 0.05 * t:.4f}\n")
    return path


def pairs_tsv(path, n=80, seed=0):
    r = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            d = datetime.date(2000, 1, 1) + datetime.timedelta(days=r.randrange(9000))
            f.write(f"{d.strftime('%d %b %Y')}\t{d.isoformat()}\n")
    return path


TAGS = {"the": "DET", "a": "DET", "dog": "N", "cat": "N", "runs": "V", "eats": "V", "big": "ADJ", "red": "ADJ"}


def conll(path, n=40, seed=0):
    r = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            for _ in range(r.randint(3, 6)):
                word = r.choice(sorted(TAGS))
                f.write(f"{word} {TAGS[word]}\n")
            f.write("\n")
    return path


def text_file(path, repeat=30):
    line = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n"
    path.write_text(line * repeat, encoding="utf-8")
    return path


def read_metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())["test"]
