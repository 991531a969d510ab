"""Building blocks shared by supernet, child and deployed model.

`InvertedResidual` is MobileNetV2's block whose kernel set, expansion and skip are each either
fixed or searched:

* kernel — a `MetaKernelDepthwiseConv2D`; searched sizes are weighted by a gate, a fixed set of
  several sizes is a re-parameterizable parallel block (all weights 1);
* expansion — the expand conv is built at the widest ratio and the first `e·C` channels are kept
  by a gate-weighted 0/1 mask. The mask is applied in weight space, on the input rows of the
  projection kernel, so it costs nothing on activations;
* joint (kernel, expansion) — one gate over pairs; channel `c` then uses the kernel weights
  `P(k | c active)` and the mask `P(c active)`: exactly the marginals of the pair gate;
* skip — `y = g_block · block(x) + g_skip · x` (the block with its residual vs identity); where
  the block changes stride or width the identity is a `Projection` (1x1 conv + BN), as in
  NAS-Bench-Macro's downsampling layers: `y = g_block · block(x) + g_skip · proj(x)`;
* coupled pairs — `pairs` restricts a joint gate to some (kernel, expansion) combinations
  (NAS-Bench-Macro offers 3x3 with expansion 3 and 5x5 with expansion 6 only): the gate has one
  option per allowed pair and the other cells of the joint table are zero;
* width — the block is built at its widest output and the first `c` output channels are kept by
  a mask from its width group's gate (shared by the group: a residual needs equal widths). The
  input width gate (the previous group's) also decides how many hidden channels an expansion
  ratio gives (`e · c_in`), so the hidden mask is the expectation over both gates.

With every gate one-hot the block computes exactly the child block of the chosen options
(tests/test_blocks.py checks this).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from ednas_tf.geometry import BlockConfig, ConvConfig, hidden_channels
from ednas_tf.layers.gumbel import GumbelSoftmaxGate
from ednas_tf.layers.meta_kernel import MetaKernelDepthwiseConv2D

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-3


def activation_layer(name: str, layer_name: str | None = None) -> tf.keras.layers.Layer:
    """ReLU or ReLU6 as a standard Keras layer (TIDL maps both)."""
    if name == "relu6":
        return tf.keras.layers.ReLU(max_value=6.0, name=layer_name)
    if name == "relu":
        return tf.keras.layers.ReLU(name=layer_name)
    raise ValueError(f"unsupported activation {name!r} (relu, relu6)")


def batch_norm(name: str | None = None) -> tf.keras.layers.BatchNormalization:
    return tf.keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


class ConvBnAct(tf.keras.layers.Layer):
    """Conv2D (no bias) + BatchNorm + activation: stem and head."""

    def __init__(
        self, channels: int, kernel: int = 3, stride: int = 1, activation: str = "relu6", **kwargs
    ):
        super().__init__(**kwargs)
        self.channels, self.kernel, self.stride, self.activation = (
            channels,
            kernel,
            stride,
            activation,
        )
        self.conv = tf.keras.layers.Conv2D(
            channels,
            kernel,
            strides=stride,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            name="conv",
        )
        self.bn = batch_norm("bn")
        self.act = activation_layer(activation, "act")

    def call(self, inputs, training=None):
        return self.act(self.bn(self.conv(inputs), training=training))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            channels=self.channels,
            kernel=self.kernel,
            stride=self.stride,
            activation=self.activation,
        )
        return config


class Projection(tf.keras.layers.Layer):
    """1x1 conv (stride) + BN, no activation: the identity of a block whose shape changes.

    A child's `proj_c.._s..` block, and inside a supernet block the skip path where the identity
    cannot pass the input through (merged at deploy: BN folds into the conv)."""

    def __init__(self, channels: int, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.stride = int(channels), int(stride)
        self.conv = tf.keras.layers.Conv2D(
            self.channels,
            1,
            strides=self.stride,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            name="conv",
        )
        self.bn = batch_norm("bn")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.bn.build(tf.TensorShape([None, None, None, self.channels]))
        super().build(input_shape)

    def call(self, inputs, training=None):
        return self.bn(self.conv(inputs), training=training)

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        out_h = None if h is None else -(-h // self.stride)
        out_w = None if w is None else -(-w // self.stride)
        return tf.TensorShape([input_shape[0], out_h, out_w, self.channels])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(channels=self.channels, stride=self.stride)
        return config


class SqueezeSpatial(tf.keras.layers.Layer):
    """[N, 1, 1, C] -> [N, C] with a plain Squeeze op (Keras Reshape/Flatten emit Shape ops)."""

    def call(self, inputs):
        return tf.squeeze(inputs, axis=[1, 2])

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], input_shape[-1]])


class InvertedResidual(tf.keras.layers.Layer):
    """Inverted-residual block with optionally searched kernel set, expansion and skip.

    Args:
      channels: output channels.
      stride: 1 or 2.
      kernel_sizes: sizes held by the meta-kernel.
      search_kernel: gate over `kernel_sizes` (else all sizes are summed: a parallel kernel set).
      expansions: candidate expansion ratios (one value: fixed).
      search_skip: gated identity; where stride or width changes, a gated `Projection`.
      residual: add the input when shapes allow (MobileNetV2); "noskip" blocks switch it off.
      joint: one gate over (kernel, expansion) pairs rather than two independent gates.
      pairs: the (kernel, expansion) pairs the joint gate offers (empty: every combination);
        implies joint.
      activation: "relu" or "relu6".
      gate_mode: "soft" or "hard" Gumbel-softmax; seed: seeds this block's gates.
      channel_options: searched output widths (`channels` must be the largest); the call then
        takes `width_out`, the width group's gate value.
      in_channel_options: the widths the input can have (its largest is the input's channels);
        the call then takes `width_in`, the previous group's gate value.
      width_group, in_width_group: names of those groups (for the latency tables).
    """

    def __init__(
        self,
        channels: int,
        stride: int = 1,
        kernel_sizes: Sequence[int] = (3,),
        search_kernel: bool = False,
        expansions: Sequence[float] = (6.0,),
        search_skip: bool = False,
        residual: bool = True,
        joint: bool = False,
        pairs: Sequence[tuple[int, float]] = (),
        activation: str = "relu6",
        gate_mode: str = "soft",
        seed: int | None = None,
        channel_options: Sequence[int] = (),
        in_channel_options: Sequence[int] = (),
        width_group: str = "",
        in_width_group: str = "",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.channel_options = tuple(int(c) for c in channel_options) or (self.channels,)
        self.in_channel_options = tuple(int(c) for c in in_channel_options)
        self.width_group = width_group if len(self.channel_options) > 1 else ""
        self.in_width_group = in_width_group if len(self.in_channel_options) > 1 else ""
        if max(self.channel_options) != self.channels:
            raise ValueError(
                f"{self.name}: channels {self.channels} must be the largest of "
                f"{self.channel_options}"
            )
        self.stride = int(stride)
        self.kernel_sizes = tuple(sorted(int(k) for k in kernel_sizes))
        self.search_kernel = bool(search_kernel) and len(self.kernel_sizes) > 1
        self.expansions = tuple(sorted(float(e) for e in expansions))
        self.search_expansion = len(self.expansions) > 1
        self.search_skip = bool(search_skip)
        self.residual = bool(residual)
        self.pairs = tuple((int(k), float(e)) for k, e in pairs)
        self.joint = (bool(joint) or bool(self.pairs)) and (
            self.search_kernel or self.search_expansion
        )
        for k, e in self.pairs:
            if k not in self.kernel_sizes or e not in self.expansions:
                raise ValueError(
                    f"{self.name}: pair (k{k}, e{e:g}) is not among kernels {self.kernel_sizes} "
                    f"and expansions {self.expansions}"
                )
        self.activation = activation
        self.gate_mode = gate_mode
        self.seed = seed
        if self.search_expansion and min(self.expansions) <= 1:
            raise ValueError(f"{self.name}: searched expansions must be > 1, got {self.expansions}")

    # ----------------------------------------------------------------------------- construction
    def _gate(self, options: list[str], suffix: str, offset: int) -> GumbelSoftmaxGate:
        seed = None if self.seed is None else self.seed * 7 + offset
        return GumbelSoftmaxGate(
            len(options),
            mode=self.gate_mode,
            seed=seed,
            option_names=options,
            name=f"{suffix}_gate",
        )

    def build(self, input_shape):
        self.c_in = int(input_shape[-1])
        self.in_hw = (int(input_shape[1]), int(input_shape[2]))
        # the skip path of a block that changes shape is a projection, not the identity
        self.projects_skip = self.search_skip and (
            self.stride != 1 or self.c_in != self.channels
        )
        if self.projects_skip and (self.searches_width or len(self.in_channel_options) > 1):
            raise ValueError(f"{self.name}: a projected skip with searched widths is not supported")
        if not self.in_channel_options:
            self.in_channel_options = (self.c_in,)
        if max(self.in_channel_options) != self.c_in:
            raise ValueError(
                f"{self.name}: input has {self.c_in} channels, the largest input width option "
                f"is {max(self.in_channel_options)}"
            )
        # hidden_sizes[i][j]: hidden channels at input width i and expansion j.
        self.hidden_sizes = [
            [hidden_channels(c, e) for e in self.expansions] for c in self.in_channel_options
        ]
        self.hidden = max(max(row) for row in self.hidden_sizes)
        self.has_expand = max(self.expansions) > 1

        k_names = [f"k{k}" for k in self.kernel_sizes]
        e_names = [f"e{e:g}" for e in self.expansions]
        self.pair_gate = self.kernel_gate = self.expansion_gate = self.skip_gate = None
        if self.joint:
            cells = [
                (i, j)
                for i in range(len(self.kernel_options))
                for j in range(len(self.expansions) if self.search_expansion else 1)
            ]
            if self.pairs:
                cells = [
                    (i, j)
                    for i, j in cells
                    if (self.kernel_options[i][0], self.expansions[j]) in self.pairs
                ]
            # the joint table's flat index of each option (the other cells stay zero)
            self._pair_cells = [i * len(self.expansions) + j for i, j in cells]
            k_labels = k_names if self.search_kernel else ["k"]
            e_labels = e_names if self.search_expansion else ["e"]
            pairs = [f"{k_labels[i]}_{e_labels[j]}" for i, j in cells]
            self.pair_gate = self._gate(pairs, "pair", 0)
        else:
            if self.search_kernel:
                self.kernel_gate = self._gate(k_names, "kernel", 1)
            if self.search_expansion:
                self.expansion_gate = self._gate(e_names, "expansion", 2)
        if self.search_skip:
            self.skip_gate = self._gate(["block", "skip"], "skip", 3)
        self.shortcut = (
            Projection(self.channels, self.stride, name="shortcut") if self.projects_skip else None
        )
        if self.shortcut is not None:
            self.shortcut.build(input_shape)

        if self.has_expand:
            self.expand = tf.keras.layers.Conv2D(
                self.hidden, 1, use_bias=False, kernel_initializer="he_normal", name="expand"
            )
            self.expand_bn = batch_norm("expand_bn")
            self.expand_act = activation_layer(self.activation, "expand_act")
        self.depthwise = MetaKernelDepthwiseConv2D(
            self.kernel_sizes, strides=self.stride, name="depthwise"
        )
        self.depthwise_bn = batch_norm("depthwise_bn")
        self.depthwise_act = activation_layer(self.activation, "depthwise_act")
        self.project = tf.keras.layers.Conv2D(
            self.channels, 1, use_bias=False, kernel_initializer="he_normal", name="project"
        )
        self.project_bn = batch_norm("project_bn")

        hidden_shape = tf.TensorShape([None, None, None, self.hidden])
        if self.has_expand:
            self.expand.build(input_shape)
            self.expand_bn.build(hidden_shape)
        self.depthwise.build(hidden_shape)
        self.depthwise_bn.build(hidden_shape)
        self.project.build(hidden_shape)
        self.project_bn.build(tf.TensorShape([None, None, None, self.channels]))
        # active[i, j, c] = 1 where hidden channel c exists at input width i and expansion j
        # (the first e_j·C_i channels); out_active[o, c]: output channel c exists at width o.
        self._active = tf.constant(
            [
                [[1.0 if c < n else 0.0 for c in range(self.hidden)] for n in row]
                for row in self.hidden_sizes
            ]
        )
        self._out_active = tf.constant(
            [[1.0 if c < n else 0.0 for c in range(self.channels)] for n in self.channel_options]
        )
        for gate in (self.pair_gate, self.kernel_gate, self.expansion_gate, self.skip_gate):
            if gate is not None:
                gate.build(None)
        super().build(input_shape)

    # ------------------------------------------------------------------------------ gate algebra
    @property
    def kernel_options(self) -> list[tuple[int, ...]]:
        """Kernel sets this block can end up with (one per row of `joint_probs`)."""
        if self.search_kernel:
            return [(k,) for k in self.kernel_sizes]
        return [self.kernel_sizes]

    def _joint(self, gate_value) -> tf.Tensor:
        """P[kernel option, expansion option] from `gate_value(gate)` of each gate."""
        n_k, n_e = len(self.kernel_options), len(self.expansions)
        if self.pair_gate is not None:
            value = gate_value(self.pair_gate)
            if len(self._pair_cells) != n_k * n_e:
                value = tf.scatter_nd(
                    [[c] for c in self._pair_cells], value, tf.constant([n_k * n_e])
                )
            return tf.reshape(value, (n_k, n_e))
        pk = gate_value(self.kernel_gate) if self.kernel_gate is not None else tf.ones((1,))
        pe = gate_value(self.expansion_gate) if self.expansion_gate is not None else tf.ones((1,))
        return pk[:, None] * pe[None, :]

    def offers_cell(self, k_index: int, e_index: int) -> bool:
        """Whether joint cell [k_index, e_index] is one of the block's options."""
        return self.pair_gate is None or k_index * len(self.expansions) + e_index in (
            self._pair_cells
        )

    def pair_option(self, k_index: int, e_index: int) -> int:
        """The pair gate's option index of joint cell [k_index, e_index] (ValueError where the
        block does not offer that pair)."""
        cell = k_index * len(self.expansions) + e_index
        if cell not in self._pair_cells:
            raise ValueError(f"{self.name} offers no pair at joint cell ({k_index}, {e_index})")
        return self._pair_cells.index(cell)

    def shortcut_config(self) -> ConvConfig | None:
        """The projected skip path's geometry (None: the skip is the identity, or no skip)."""
        if self.shortcut is None:
            return None
        return ConvConfig(self.in_hw[0], self.in_hw[1], self.c_in, self.channels, 1, self.stride)

    def joint_probs(self) -> tf.Tensor:
        """softmax-of-logits P[kernel option, expansion option] (for latency and derivation)."""
        return self._joint(GumbelSoftmaxGate.probs)

    def skip_prob(self) -> tf.Tensor:
        if self.skip_gate is None:
            return tf.constant(0.0)
        return self.skip_gate.probs()[1]

    @property
    def adds_residual(self) -> bool:
        """MobileNetV2's residual: on, and the shapes of the widest input and output agree."""
        return self.residual and self.stride == 1 and self.c_in == self.channels

    @property
    def searches_width(self) -> bool:
        return len(self.channel_options) > 1

    @property
    def searches_input_width(self) -> bool:
        return len(self.in_channel_options) > 1

    def _kernel_weights_and_mask(self, training, width_in):
        """Per-size kernel weights ([K] or [K, C]) and the hidden channel mask ([C] or None)."""
        masked = self.search_expansion or self.searches_input_width
        if width_in is None:
            active = self._active[0]  # [E, C]
        else:
            active = tf.tensordot(width_in, self._active, axes=1)  # [E, C]: P(c active | e)
        if self.joint:
            joint = self._joint(lambda gate: gate.value(training))  # [K or 1, E or 1]
            per_channel = tf.matmul(joint, active)  # [K, C]: P(k and c active)
            mask = tf.reduce_sum(per_channel, axis=0)  # [C]: P(c active)
            if self.search_kernel:
                weights = tf.math.divide_no_nan(per_channel, mask[None, :])  # P(k | c active)
            else:
                weights = tf.ones((len(self.kernel_sizes),))
            return weights, (mask if masked else None)
        if self.kernel_gate is not None:
            weights = self.kernel_gate.value(training)
        else:
            weights = tf.ones((len(self.kernel_sizes),))
        mask = None
        if masked:
            expansion = (
                self.expansion_gate.value(training)
                if self.expansion_gate is not None
                else tf.ones((1,))
            )
            mask = tf.linalg.matvec(active, expansion, transpose_a=True)
        return weights, mask

    # ----------------------------------------------------------------------------------- forward
    def call(self, inputs, width_in=None, width_out=None, training=None):
        """width_in / width_out: the gate values of the input's and this block's width groups
        (required when those widths are searched; the same sample the group's other blocks get)."""
        if self.searches_input_width != (width_in is not None):
            raise ValueError(
                f"{self.name}: width_in is required exactly when the input width is searched"
            )
        if self.searches_width != (width_out is not None):
            raise ValueError(
                f"{self.name}: width_out is required exactly when the width is searched"
            )
        x = inputs
        if self.has_expand:
            x = self.expand_act(self.expand_bn(self.expand(x), training=training))
        weights, mask = self._kernel_weights_and_mask(training, width_in)
        x = self.depthwise(x, size_weights=weights)
        x = self.depthwise_act(self.depthwise_bn(x, training=training))
        # gate values and masks are float32 (gumbel.py); each is cast to the compute dtype
        # where it meets a 16-bit kernel or activation under a mixed policy
        if mask is None:
            x = self.project(x)
        else:
            kernel = (
                tf.cast(self.project.kernel, x.dtype) * tf.cast(mask, x.dtype)[None, None, :, None]
            )
            x = tf.nn.conv2d(x, kernel, strides=1, padding="VALID")
        x = self.project_bn(x, training=training)
        if width_out is not None:
            out_mask = tf.linalg.matvec(self._out_active, width_out, transpose_a=True)
            x = x * tf.cast(out_mask, x.dtype)
        if self.adds_residual:
            x = x + inputs
        if self.skip_gate is not None:
            g = tf.cast(self.skip_gate.value(training), x.dtype)
            identity = inputs if self.shortcut is None else self.shortcut(inputs, training=training)
            x = g[0] * x + g[1] * identity
        return x

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        out_h = None if h is None else -(-h // self.stride)
        out_w = None if w is None else -(-w // self.stride)
        return tf.TensorShape([input_shape[0], out_h, out_w, self.channels])

    # ------------------------------------------------------------------------------- description
    def option_configs(self) -> list[list[list[list[BlockConfig]]]]:
        """BlockConfig of every [input width][output width][kernel option][expansion] cell
        (the last two index `joint_probs`)."""
        return [
            [
                [
                    [
                        BlockConfig(
                            in_h=self.in_hw[0],
                            in_w=self.in_hw[1],
                            c_in=c_in,
                            c_out=c_out,
                            stride=self.stride,
                            kernel=kernel,
                            expansion=e,
                            # two widths may coincide across a group boundary; the block
                            # still has no residual there
                            residual=self.adds_residual,
                        )
                        for e in self.expansions
                    ]
                    for kernel in self.kernel_options
                ]
                for c_out in self.channel_options
            ]
            for c_in in self.in_channel_options
        ]

    def gates(self) -> dict[str, GumbelSoftmaxGate]:
        named = {
            "pair": self.pair_gate,
            "kernel": self.kernel_gate,
            "expansion": self.expansion_gate,
            "skip": self.skip_gate,
        }
        return {k: g for k, g in named.items() if g is not None}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            channels=self.channels,
            stride=self.stride,
            kernel_sizes=list(self.kernel_sizes),
            search_kernel=self.search_kernel,
            expansions=list(self.expansions),
            search_skip=self.search_skip,
            residual=self.residual,
            joint=self.joint,
            pairs=[list(p) for p in self.pairs],
            activation=self.activation,
            gate_mode=self.gate_mode,
            seed=self.seed,
            channel_options=list(self.channel_options),
            in_channel_options=list(self.in_channel_options),
            width_group=self.width_group,
            in_width_group=self.in_width_group,
        )
        return config
