"""`--precision`, the one definition shared by the stages that train (search, train, QAT).

The search records the precision it ran in (run.json); ednas-train inherits it unless the flag
is given. QAT fine-tunes a fake-quantized model whose TFMOT fake-quant ops take float32 only, so
it runs in float32 and refuses a mixed policy with a one-line error; export always builds the
deployed model in float32 (`deploy.merge`).
"""

from __future__ import annotations

import sys

from absl import flags

from ednas_tf.precision import DEFAULT_PRECISION, PRECISIONS

FLAGS = flags.FLAGS
# run_flags.stage_facts default for a run that recorded no precision (an arch.json by hand)
PRECISION_DEFAULTS = {"precision": DEFAULT_PRECISION}
_HELP = (
    "Keras dtype policy: float32; mixed_float16 (16-bit compute, float32 variables, a dynamic "
    "loss scale: the choice on NVIDIA GPUs with tensor cores); mixed_bfloat16 (TPUs and CPUs "
    "with bfloat16 units). Gates, temperatures, expected latency, logits and losses stay "
    "float32 under every policy."
)


def deployed_precision(facts: dict, stage: str) -> dict:
    """`facts` with the float32 a deploy stage (QAT, export) runs in, whatever the training's
    policy; a note says so when the child was trained under a mixed one."""
    trained = facts.get("precision", DEFAULT_PRECISION)
    if trained != DEFAULT_PRECISION:
        print(
            f"note: the child was trained in {trained}; {stage} builds it in float32 "
            "(float32 variables load as they are)",
            flush=True,
        )
    return {**facts, "precision": DEFAULT_PRECISION}


def define_precision_flag(inherit: bool, note: str = "") -> None:
    """--precision; `inherit`: its default is what the run recorded (None until resolved);
    `note`: what the flag means for this stage in particular."""
    default = None if inherit else DEFAULT_PRECISION
    suffix = (
        f" Default: what the run recorded (run.json), else {DEFAULT_PRECISION}." if inherit else ""
    )
    flags.DEFINE_enum(
        "precision",
        default,
        list(PRECISIONS),
        _HELP + suffix + (f" {note}" if note else ""),
        module_name=sys.argv[0],
    )
