"""kit.net.heads: each head one named record; outputs, losses and targets go by name."""

import numpy as np
import pytest

from kit.net import heads
from kit.net.heads import HEADS_BY_NAME, Head, HeadSpec, get_head, head_losses, head_names
from kit.net.losses import locref_loss, paf_loss, scoremap_loss
from kit.net.train_config import TrainConfig


def test_the_records_in_output_order():
    assert list(HEADS_BY_NAME) == ["part_pred", "locref", "paf", "identity"]
    assert head_names() == ["part_pred", "locref"] and head_names(3, 2)[-1] == "identity"
    spec = HeadSpec(num_bodyparts=4, num_limbs=3, num_identities=2)
    assert [h.channels(spec) for h in HEADS_BY_NAME.values()] == [4, 8, 6, 2]
    assert [h.activation for h in HEADS_BY_NAME.values()] == ["sigmoid", None, None, "sigmoid"]
    with pytest.raises(ValueError, match=r"Unknown head 'pafs'.*'paf'"):
        get_head("pafs")
    with pytest.raises(ValueError, match="activation"):
        Head("x", lambda s: 1, scoremap_loss, activation="softmax")


def test_losses_and_weights_by_name_from_the_records():
    config = TrainConfig(locref_loss_weight=0.5, pairwise_loss_weight=0.25)
    losses, weights = head_losses(["part_pred", "locref", "paf"], lambda f: getattr(config, f))
    assert losses == {"part_pred": scoremap_loss, "locref": locref_loss, "paf": paf_loss}
    assert weights == {"part_pred": 1.0, "locref": 0.5, "paf": 0.25}


def test_a_new_head_is_one_record(monkeypatch):
    import keras

    from kit.net.model import build_model

    monkeypatch.setattr(heads, "HEADS_BY_NAME", dict(HEADS_BY_NAME))  # undone after the test
    heads.register_head(Head("centre", lambda s: 1, scoremap_loss, 2.0, "sigmoid"))
    with pytest.raises(ValueError, match="exists"):
        heads.register_head(Head("paf", lambda s: 1, paf_loss))
    keras.utils.set_random_seed(0)
    model = build_model(2, None, net_type="mobilenet_v2_0.35")
    assert list(model.output_names) == ["part_pred", "locref", "centre"]
    outputs = model.predict_on_batch(np.zeros((1, 64, 64, 3), np.float32))
    assert [o.shape[-1] for o in outputs] == [2, 4, 1]
    assert head_losses(model.output_names, lambda f: 0.05)[1]["centre"] == 2.0
