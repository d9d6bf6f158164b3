import numpy as np
import pandas as pd
import pytest

from kit.experiments.curves import (
    _variant,
    bodypart_experiment,
    learning_curve,
    paired_comparison,
    plot_learning_curve,
    plot_paired,
    resolve_sizes,
)


def test_resolve_sizes_counts_and_fractions():
    assert resolve_sizes([10, 0.5, 100], 100) == [10, 50, 100]
    with pytest.raises(ValueError, match=r"\[1, 40\]"):
        resolve_sizes([50], 40)


def test_points_and_variants():
    points = learning_curve([4, 8], [1, 2], {"train_steps": 5})
    assert [(p.labels["train_size"], p.labels["shuffle"]) for p in points] == [
        (4, 1), (8, 1), (4, 2), (8, 2)]
    assert _variant(points[1].train) == "-n8"
    pair = bodypart_experiment("snout", [4], [1], {})
    assert [_variant(p.train) for p in pair] == ["-n4", "-n4-parts-snout"]
    assert _variant({"augment": False, "test_videos": "a,b"}) == "-novel-a+b-noaug"


def test_one_curve_per_backbone():
    """Several net_types: the same sizes and shuffles for each, in folders of their own."""
    points = learning_curve([4, 8], [1], {"train_steps": 5},
                            net_types=["resnet_50", "mobilenet_v2_0.35"])
    assert [(p.labels["net_type"], p.labels["train_size"]) for p in points] == [
        ("resnet_50", 4), ("resnet_50", 8), ("mobilenet_v2_0.35", 4), ("mobilenet_v2_0.35", 8)]
    assert [p.train["net_type"] for p in points] == [p.labels["net_type"] for p in points]
    assert [_variant(p.train) for p in points] == [
        "-n4", "-n8", "-n4-mobilenet_v2_0.35", "-n8-mobilenet_v2_0.35"]
    rows = [dict(net_type=b, train_size=n, shuffle=1, split=split, bodypart="all",
                 rmse_px=10.0 / n + (b == "resnet_50"))
            for b in ("resnet_50", "efficientnet-b0") for n in (4, 8) for split in ("train", "test")]
    fig = plot_learning_curve(pd.DataFrame(rows))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["resnet_50", "efficientnet-b0"]


def _table():
    rows = []
    for cond, offset in (("all body parts", 0.0), ("snout only", 1.0)):
        for size in (4, 8):
            for shuffle in (1, 2, 3):
                for split in ("train", "test"):
                    err = 10.0 / size + offset + 0.1 * shuffle + (split == "test")
                    rows.append(dict(condition=cond, train_size=size, shuffle=shuffle,
                                     split=split, bodypart="snout", rmse_px=err))
    return pd.DataFrame(rows)


def test_paired_comparison_by_hand():
    out = paired_comparison(_table(), "all body parts", "snout only", "snout").set_index("train_size")
    assert out.loc[4, "mean_difference_px"] == pytest.approx(1.0)
    assert out.loc[4, "all body parts better"] == 3 and out.loc[4, "num_shuffles"] == 3
    assert out.loc[8, "all body parts rmse_px"] == pytest.approx(10 / 8 + 0.2 + 1)
    with pytest.raises(ValueError, match="No results"):
        paired_comparison(_table(), "all body parts", "tail only", "snout")


def test_figures_draw(tmp_path):
    table = _table()
    table["bodypart"] = "all"
    fig = plot_learning_curve(table[table.condition == "all body parts"], human_error_px=1.5)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert any(np.allclose(line.get_ydata(), 1.5) for line in ax.lines)
    assert len(plot_paired(table, "all").axes) == 2
