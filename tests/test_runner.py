"""The runner's pipelines and the command line (tiny notebooks, so each run takes seconds)."""

from pathlib import Path

import nbformat
import pytest
from conftest import REPO

from kit.__main__ import main
from kit.experiments.runner import load_pipeline, notebook_parameters


def _tiny_notebook(path: Path) -> Path:
    """A notebook that appends its ``word`` to ``out_dir``/log.txt (``fail`` makes it raise)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    parameters = nbformat.v4.new_code_cell(
        'out_dir: str = "."  # where log.txt goes\nword: str = "a"  # what to write\n'
        "fail: bool = False  # raise instead")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(
        "from pathlib import Path\n"
        "assert not fail, f'asked to fail at {word}'\n"
        "with open(Path(out_dir) / 'log.txt', 'a') as f:\n    f.write(word)")]
    nbformat.write(nb, path)
    return path


def _pipeline(tmp_path: Path, steps: str) -> Path:
    _tiny_notebook(tmp_path / "tiny.ipynb")
    (tmp_path / "out").mkdir(exist_ok=True)
    file = tmp_path / "pipeline.yaml"
    file.write_text(f"parameters: {{out_dir: out}}\nsteps:\n{steps}")
    return file


def _run(tmp_path: Path, file: Path, *options: str) -> int:
    return main(["pipeline", str(file), "--runs-dir", str(tmp_path / "out" / "runs"), *options])


def _log(tmp_path: Path) -> str:
    return (tmp_path / "out" / "log.txt").read_text()


def test_notebook_parameters_are_read_from_the_parameters_cell():
    assert notebook_parameters(REPO / "notebooks" / "04_evaluate.ipynb")[:3] == [
        "project_dir", "shuffle", "train_fraction"]


def test_example_pipeline_shares_parameters_only_where_declared():
    steps = load_pipeline(REPO / "pipelines" / "synthetic.yaml")
    assert [s.notebook.name for s in steps] == [
        "03_train.ipynb", "04_evaluate.ipynb", "05_analyze_videos.ipynb"]
    project = str(REPO / "runs" / "synthetic" / "project")  # relative to the file's folder
    assert all(s.parameters["project_dir"] == project for s in steps)
    assert "batch_size" not in steps[1].parameters  # 04_evaluate does not declare it
    assert steps[0].parameters["train_steps"] == 240 and steps[2].parameters["filter"] == "median"


def test_unknown_step_parameters_and_files_without_steps_are_refused(tmp_path):
    bad = _pipeline(tmp_path, "  - notebook: tiny.ipynb\n    parameters: {wrod: b}\n")
    with pytest.raises(ValueError, match=r"does not declare: \['wrod'\]"):
        load_pipeline(bad)
    (tmp_path / "empty.yaml").write_text("parameters: {a: 1}\n")
    with pytest.raises(ValueError, match="'steps'"):
        load_pipeline(tmp_path / "empty.yaml")
    assert _run(tmp_path, bad) == 1


def test_pipeline_runs_in_order_skips_completed_steps_and_redoes(tmp_path, capsys):
    file = _pipeline(tmp_path, "  - notebook: tiny.ipynb\n  - notebook: tiny.ipynb\n"
                               "    parameters: {word: b}\n")
    assert _run(tmp_path, file) == 0
    assert _log(tmp_path) == "ab"
    assert len(list((tmp_path / "out" / "runs").glob("*-tiny/tiny.ipynb"))) == 2
    assert _run(tmp_path, file) == 0  # both completed: nothing runs
    assert _log(tmp_path) == "ab"
    assert capsys.readouterr().out.count("already completed") == 2
    assert _run(tmp_path, file, "--redo") == 0
    assert _log(tmp_path) == "abab"


def test_a_step_run_anew_makes_the_later_steps_run_again(tmp_path):
    file = _pipeline(tmp_path, "  - notebook: tiny.ipynb\n  - notebook: tiny.ipynb\n"
                               "    parameters: {word: b}\n")
    assert _run(tmp_path, file) == 0
    (tmp_path / "out" / "runs").rename(tmp_path / "out" / "old")  # forget step 1's record
    for done in (tmp_path / "out" / "old").glob("*/done.json"):  # but keep step 2's
        if "word: b" in (done.parent / "parameters.yaml").read_text():
            (tmp_path / "out" / "runs").mkdir()
            done.parent.rename(tmp_path / "out" / "runs" / done.parent.name)
    assert _run(tmp_path, file) == 0
    assert _log(tmp_path) == "abab"


def test_pipeline_stops_at_the_first_failing_step_and_names_it(tmp_path, capsys):
    file = _pipeline(tmp_path, "  - notebook: tiny.ipynb\n  - notebook: tiny.ipynb\n"
                               "    parameters: {word: b, fail: true}\n"
                               "  - notebook: tiny.ipynb\n    parameters: {word: c}\n")
    assert _run(tmp_path, file) == 1
    err = capsys.readouterr().err
    assert "step 2 of 3: tiny.ipynb failed in cell 3: AssertionError: asked to fail at b" in err
    assert _log(tmp_path) == "a"  # step 3 never ran


def test_synthetic_command_makes_a_project(tmp_path, capsys):
    assert main(["synthetic", str(tmp_path / "p"), "--num-frames", "6", "--num-labeled", "3",
                 "--image-size", "64", "48"]) == 0
    assert (tmp_path / "p" / "config.yaml").is_file()
    assert len(list((tmp_path / "p" / "labeled-data").glob("*/*.png"))) == 3
    assert str(tmp_path / "p") in capsys.readouterr().out


@pytest.mark.slow
def test_synthetic_pipeline_train_evaluate_analyze(tmp_path):
    """The example pipeline, tiny: every notebook and its figures land in the project."""
    project = tmp_path / "project"
    assert main(["synthetic", str(project), "--num-frames", "20", "--num-labeled", "10",
                 "--image-size", "96", "96"]) == 0
    text = (REPO / "pipelines" / "synthetic.yaml").read_text()
    text = text.replace("../runs/synthetic/project", str(project)).replace(
        "../notebooks", str(REPO / "notebooks")).replace("train_steps: 240", "train_steps: 2")
    text = text.replace("crop_size: 160", "crop_size: 64").replace("batch_size: 8", "batch_size: 2")
    (tmp_path / "p.yaml").write_text(text)
    assert main(["pipeline", str(tmp_path / "p.yaml")]) == 0
    runs = sorted(p.name.split("-", 3)[-1] for p in (project / "runs").glob("*/done.json"))
    assert runs == ["03_train", "04_evaluate", "05_analyze_videos"]
    assert list(project.glob("evaluation-results-kit/*/*/test_frames.png"))
    assert list(project.glob("videos/*_labeled.mp4"))


def _environment_notebook(path: Path) -> Path:
    """A notebook that writes its kernel's TF_ENABLE_ONEDNN_OPTS into ``out``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    parameters = nbformat.v4.new_code_cell('out: str = "env.txt"  # where the value goes')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(
        "import os\nfrom pathlib import Path\n"
        "Path(out).write_text(str(os.environ.get('TF_ENABLE_ONEDNN_OPTS')))")]
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("user_value, kernel_value", [(None, "1"), ("0", "0")])
def test_kernels_get_onednn_unless_the_user_said_otherwise(tmp_path, monkeypatch, user_value,
                                                           kernel_value):
    import os

    from kit.experiments.runner import run_notebook

    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    if user_value is not None:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", user_value)
    notebook = _environment_notebook(tmp_path / "env.ipynb")
    run_notebook(notebook, {"out": str(tmp_path / "env.txt")}, tmp_path / "runs",
                 log_to_console=False)
    assert (tmp_path / "env.txt").read_text() == kernel_value
    assert os.environ.get("TF_ENABLE_ONEDNN_OPTS") == user_value  # this process: unchanged


def test_path_parameters_with_windows_separators_are_made_absolute(tmp_path, monkeypatch):
    from kit.experiments import runner

    monkeypatch.setattr(runner, "_SEPARATORS", ("/", "\\"))  # as on Windows (os.sep == "\\")
    resolved = runner.resolve_parameters(
        {"workdir": "runs\\quickstart", "word": "adam", "n": 3}, tmp_path)
    assert Path(resolved["workdir"]).is_absolute() and resolved["workdir"].startswith(str(tmp_path))
    assert resolved["word"] == "adam" and resolved["n"] == 3  # not paths: unchanged
