"""Architecture specs: a child network as readable block strings, stored as JSON.

Block strings follow the timm/MnasNet idea and are decoded in one place:

  ir_k3+7_e6_c24_s2          inverted residual, parallel 3x3+7x7 depthwise (merged at deploy),
                             expansion 6, 24 output channels, stride 2
  ir_k5_e1_c16_s1_noskip     ... without the residual connection
  conv_k3_c16_s2             plain conv + BN + activation (stem / head)
  proj_c64_s2                1x1 conv + BN, no activation: a skipped block whose stride or width
                             changes (the identity of a NAS-Bench-Macro layer that downsamples)

`ArchSpec.from_json` validates every field and raises `ArchSpecError` naming the bad one, so a
hand-edited arch.json fails at load time, not deep inside Keras.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from ednas_tf.io_utils import atomic_write_text, json_text

ACTIVATIONS = ("relu", "relu6")
# The activation of an arch.json without the field: every network written before a space could
# choose one was ReLU6, so old files build the network they were trained as. A space's default
# is its device's (`DeviceLimits.default_activation`); arch.json files always record theirs.
LEGACY_ACTIVATION = "relu6"


class ArchSpecError(ValueError):
    """An architecture file or block string is malformed; the message names the field."""


def _format_number(value: float) -> str:
    return f"{value:g}"


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    """Plain convolution + BN + activation (stem, head)."""

    kernel: int
    channels: int
    stride: int = 1

    def encode(self) -> str:
        return f"conv_k{self.kernel}_c{self.channels}_s{self.stride}"

    @classmethod
    def decode(cls, text: str, field: str = "conv") -> "ConvSpec":
        values = _int_fields(text, field, "conv", {"k": None, "c": None, "s": 1})
        spec = cls(kernel=values["k"], channels=values["c"], stride=values["s"])
        spec.validate(field)
        return spec

    def validate(self, field: str) -> None:
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ArchSpecError(f"{field}: kernel must be an odd positive int, got {self.kernel}")
        if self.channels < 1:
            raise ArchSpecError(f"{field}: channels must be >= 1, got {self.channels}")
        if self.stride not in (1, 2):
            raise ArchSpecError(f"{field}: stride must be 1 or 2, got {self.stride}")


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual block of a child network (all decisions made)."""

    kernel: tuple[int, ...]
    expansion: float
    channels: int
    stride: int = 1
    residual: bool = True

    def encode(self) -> str:
        text = (
            f"ir_k{'+'.join(str(k) for k in self.kernel)}_e{_format_number(self.expansion)}"
            f"_c{self.channels}_s{self.stride}"
        )
        return text if self.residual else text + "_noskip"

    @classmethod
    def decode(cls, text: str, field: str = "block") -> "BlockSpec":
        parts = _split(text, field, "ir")
        noskip = parts.pop("noskip", None) is not None
        kernel_text = parts.pop("k", None)
        if kernel_text is None:
            raise ArchSpecError(f"{field}: missing kernel 'k' in {text!r}")
        try:
            kernel = tuple(sorted(int(k) for k in kernel_text.split("+")))
        except ValueError:
            raise ArchSpecError(f"{field}: bad kernel 'k{kernel_text}' in {text!r}") from None
        expansion_text = parts.pop("e", None)
        if expansion_text is None:
            raise ArchSpecError(f"{field}: missing expansion 'e' in {text!r}")
        try:
            expansion = float(expansion_text)
        except ValueError:
            raise ArchSpecError(f"{field}: bad expansion 'e{expansion_text}' in {text!r}") from None
        channels = _int_field(parts, "c", field, text)
        stride = _int_field(parts, "s", field, text, default=1)
        _check_unknown(parts, field, text)
        spec = cls(
            kernel=kernel,
            expansion=expansion,
            channels=channels,
            stride=stride,
            residual=not noskip,
        )
        spec.validate(field)
        return spec

    def validate(self, field: str) -> None:
        if not self.kernel or any(k < 1 or k % 2 == 0 for k in self.kernel):
            raise ArchSpecError(
                f"{field}: kernel sizes must be odd positive ints, got {self.kernel}"
            )
        if len(set(self.kernel)) != len(self.kernel):
            raise ArchSpecError(f"{field}: repeated kernel size in {self.kernel}")
        if not self.expansion >= 1:
            raise ArchSpecError(f"{field}: expansion must be >= 1, got {self.expansion}")
        if self.channels < 1:
            raise ArchSpecError(f"{field}: channels must be >= 1, got {self.channels}")
        if self.stride not in (1, 2):
            raise ArchSpecError(f"{field}: stride must be 1 or 2, got {self.stride}")


@dataclasses.dataclass(frozen=True)
class ProjSpec:
    """A block's identity where its shape changes: 1x1 conv (stride) + BN, linear.

    What a skipped block becomes in a child when the identity cannot pass its input through
    unchanged (stride 2 or another width); the supernet's gated skip path is the same layer."""

    channels: int
    stride: int = 1

    def encode(self) -> str:
        return f"proj_c{self.channels}_s{self.stride}"

    @classmethod
    def decode(cls, text: str, field: str = "block") -> "ProjSpec":
        values = _int_fields(text, field, "proj", {"c": None, "s": 1})
        spec = cls(channels=values["c"], stride=values["s"])
        spec.validate(field)
        return spec

    def validate(self, field: str) -> None:
        if self.channels < 1:
            raise ArchSpecError(f"{field}: channels must be >= 1, got {self.channels}")
        if self.stride not in (1, 2):
            raise ArchSpecError(f"{field}: stride must be 1 or 2, got {self.stride}")


AnyBlockSpec = BlockSpec | ProjSpec


def decode_block(text: Any, field: str = "block") -> AnyBlockSpec:
    """An `ir_...` or `proj_...` block string."""
    if isinstance(text, str) and text.startswith("proj_"):
        return ProjSpec.decode(text, field)
    return BlockSpec.decode(text, field)


_TOKEN = re.compile(r"^([a-z]+)(.*)$")


def _split(text: Any, field: str, kind: str) -> dict[str, str]:
    if not isinstance(text, str) or not text:
        raise ArchSpecError(f"{field}: expected a block string, got {text!r}")
    tokens = text.split("_")
    if tokens[0] != kind:
        raise ArchSpecError(f"{field}: expected a '{kind}_...' string, got {text!r}")
    parts: dict[str, str] = {}
    for token in tokens[1:]:
        if token == "noskip":
            parts["noskip"] = ""
            continue
        match = _TOKEN.match(token)
        if not match or not match.group(2):
            raise ArchSpecError(f"{field}: cannot parse {token!r} in {text!r}")
        key, value = match.groups()
        if key in parts:
            raise ArchSpecError(f"{field}: {key!r} given twice in {text!r}")
        parts[key] = value
    return parts


def _int_field(
    parts: dict[str, str], key: str, field: str, text: str, default: int | None = None
) -> int:
    value = parts.pop(key, None)
    if value is None:
        if default is None:
            raise ArchSpecError(f"{field}: missing '{key}' in {text!r}")
        return default
    try:
        return int(value)
    except ValueError:
        raise ArchSpecError(f"{field}: bad '{key}{value}' in {text!r}") from None


def _int_fields(
    text: str, field: str, kind: str, keys: dict[str, int | None]
) -> dict[str, int]:
    """The integer parts of a `kind_...` string (None: required, else the default)."""
    parts = _split(text, field, kind)
    values = {key: _int_field(parts, key, field, text, default) for key, default in keys.items()}
    _check_unknown(parts, field, text)
    return values


def _check_unknown(parts: dict[str, str], field: str, text: str) -> None:
    if parts:
        raise ArchSpecError(f"{field}: unknown part(s) {sorted(parts)} in {text!r}")


@dataclasses.dataclass
class ArchSpec:
    """A complete child network plus where it came from."""

    input_shape: tuple[int, int, int]
    num_classes: int
    stem: ConvSpec
    blocks: list[AnyBlockSpec]
    head: ConvSpec | None = None
    activation: str = LEGACY_ACTIVATION
    device: str = "tda2x"
    gate_probs: dict[str, Any] = dataclasses.field(default_factory=dict)
    predicted_latency_ms: float | None = None
    search: dict[str, Any] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        if len(self.input_shape) != 3 or any(int(d) < 1 for d in self.input_shape):
            raise ArchSpecError(
                f"input_shape: expected [H, W, C] > 0, got {list(self.input_shape)}"
            )
        if self.num_classes < 2:
            raise ArchSpecError(f"num_classes: must be >= 2, got {self.num_classes}")
        if self.activation not in ACTIVATIONS:
            raise ArchSpecError(
                f"activation: must be one of {ACTIVATIONS}, got {self.activation!r}"
            )
        if not self.blocks:
            raise ArchSpecError("blocks: an architecture needs at least one block")
        self.stem.validate("stem")
        if self.head is not None:
            self.head.validate("head")
        for i, block in enumerate(self.blocks):
            block.validate(f"blocks[{i}]")

    def block_strings(self) -> list[str]:
        """The blocks as their strings: how arch.json, rankings and probes name a child."""
        return [b.encode() for b in self.blocks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": [int(d) for d in self.input_shape],
            "num_classes": int(self.num_classes),
            "device": self.device,
            "activation": self.activation,
            "stem": self.stem.encode(),
            "blocks": self.block_strings(),
            "head": self.head.encode() if self.head is not None else None,
            "gate_probs": self.gate_probs,
            "predicted_latency_ms": self.predicted_latency_ms,
            "search": self.search,
        }

    def to_json(self) -> str:
        return json_text(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> "ArchSpec":
        if not isinstance(data, dict):
            raise ArchSpecError(f"arch: expected a JSON object, got {type(data).__name__}")
        for key in ("input_shape", "num_classes", "stem", "blocks"):
            if key not in data:
                raise ArchSpecError(f"{key}: required field missing")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ArchSpecError(f"{unknown[0]}: unknown field (known: {sorted(known)})")
        shape = data["input_shape"]
        if not isinstance(shape, (list, tuple)) or not all(isinstance(d, int) for d in shape):
            raise ArchSpecError(f"input_shape: expected a list of 3 ints, got {shape!r}")
        if not isinstance(data["num_classes"], int):
            raise ArchSpecError(f"num_classes: expected an int, got {data['num_classes']!r}")
        blocks = data["blocks"]
        if not isinstance(blocks, list):
            raise ArchSpecError(f"blocks: expected a list of block strings, got {blocks!r}")
        latency = data.get("predicted_latency_ms")
        if latency is not None and not isinstance(latency, (int, float)):
            raise ArchSpecError(f"predicted_latency_ms: expected a number, got {latency!r}")
        head = data.get("head")
        spec = cls(
            input_shape=tuple(shape),
            num_classes=data["num_classes"],
            stem=ConvSpec.decode(data["stem"], "stem"),
            blocks=[decode_block(b, f"blocks[{i}]") for i, b in enumerate(blocks)],
            head=ConvSpec.decode(head, "head") if head is not None else None,
            activation=data.get("activation", LEGACY_ACTIVATION),
            device=str(data.get("device", "tda2x")),
            gate_probs=dict(data.get("gate_probs") or {}),
            predicted_latency_ms=latency,
            search=dict(data.get("search") or {}),
        )
        spec.validate()
        return spec

    @classmethod
    def from_json(cls, text: str) -> "ArchSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ArchSpecError(f"arch: not valid JSON ({err})") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> "ArchSpec":
        """The arch.json at `path` (ArchSpecError naming the file when it is not one)."""
        try:
            return cls.from_json(Path(path).read_text())
        except ArchSpecError as err:
            raise ArchSpecError(f"{path}: {err}") from None

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json() + "\n")
