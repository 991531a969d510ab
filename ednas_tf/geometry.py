"""What a block's (or a plain layer's) cost depends on: its geometry, and nothing else.

`BlockConfig` and `ConvConfig` are the keys every cost model prices (`ednas_tf.cost`) and every
lookup table is keyed by; the layers (`ednas_tf.layers.blocks`) build the same shapes from them, so
`hidden_channels` is defined once for both.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class BlockConfig:
    """Everything that decides one inverted-residual block's cost."""

    in_h: int
    in_w: int
    c_in: int
    c_out: int
    stride: int
    kernel: tuple[int, ...]
    expansion: float
    residual: bool

    @property
    def out_hw(self) -> tuple[int, int]:
        return -(-self.in_h // self.stride), -(-self.in_w // self.stride)

    @property
    def hidden(self) -> int:
        return hidden_channels(self.c_in, self.expansion)

    @property
    def has_expand(self) -> bool:
        return self.expansion > 1

    @property
    def has_residual_add(self) -> bool:
        return self.residual and self.stride == 1 and self.c_in == self.c_out

    @property
    def key(self) -> str:
        """Readable, unique key (LUT rows are keyed by it)."""
        kernel = "+".join(str(k) for k in self.kernel)
        add = "_add" if self.has_residual_add else ""
        return (
            f"ir_{self.in_h}x{self.in_w}_i{self.c_in}_o{self.c_out}_k{kernel}"
            f"_e{self.expansion:g}_s{self.stride}{add}"
        )


@dataclasses.dataclass(frozen=True)
class ConvConfig:
    """A plain conv layer (stem, head) or the classifier (1x1 conv after global pooling)."""

    in_h: int
    in_w: int
    c_in: int
    c_out: int
    kernel: int
    stride: int
    kind: str = "conv"  # "conv" or "classifier" (global average pool + 1x1 conv)

    @property
    def out_hw(self) -> tuple[int, int]:
        if self.kind == "classifier":
            return 1, 1
        return -(-self.in_h // self.stride), -(-self.in_w // self.stride)

    @property
    def key(self) -> str:
        return (
            f"{self.kind}_{self.in_h}x{self.in_w}_i{self.c_in}_o{self.c_out}"
            f"_k{self.kernel}_s{self.stride}"
        )


def hidden_channels(c_in: int, expansion: float) -> int:
    """Channels after the expand conv; one definition shared by layers and cost models."""
    return max(1, int(round(c_in * expansion)))
