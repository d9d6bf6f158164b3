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
