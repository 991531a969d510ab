"""Keras builders for the networks behind TI's published TIDL timings (AM5729, EVE 650 MHz).

The latency model is fitted and checked against TI's figures, so its inputs must be the same
layer stacks TI timed. Weights are irrelevant (random init); only shapes matter. BatchNorm and
ReLU are omitted because TIDL folds them into the convolutions. Sources of each layout:

- SqueezeNet1.1: DeepScale/SqueezeNet ``SqueezeNet_v1.1/train_val.prototxt`` (Caffe, 227x227,
  ceil-mode pooling). TI validated "Squeezenet 1.1 caffe model" (TIDL datasheet, Nov 2019).
- InceptionV1: TF-slim ``nets/inception_v1.py`` (TI validated "Inception net V1 (Googlenet)
  Tensorflow model"). Slim uses 3x3 kernels in the branches GoogLeNet drew as 5x5; that variant
  gives 1.50 GMAC, TI's 1497 MMAC, while 5x5 would give 1.59 GMAC.
- JacintoNet11_v2 and JSegNet21(v2): TI's caffe-jacinto-models ``scripts/models/jacintonet_v2.py``
  and ``trained/image_segmentation/cityscapes5_jsegnet21v2/test/deploy.prototxt``.
- MobileNetV1/V2: ``tf.keras.applications`` (TI timed the TF-slim models, same layer stacks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf  # ednas_tf/__init__ has selected Keras 2

L = tf.keras.layers


def _conv(x: tf.Tensor, filters: int, kernel: int, stride: int = 1, groups: int = 1,
          dilation: int = 1, padding: str = "same", name: str | None = None) -> tf.Tensor:
    """Conv + fused ReLU, the unit TIDL executes as one layer."""
    return L.Conv2D(filters, kernel, strides=stride, padding=padding, groups=groups,
                    dilation_rate=dilation, activation="relu", name=name)(x)


def _classifier_conv(x: tf.Tensor, classes: int) -> tf.Tensor:
    """Global average pool + 1x1 conv + softmax: the TIDL-importable classifier head."""
    x = L.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    x = L.Conv2D(classes, 1, name="logits")(x)
    x = L.Flatten(name="flatten")(x)
    return L.Softmax(name="prob")(x)


# --------------------------------------------------------------------------------------------
# SqueezeNet 1.1
# --------------------------------------------------------------------------------------------


def _fire(x: tf.Tensor, squeeze: int, expand: int, name: str) -> tf.Tensor:
    s = _conv(x, squeeze, 1, name=f"{name}/squeeze1x1")
    e1 = _conv(s, expand, 1, name=f"{name}/expand1x1")
    e3 = _conv(s, expand, 3, name=f"{name}/expand3x3")
    return L.Concatenate(name=f"{name}/concat")([e1, e3])


def squeezenet_v11(image_size: int = 227, classes: int = 1000) -> tf.keras.Model:
    """SqueezeNet 1.1. Caffe pools in ceil mode: 113->56 equals Keras 'valid', 56->28 and
    28->14 equal Keras 'same' (one extra row/column at the end)."""
    inp = L.Input((image_size, image_size, 3))
    x = _conv(inp, 64, 3, stride=2, padding="valid", name="conv1")
    x = L.MaxPooling2D(3, 2, padding="valid", name="pool1")(x)
    x = _fire(x, 16, 64, "fire2")
    x = _fire(x, 16, 64, "fire3")
    x = L.MaxPooling2D(3, 2, padding="same", name="pool3")(x)
    x = _fire(x, 32, 128, "fire4")
    x = _fire(x, 32, 128, "fire5")
    x = L.MaxPooling2D(3, 2, padding="same", name="pool5")(x)
    for i, (sq, ex) in enumerate(((48, 192), (48, 192), (64, 256), (64, 256)), start=6):
        x = _fire(x, sq, ex, f"fire{i}")
    x = _conv(x, classes, 1, name="conv10")
    x = L.GlobalAveragePooling2D(name="pool10")(x)
    return tf.keras.Model(inp, L.Softmax(name="prob")(x), name="squeezenet1_1")


# --------------------------------------------------------------------------------------------
# Inception V1 (TF-slim layout)
# --------------------------------------------------------------------------------------------

# (b0 1x1, b1 reduce, b1 3x3, b2 reduce, b2 kxk, b3 pool-proj) per mixed block, slim naming.
_INCEPTION_V1_BLOCKS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _inception_block(x: tf.Tensor, widths: tuple[int, ...], branch2_kernel: int,
                     name: str) -> tf.Tensor:
    b0, b1r, b1, b2r, b2, b3 = widths
    y0 = _conv(x, b0, 1, name=f"{name}/b0_1x1")
    y1 = _conv(_conv(x, b1r, 1, name=f"{name}/b1_1x1"), b1, 3, name=f"{name}/b1_3x3")
    y2 = _conv(_conv(x, b2r, 1, name=f"{name}/b2_1x1"), b2, branch2_kernel,
               name=f"{name}/b2_{branch2_kernel}x{branch2_kernel}")
    y3 = L.MaxPooling2D(3, 1, padding="same", name=f"{name}/b3_pool")(x)
    y3 = _conv(y3, b3, 1, name=f"{name}/b3_1x1")
    return L.Concatenate(name=f"{name}/concat")([y0, y1, y2, y3])


def inception_v1(image_size: int = 224, classes: int = 1001,
                 branch2_kernel: int = 3) -> tf.keras.Model:
    """InceptionV1 as in TF-slim (``branch2_kernel=5`` gives the original GoogLeNet branches)."""
    inp = L.Input((image_size, image_size, 3))
    x = _conv(inp, 64, 7, stride=2, name="Conv2d_1a_7x7")
    x = L.MaxPooling2D(3, 2, padding="same", name="MaxPool_2a_3x3")(x)
    x = _conv(x, 64, 1, name="Conv2d_2b_1x1")
    x = _conv(x, 192, 3, name="Conv2d_2c_3x3")
    x = L.MaxPooling2D(3, 2, padding="same", name="MaxPool_3a_3x3")(x)
    for name, widths in _INCEPTION_V1_BLOCKS.items():
        if name == "Mixed_4b":
            x = L.MaxPooling2D(3, 2, padding="same", name="MaxPool_4a_3x3")(x)
        if name == "Mixed_5b":
            x = L.MaxPooling2D(2, 2, padding="same", name="MaxPool_5a_2x2")(x)
        x = _inception_block(x, widths, branch2_kernel, name)
    return tf.keras.Model(inp, _classifier_conv(x, classes), name="inception_v1")


# --------------------------------------------------------------------------------------------
# JacintoNet11 v2 and JSegNet21 v2 (TI caffe-jacinto-models)
# --------------------------------------------------------------------------------------------


def _jacinto_base(inp: tf.Tensor, strides: tuple[int, ...],
                  dilations: tuple[int, ...]) -> dict[str, tf.Tensor]:
    """``jacintonet11_base``: conv1a 5x5/2 32, conv1b 3x3 g4, then per stage 2..5 a max pool
    (kernel = stride), a 3x3 conv and a 3x3 group-4 conv with widths 64, 128, 256, 512."""
    out: dict[str, tf.Tensor] = {}
    x = _conv(inp, 32, 5, stride=strides[0], dilation=dilations[0], name="conv1a")
    x = _conv(x, 32, 3, groups=4, dilation=dilations[0], name="conv1b")
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        s, d = strides[stage], dilations[stage]
        if s > 1:  # a 1x1/1 max pool (JSegNet21's pool4) is the identity.
            x = L.MaxPooling2D(s, s, name=f"pool{stage}")(x)
        x = _conv(x, width, 3, dilation=d, name=f"res{stage + 1}a_branch2a")
        x = _conv(x, width, 3, groups=4, dilation=d, name=f"res{stage + 1}a_branch2b")
        out[f"res{stage + 1}"] = x
    return out


def jacintonet11_v2(image_size: int = 224, classes: int = 1000) -> tf.keras.Model:
    """JacintoNet11 v2 (ImageNet): 405.8 MMAC at 224x224 without the 0.5 MMAC classifier."""
    inp = L.Input((image_size, image_size, 3))
    x = _jacinto_base(inp, (2, 2, 2, 2, 2), (1, 1, 1, 1, 1))["res5"]
    x = L.GlobalAveragePooling2D(name="pool5")(x)
    x = L.Dense(classes, name=f"fc{classes}")(x)
    return tf.keras.Model(inp, L.Softmax(name="prob")(x), name="jacintonet11_v2")


def jsegnet21_v2(height: int = 512, width: int = 1024, classes: int = 8) -> tf.keras.Model:
    """JSegNet21 v2 (Cityscapes deploy model, 8 outputs): JacintoNet11 base at output stride 16
    (pool4 removed, res5 dilated 2), a stride-8 skip from res3, dilated context convs, and three
    frozen bilinear x2 deconvolutions (here bilinear UpSampling2D, which the layer description
    maps back to that deconvolution), ending in ArgMax (omitted: no MACs).

    This layout (TI's deploy prototxt) counts 8832 MMAC at 1024x512, 3.8 % above TI's published
    8506; no variant of the prototxt matches TI's figure, so the prototxt is kept as is."""
    inp = L.Input((height, width, 3))
    feats = _jacinto_base(inp, (2, 2, 2, 2, 1), (1, 1, 1, 1, 2))
    x = _conv(feats["res5"], 64, 3, groups=2, dilation=4, name="out5a")
    x = L.UpSampling2D(2, interpolation="bilinear", name="out5a_up2")(x)
    skip = _conv(feats["res3"], 64, 3, groups=2, name="out3a")
    x = L.Add(name="out3_out5_combined")([x, skip])
    x = _conv(x, 64, 3, name="ctx_conv1")
    for i in (2, 3, 4):
        x = _conv(x, 64, 3, dilation=4, name=f"ctx_conv{i}")
    x = _conv(x, classes, 3, name="ctx_final")
    for up in (2, 4, 8):
        x = L.UpSampling2D(2, interpolation="bilinear", name=f"out_deconv_final_up{up}")(x)
    return tf.keras.Model(inp, x, name="jsegnet21_v2")


# --------------------------------------------------------------------------------------------
# Registry of TI's published networks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceNet:
    """A network with TI's published single-core EVE time and (where TI gives it) MMAC."""

    key: str
    label: str
    build: Callable[[], tf.keras.Model]
    published_mmac: float | None


def _mobilenet_v1() -> tf.keras.Model:
    return tf.keras.applications.MobileNet(weights=None, input_shape=(224, 224, 3))


def _mobilenet_v2() -> tf.keras.Model:
    return tf.keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))


REFERENCE_NETS: dict[str, ReferenceNet] = {
    net.key: net
    for net in (
        ReferenceNet("mobilenet_v1", "MobileNetV1 224", _mobilenet_v1, 567.7),
        ReferenceNet("mobilenet_v2", "MobileNetV2 224", _mobilenet_v2, None),
        ReferenceNet("squeezenet1_1", "SqueezeNet1.1 227", squeezenet_v11, 390.8),
        ReferenceNet("inception_v1", "InceptionNetV1 224", inception_v1, 1497.0),
        ReferenceNet("jacintonet11_v2", "JacintoNet11_v2 224", jacintonet11_v2, 405.8),
        ReferenceNet("jsegnet21_v2", "JSegNet21 1024x512", jsegnet21_v2, 8506.0),
    )
}
"""MMAC figures: Processor SDK Linux TIDL chapter, AM5729 performance table."""
