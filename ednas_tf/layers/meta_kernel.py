"""Meta-kernel depthwise convolution: several kernel sizes, one convolution.

Convolution is linear in its kernel, so `Σ_i g_i · conv(x, W_i) = conv(x, Σ_i g_i · pad(W_i))` when
each smaller kernel is zero-padded to the largest size around its centre. With 'same' padding the
centred kernel lines up for stride 1 and 2 alike (TF pads `(k-1)/2` more on each side per extra
ring). So a supernet layer pays for ONE depthwise conv at the largest size however many sizes it
holds, and a child with a parallel kernel set (`k3+7`) merges into one kernel at deploy.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from ednas_tf.layers.gumbel import GumbelSoftmaxGate


def pad_kernel_to(kernel: tf.Tensor, size: int) -> tf.Tensor:
    """Zero-pads a [k, k, C, M] kernel to [size, size, C, M], centred."""
    k = int(kernel.shape[0])
    if (size - k) % 2:
        raise ValueError(f"cannot centre a {k}x{k} kernel in {size}x{size}: sizes must be odd")
    ring = (size - k) // 2
    return tf.pad(kernel, [[ring, ring], [ring, ring], [0, 0], [0, 0]])


class MetaKernelDepthwiseConv2D(tf.keras.layers.Layer):
    """Depthwise conv holding one kernel per candidate size, merged in weight space.

    `call(x, size_weights)` computes `w = Σ_i size_weights[i] · pad(W_i, kmax)` and runs a single
    `tf.nn.depthwise_conv2d`. `size_weights` is a vector `[K]` (one weight per size) or a matrix
    `[K, C]` (one weight per size and channel: what a joint (kernel, expansion) gate produces). With
    no weights and no gate every size has weight 1: the re-parameterizable parallel block.

    Args:
      sizes: candidate (odd) kernel sizes, e.g. (3, 5, 7).
      strides: 1 or 2.
      gate: optional gate over `sizes` used when `call` gets no explicit weights.
      use_bias: add a per-channel bias (only for merged, BN-folded layers; off in the search).
    """

    def __init__(
        self,
        sizes: Sequence[int] = (3, 5, 7),
        strides: int = 1,
        gate: GumbelSoftmaxGate | None = None,
        use_bias: bool = False,
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        sizes = tuple(sorted(int(s) for s in sizes))
        if not sizes or any(s < 1 or s % 2 == 0 for s in sizes) or len(set(sizes)) != len(sizes):
            raise ValueError(f"sizes must be distinct odd positive ints, got {sizes}")
        if strides not in (1, 2):
            raise ValueError(f"strides must be 1 or 2, got {strides}")
        if gate is not None and gate.num_options != len(sizes):
            raise ValueError(f"gate has {gate.num_options} options for {len(sizes)} sizes")
        self.sizes = sizes
        self.strides = int(strides)
        self.gate = gate
        self.use_bias = use_bias
        self.kernel_initializer = tf.keras.initializers.serialize(
            tf.keras.initializers.get(kernel_initializer)
        )

    @property
    def max_size(self) -> int:
        return self.sizes[-1]

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.kernels = [
            self.add_weight(
                name=f"depthwise_kernel_{s}x{s}",
                shape=(s, s, channels, 1),
                initializer=tf.keras.initializers.deserialize(self.kernel_initializer),
                trainable=True,
            )
            for s in self.sizes
        ]
        self.bias = (
            self.add_weight(name="bias", shape=(channels,), initializer="zeros")
            if self.use_bias
            else None
        )
        super().build(input_shape)

    def _default_weights(self, training) -> tf.Tensor:
        if self.gate is not None:
            return self.gate.value(training)
        return tf.ones((len(self.sizes),))

    def merged_kernel(
        self,
        size_weights=None,
        active: Sequence[int] | None = None,
        dtype: tf.DType | str | None = None,
    ) -> tf.Tensor:
        """The single [kmax, kmax, C, 1] kernel equivalent to the weighted branches.

        `active` (a subset of `sizes`) gives the deploy kernel of a parallel kernel set: the
        plain sum of those branches. Otherwise `size_weights` ([K] or [K, C]) weight the
        branches; default: the gate's deterministic probabilities, or all ones without a gate.
        `dtype`: of the sum (default the layer's compute dtype; deploy asks for float32 from a
        layer trained under a mixed policy).
        """
        if active is not None:
            unknown = set(active) - set(self.sizes)
            if unknown:
                raise ValueError(f"active sizes {sorted(unknown)} not in {self.sizes}")
            size_weights = tf.constant([1.0 if s in active else 0.0 for s in self.sizes])
        elif size_weights is None:
            size_weights = self._default_weights(training=False)
        # gate weights are float32 (gumbel.py): the sum runs in the layer's compute dtype,
        # float16 or bfloat16 under a mixed policy, like the convolution it feeds
        dtype = dtype or self.compute_dtype
        size_weights = tf.cast(size_weights, dtype)
        total = None
        for i, kernel in enumerate(self.kernels):
            weight = size_weights[i]
            if weight.shape.rank == 1:  # per-channel weights broadcast over [k, k, C, 1]
                weight = weight[:, None]
            term = pad_kernel_to(tf.cast(kernel, dtype) * weight, self.max_size)
            total = term if total is None else total + term
        return total

    def call(self, inputs, size_weights=None, training=None):
        if size_weights is None:
            size_weights = self._default_weights(training)
        kernel = self.merged_kernel(size_weights)
        outputs = tf.nn.depthwise_conv2d(
            inputs, kernel, strides=(1, self.strides, self.strides, 1), padding="SAME"
        )
        if self.bias is not None:
            outputs = outputs + tf.cast(self.bias, outputs.dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        s = self.strides
        out_h = None if h is None else -(-h // s)
        out_w = None if w is None else -(-w // s)
        return tf.TensorShape([input_shape[0], out_h, out_w, input_shape[-1]])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            sizes=list(self.sizes),
            strides=self.strides,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            gate=(tf.keras.layers.serialize(self.gate) if self.gate is not None else None),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        gate = config.pop("gate", None)
        if gate is not None:
            gate = tf.keras.layers.deserialize(
                gate, custom_objects={"GumbelSoftmaxGate": GumbelSoftmaxGate}
            )
        return cls(gate=gate, **config)
