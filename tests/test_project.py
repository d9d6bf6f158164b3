import os

import pytest
import yaml

from kit.project import create_project, load_project, update_config


def test_open_deeplabcut_project_unchanged(openfield):
    before = (openfield / "config.yaml").read_bytes()
    project = load_project(openfield)
    assert project.root == openfield.resolve()
    assert project.bodyparts == ["snout", "leftear", "rightear", "tailbase"]
    assert project.scorer == "Pranav" and project.training_fractions == [0.95]
    assert project.labeled_videos() == ["m4s1"]
    assert project.labels_file("m4s1").is_file()
    assert project.model_name(1, 0.95) == "openfieldOct30-trainset95shuffle1"
    assert (openfield / "config.yaml").read_bytes() == before


def test_create_from_template_keeps_comments_and_values(tmp_path):
    project = create_project(tmp_path / "p", "mouse", "ann", ["snout", "tail"],
                             skeleton=[["snout", "tail"]], TrainingFraction=[0.8])
    text = project.config_path.read_text()
    assert "# pcutoff:" in text  # template comments kept
    config = yaml.safe_load(text)
    assert config["bodyparts"] == ["snout", "tail"] and config["Task"] == "mouse"
    assert config["TrainingFraction"] == [0.8] and config["skeleton"] == [["snout", "tail"]]
    assert (project.root / "labeled-data").is_dir()
    with pytest.raises(FileExistsError, match="already exists"):
        create_project(tmp_path / "p", "mouse", "ann", ["snout"])


def test_update_config_sets_keys_atomically(tmp_path):
    project = create_project(tmp_path / "p", "mouse", "ann", ["a", "b"])
    project = update_config(project, iteration=2, bodyparts=["a", "b", "c"])
    assert project.iteration == 2 and project.bodyparts == ["a", "b", "c"]
    assert "# iteration:" in project.config_path.read_text()
    assert not list(project.root.glob(".tmp*"))


@pytest.mark.parametrize("edit, match", [
    (lambda c: c.pop("bodyparts"), "no 'bodyparts' key"),
    (lambda c: c.update(pcutoff="high"), "pcutoff"),
    (lambda c: c.update(pcutoff=1.5), r"pcutoff must be in \[0, 1\]"),
    (lambda c: c.update(TrainingFraction=[0]), "TrainingFraction"),
    (lambda c: c.update(bodyparts=["a", "a"]), "duplicates"),
])
def test_bad_config_names_file_and_key(tmp_path, edit, match):
    project = create_project(tmp_path / "p", "mouse", "ann", ["a", "b"])
    config = yaml.safe_load(project.config_path.read_text())
    edit(config)
    project.config_path.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=match) as info:
        load_project(project.root)
    assert "config.yaml" in str(info.value)


def test_missing_config_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="create_project"):
        load_project(tmp_path)


@pytest.mark.parametrize("code", ["ENOSPC", "EDQUOT"])
def test_full_disk_names_the_file_keeps_the_old_one_and_says_how_to_resume(tmp_path, code):
    import errno

    from kit.project import atomic_path, atomic_write_text
    from kit.project.files import DiskFullError

    number = getattr(errno, code, errno.ENOSPC)
    target = tmp_path / "evaluation.csv"
    atomic_write_text(target, "the previous, complete file\n")

    def writer_on_a_full_disk(path):  # writes part of the file, then the disk is full
        path.write_text("half a fi")
        raise OSError(number, os.strerror(number))

    with pytest.raises(OSError) as raised:
        with atomic_path(target) as tmp:
            writer_on_a_full_disk(tmp)
    error = raised.value
    assert isinstance(error, DiskFullError) and error.errno == number
    assert str(target) in str(error) and "run the same command again" in str(error)
    assert "resumes from the last complete save" in str(error)
    assert target.read_text() == "the previous, complete file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation.csv"]  # no temporary left


def test_other_write_errors_pass_through_unchanged(tmp_path):
    from kit.project import atomic_path
    from kit.project.files import DiskFullError

    with pytest.raises(PermissionError) as raised:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
            raise PermissionError(13, "Permission denied")
    assert not isinstance(raised.value, DiskFullError)
    assert list(tmp_path.iterdir()) == []


def test_image_paths_from_label_index_names_written_on_windows_or_posix(tmp_path):
    project = create_project(tmp_path / "p", "mouse", "ann", ["a"])
    expected = project.root / "labeled-data" / "v" / "img1.png"
    assert project.image_path("labeled-data/v/img1.png") == expected
    assert project.image_path("labeled-data\\v\\img1.png") == expected  # DeepLabCut on Windows


def test_analysis_scorer_names_the_models_network_as_deeplabcut_does(tmp_path):
    project = create_project(tmp_path / "p", "mouse", "me", ["a"])
    stem = f"mouse{project.date}shuffle2_500"
    assert project.analysis_scorer(2, 500) == f"DLC_resnet50_{stem}"
    assert project.analysis_scorer(2, 500, "mobilenet_v2_0.35") == f"DLC_mobnet_35_{stem}"
    assert project.analysis_scorer(2, 500, "efficientnet-b3") == f"DLC_effnet_b3_{stem}"
    with pytest.raises(ValueError, match="net_type='vgg'.*Known"):
        project.analysis_scorer(1, 1, "vgg")


def test_pcutoff_resolves_in_one_place(blob_project):
    from kit.project.config import DEFAULT_PCUTOFF, check_pcutoff, resolve_pcutoff
    from kit.project.drawing import PoseStyle
    from kit.results.filters import FilterConfig
    from kit.results.outliers import OutlierConfig, SuggestConfig

    assert resolve_pcutoff(None, blob_project) == blob_project.pcutoff  # None: the config's
    assert resolve_pcutoff(0.25, blob_project) == 0.25 and resolve_pcutoff(1, blob_project) == 1.0
    lowered = update_config(blob_project, pcutoff=0.3)
    assert resolve_pcutoff(None, lowered) == 0.3
    for bad in (1.5, -0.1, float("nan"), True, "0.5"):
        with pytest.raises(ValueError, match=r"pcutoff must be in \[0, 1\].*Received: pcutoff="):
            check_pcutoff(bad)
    with pytest.raises(ValueError, match="pcutoff"):
        resolve_pcutoff(-1.0, blob_project)  # negative is a notebook's word for None, not kit's
    assert {PoseStyle().pcutoff, FilterConfig().pcutoff, OutlierConfig().pcutoff,
            SuggestConfig().pcutoff} == {DEFAULT_PCUTOFF}
    with pytest.raises(ValueError, match="pcutoff"):
        SuggestConfig(pcutoff=2.0)
