"""Hold-out groups: training images that a seeded hold-out must keep on one side together.

Why: frames of one camera track, or of one drive, are near-copies of each other. A hold-out drawn
image by image puts some frames of a track in training and the rest in validation, which then
measures how well the network remembers the track, not how it does on a new one (a 43-class
traffic-sign folder: 99.54 % validation, 95.20 % on its separate test folder), and the best epoch
is picked on that number. A rule (`--holdout_groups`) names every training image's group from its
path inside its class folder, so the split is still decided on file lists, before any image is
decoded (`pipeline.split_indices` moves whole groups):

* `folder`: the sub-folder inside the class folder (`train/stop/track07/f3.png` -> `track07`);
* a regular expression: its first capture group, searched in the file name
  (`^(\\d+)_` groups `00012_00003.png` with every other frame of track `00012`).

A group never spans classes (track numbers restart in every class folder). A file the rule does
not match (a file directly in the class folder, a name without the pattern) is a group of its own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import PurePath

import numpy as np

NO_RULE = "none"
FOLDER_RULE = "folder"
EXAMPLE_PATTERN = r"^(\d+)_"


@dataclasses.dataclass(frozen=True)
class GroupRule:
    """A parsed `--holdout_groups`: the folder rule (`pattern` None) or a regular expression."""

    text: str
    pattern: re.Pattern | None = None

    def key(self, relative: str) -> str | None:
        """The group of the file at `relative` (its path inside its class folder); None: the
        rule does not match it."""
        parts = PurePath(relative).parts
        if self.pattern is None:
            return parts[0] if len(parts) > 1 else None
        match = self.pattern.search(parts[-1])
        return None if match is None else match.group(1)


def parse_rule(text: str | None) -> GroupRule | None:
    """`--holdout_groups` as a rule; None for no rule (None or 'none'). A ValueError, one line,
    for a pattern that does not compile or captures nothing."""
    if text is None or text == NO_RULE:
        return None
    if text == FOLDER_RULE:
        return GroupRule(text)
    try:
        pattern = re.compile(text)
    except re.error as err:
        raise ValueError(
            f"--holdout_groups='{text}' is not a regular expression ({err}); give 'folder' or a "
            f"pattern such as '{EXAMPLE_PATTERN}'"
        ) from None
    if pattern.groups < 1:
        raise ValueError(
            f"--holdout_groups='{text}' has no capture group: put the part of the file name "
            f"that names the group in parentheses, e.g. '{EXAMPLE_PATTERN}'"
        )
    return GroupRule(text, pattern)


@dataclasses.dataclass(frozen=True)
class Grouping:
    """The group number of every example (0..count-1), how many groups, how many examples
    matched no group (each then a group of its own) and the largest group's size."""

    ids: np.ndarray
    count: int
    unmatched: int
    largest: int

    @property
    def binds(self) -> bool:
        """Whether any two examples share a group (else the rule changes no hold-out)."""
        return self.largest > 1

    def describe(self, rule: GroupRule) -> str:
        """One line for the log."""
        if not self.binds:
            return (
                f"data: --holdout_groups={rule.text}: no two of the {len(self.ids):,} training "
                f"images share a group ({self.unmatched:,} match no group), so every hold-out is "
                "drawn image by image"
            )
        line = (
            f"data: --holdout_groups={rule.text}: {len(self.ids):,} training images in "
            f"{self.count:,} groups (largest {self.largest:,}) kept whole on one side of every "
            "hold-out"
        )
        if self.unmatched:
            line += f"; {self.unmatched:,} images match no group and are held out one by one"
        return line


def group_examples(rule: GroupRule, relative: Sequence[str], labels: np.ndarray) -> Grouping:
    """Group examples by `rule` from their paths inside their class folders and their labels."""
    numbers: dict[tuple, int] = {}
    ids = np.empty(len(relative), np.int64)
    unmatched = 0
    for i, (path, label) in enumerate(zip(relative, labels, strict=True)):
        key = rule.key(str(path))
        unmatched += key is None
        group = (int(label), key) if key is not None else (None, i)  # no match: alone
        ids[i] = numbers.setdefault(group, len(numbers))
    largest = int(np.bincount(ids).max()) if len(ids) else 0
    return Grouping(ids=ids, count=len(numbers), unmatched=unmatched, largest=largest)
