"""bench/variant_cost.py: the fixed child with its first stride moved or capacity added."""

import json

import pytest

from bench import variant_cost
from ednas_tf.arch import ArchSpec
from ednas_tf.baselines.fixed import fixed_kernel_arch
from ednas_tf.cost.macs import MacsProxy
from ednas_tf.model import build
from ednas_tf.presets import preset_space


def _reference():
    space = preset_space("small", input_shape=(16, 16, 1), profile="tda2x", width=0.5)
    return fixed_kernel_arch(space, 3)


def _total_stride(arch: ArchSpec) -> int:
    total = arch.stem.stride
    for b in arch.blocks:
        total *= b.stride
    return total


def test_variants_move_the_first_stride_and_build():
    reference = _reference()
    variants = variant_cost.resolution_variants(reference, expansion=3, narrow=0.5)
    assert list(variants) == [
        "reference",
        "stride_late",
        "stride_late_e3",
        "stride_late_e3_n0.5",
        "no_first_stride",
    ]
    assert [b.encode() for b in variants["reference"].blocks] == [
        b.encode() for b in reference.blocks
    ]
    first = next(i for i, b in enumerate(reference.blocks) if b.stride == 2)
    late = variants["stride_late"]
    assert late.blocks[first].stride == 1
    assert late.blocks[-2].stride == 2 and reference.blocks[-2].stride == 1  # last stage's first
    assert _total_stride(late) == _total_stride(reference)
    assert _total_stride(variants["no_first_stride"]) == _total_stride(reference) // 2
    assert all(b.expansion <= 3 for b in variants["stride_late_e3"].blocks)
    narrow = variants["stride_late_e3_n0.5"]
    assert narrow.blocks[-1].channels == reference.blocks[-1].channels
    pairs = list(zip(narrow.blocks[:-2], reference.blocks))
    assert all(n.channels <= r.channels for n, r in pairs)  # never below 8 channels
    assert any(n.channels < r.channels for n, r in pairs)
    for arch in variants.values():
        assert build(arch).output_shape == (None, 10)


def test_a_child_with_nothing_to_move_is_refused():
    reference = _reference()
    flat = ArchSpec.from_dict(
        {**reference.to_dict(), "blocks": ["ir_k3_e1_c8_s1", "ir_k3_e6_c16_s1"]}
    )
    with pytest.raises(ValueError, match="strided block"):
        variant_cost.resolution_variants(flat, expansion=3, narrow=0.5)


class _MacsTable(MacsProxy):
    """The MACs proxy standing in for the measured table: main's wiring, not its timings."""

    def time_network(self, model) -> float:
        return 0.001 * model.count_params()


def test_main_writes_every_variant_and_the_ratios(tmp_path, monkeypatch):
    monkeypatch.setattr(variant_cost, "host_lookup_table", lambda: _MacsTable())
    monkeypatch.setattr(variant_cost, "emit", lambda name, figures: figures)
    figures = variant_cost.main(["--image_size=16", f"--output_dir={tmp_path}"])
    rows = figures["models"]
    assert [r["name"] for r in rows][0] == "reference" and len(rows) == 5
    assert rows[0]["host_vs_reference"] == 1.0
    by_name = {r["name"]: r for r in rows}
    assert by_name["no_first_stride"]["macs_vs_reference"] > 1.5  # twice the side after it
    for row in rows:
        saved = ArchSpec.from_dict(json.loads(open(row["arch_file"]).read()))
        assert [b.encode() for b in saved.blocks] == row["blocks"]
        assert row["host_predicted_ms"] > 0 and row["tda2x_latency_ms"] > 0


def test_capacity_variants_add_channels_and_blocks_at_the_end():
    reference = _reference()
    variants = variant_cost.capacity_variants(reference)
    last = reference.blocks[-1].channels
    assert list(variants) == [
        "reference",
        f"tail_c{last * 4 // 3}x2",
        f"tail_c{last * 5 // 3}x3_e3",
        f"last_stage_c{2 * last}",
        "deeper",
    ]
    n = len(reference.blocks)
    tail = variants[f"tail_c{last * 5 // 3}x3_e3"].blocks
    assert [b.encode() for b in tail[:n]] == [b.encode() for b in reference.blocks]
    assert [(b.channels, b.expansion, b.stride) for b in tail[n:]] == [(80, 3, 1)] * 3
    widened = variants[f"last_stage_c{2 * last}"].blocks
    assert [b.channels for b in widened[-2:]] == [2 * last] * 2
    assert widened[-3].channels == reference.blocks[-3].channels
    deeper = variants["deeper"].blocks
    assert len(deeper) == n + 2 and deeper[-1] == deeper[-2]
    assert _total_stride(variants["deeper"]) == _total_stride(reference)
    for arch in variants.values():
        assert build(arch).output_shape == (None, 10)


def test_main_capacity_family_names_its_outputs(tmp_path, monkeypatch):
    monkeypatch.setattr(variant_cost, "host_lookup_table", lambda: _MacsTable())
    names = []
    monkeypatch.setattr(variant_cost, "emit", lambda name, figures: names.append(name) or figures)
    monkeypatch.chdir(tmp_path)
    figures = variant_cost.main(["--image_size=16", "--family=capacity"])
    assert names == ["capacity_cost"]
    rows = figures["models"]
    assert len(rows) == 5 and all(r["macs_vs_reference"] >= 1.0 for r in rows)
    assert all((tmp_path / "runs/capacity_cost" / f"{r['name']}.json").exists() for r in rows)
