import pytest

from kit.project.splits import frame_number, load_split, make_split, save_split

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


def test_blocks_split_tests_on_the_last_frames_of_each_video():
    # video v: frames 0, 5, ..., 95 (20 frames); video w: frames 3..12 (10), names unordered
    names = [f"labeled-data/v/img{5 * i:04d}.png" for i in range(20)]
    names += [f"labeled-data/w/frame_{i}.png" for i in range(3, 13)]
    s = make_split(names[::-1], 0.8, shuffle=1, method="blocks")
    assert s.method == "blocks" and len(s.train) == 24 and len(s.test) == 6
    assert set(s.train).isdisjoint(s.test) and set(s.train) | set(s.test) == set(names)
    assert s.test == tuple(sorted(names[16:20] + [f"labeled-data/w/frame_{i}.png" for i in (11, 12)]))
    # frame_10 sorts before frame_9 by name, but not by number: 9 and 10 train
    assert "labeled-data/w/frame_9.png" in s.train and "labeled-data/w/frame_10.png" in s.train
    # train stays a seeded permutation: nested prefixes, shuffles differ in order only
    other = make_split(names, 0.8, shuffle=2, method="blocks")
    assert other.test == s.test and set(other.train) == set(s.train) and other.train != s.train
    assert s.train != tuple(sorted(s.train))


def test_blocks_split_with_test_videos_and_saved(tmp_path):
    names = NAMES + [f"labeled-data/w/img{i:03d}.png" for i in range(6)]
    s = make_split(names, 0.75, shuffle=1, test_videos=["w"], method="blocks")
    assert s.novel == tuple(sorted(names[20:])) and s.test == tuple(NAMES[15:])
    assert set(s.train) == set(NAMES[:15])
    t = make_split(names, 1.0, test_videos=["w"], method="blocks")  # whole videos only
    assert t.test == () and len(t.train) == 20 and len(t.novel) == 6
    save_split(s, tmp_path / "s.json")
    assert load_split(tmp_path / "s.json") == s


def test_blocks_split_names_what_it_cannot_read():
    with pytest.raises(ValueError, match=r"frame number from 1 image.*labeled-data/v/last\.png"):
        make_split(NAMES + ["labeled-data/v/last.png"], 0.8, method="blocks")
    with pytest.raises(ValueError, match="split method must be one of"):
        make_split(NAMES, 0.8, method="sequential")
    assert frame_number("labeled-data/v/img0042.png") == 42
    assert frame_number("labeled-data/v2/cam1_frame-0007.jpg") == 7
    assert frame_number("labeled-data/v/last.png") is None


@pytest.mark.parametrize("method", ["random", "blocks"])
def test_a_validation_set_is_kept_from_training_and_leaves_the_test_set(tmp_path, method):
    """validation_fraction 0.2 of 20 frames: 4 frames (blocks: each video's 4 frames just
    before its test block), never trained on, and the same test frames as without it."""
    names = NAMES + [f"labeled-data/w/img{i:03d}.png" for i in range(10)]
    plain = make_split(names, 0.8, method=method)
    s = make_split(names, 0.8, method=method, validation_fraction=0.2)
    assert s.test == plain.test and len(s.validation) == 6 and len(s.train) == 18
    assert set(s.train) | set(s.validation) == set(plain.train)
    assert set(s.validation).isdisjoint(s.train) and set(s.validation).isdisjoint(s.test)
    if method == "blocks":
        assert s.validation == tuple(NAMES[12:16] + names[26:28])
    save_split(s, tmp_path / "s.json")
    assert load_split(tmp_path / "s.json") == s
    with pytest.raises(ValueError, match="validation_fraction"):
        make_split(names, 0.8, validation_fraction=0.8)


def test_training_settings_keep_the_validation_set_out(blob_project):
    """TrainConfig.validation_fraction: the split drawn for training keeps those frames out
    of its training set, and the model folder's name says so."""
    from kit.net.train import TrainConfig, draw_split
    from kit.project.labels import load_labels

    config = TrainConfig(train_fraction=0.75, validation_fraction=0.25, split_method="blocks")
    split = draw_split(blob_project, config, load_labels(blob_project))
    assert split.validation and set(split.validation).isdisjoint(split.train + split.test)
    assert config.variant.endswith("-blocks-val0.25")
