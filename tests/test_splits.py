import pytest

from kit.project.splits import load_split, make_split, save_split

NAMES = [f"labeled-data/v/img{i:03d}.png" for i in range(20)]


def test_split_is_seeded_and_order_free(tmp_path):
    a = make_split(NAMES, 0.8, shuffle=1)
    b = make_split(list(reversed(NAMES)), 0.8, shuffle=1)
    assert a == b and len(a.train) == 16 and len(a.test) == 4
    assert set(a.train).isdisjoint(a.test) and set(a.train) | set(a.test) == set(NAMES)
    assert make_split(NAMES, 0.8, shuffle=2).test != a.test
    save_split(a, tmp_path / "s.json")
    assert load_split(tmp_path / "s.json") == a


def test_fraction_one_trains_on_all():
    s = make_split(NAMES, 1.0)
    assert len(s.train) == 20 and s.test == ()


def test_fraction_leaving_no_test_frames_is_an_error():
    with pytest.raises(ValueError, match="leaves 5 training and 0 test frames"):
        make_split(NAMES[:5], 0.95)
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\]"):
        make_split(NAMES, 1.5)


def test_training_sets_nest_and_share_the_test_set():
    a = make_split(NAMES, 0.8, shuffle=1)
    assert len(set(a.train[:5]) & set(a.train[:10])) == 5  # prefixes nest
    assert make_split(NAMES, 0.8, shuffle=1).train[:5] == a.train[:5]


def test_novel_videos_never_train():
    names = NAMES + [f"labeled-data/w/img{i:03d}.png" for i in range(6)]
    s = make_split(names, 0.75, shuffle=1, test_videos=["w"])
    assert len(s.novel) == 6 and all("/w/" in n for n in s.novel)
    assert not any("/w/" in n for n in s.train + s.test)
    assert len(s.train) == 15 and len(s.test) == 5
    with pytest.raises(ValueError, match="no labeled frames"):
        make_split(names, 0.75, test_videos=["zz"])
