"""Sweeps: Dask and serial runs of the same jobs give the same models; failures are retried."""

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, make_blob_project

from kit.experiments.runner import Step, load_pipeline
from kit.experiments.sweep import (
    SweepConfig,
    default_num_workers,
    load_sweep,
    run_sweep,
    thread_environment,
    visible_gpus,
)

pytest.importorskip("distributed")

TRAIN = REPO / "notebooks" / "03_train.ipynb"
EVALUATE = REPO / "notebooks" / "04_evaluate.ipynb"
SHUFFLES = (1, 2)


def _train_jobs(project_dir):
    """A tiny learning-curve-like sweep: one training per shuffle (its own split and seed)."""
    return [(TRAIN, {"project_dir": str(project_dir), "shuffle": shuffle, "train_fraction": 0.8,
                     "train_steps": 2, "batch_size": 2, "crop_size": 64, "save_every": 1,
                     "seed": shuffle, "weights": "", "train_settings": "batchnorm_batches=1"})
            for shuffle in SHUFFLES]


def _evaluate_jobs(project_dir):
    return [(EVALUATE, {"project_dir": str(project_dir), "shuffle": shuffle, "train_fraction": 0.8,
                        "pcutoff": 0.1, "num_figure_frames": 1}) for shuffle in SHUFFLES]


def _weights(model_file):
    """The layers' arrays of a .keras file (read from its model.weights.h5, without building
    the model; optimizer variables, if saved, left out)."""
    import io
    import zipfile

    import h5py

    arrays = []
    with zipfile.ZipFile(model_file) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
        f["layers"].visititems(lambda name, item: arrays.append((name, item[()]))
                               if isinstance(item, h5py.Dataset) else None)
    return arrays


def _models(project_dir):
    """Per model folder: its train_log's losses (not data_wait_fraction and seconds_per_step,
    timings) and final weights."""
    from kit.net.model_folder import ModelFolder

    folders = [ModelFolder(d) for d in sorted(project_dir.glob("kit-models/*/*"))]
    timings = ["data_wait_fraction", "seconds_per_step"]
    return {f.path.name: (pd.read_csv(f.train_log_file).drop(columns=timings),
                          _weights(f.model_file)) for f in folders}


@pytest.fixture(scope="module")
def dask_and_serial(tmp_path_factory):
    """Two trainings and a failing job on 2 Dask workers; the first training serially.

    One thread per notebook kernel in both: TensorFlow on the CPU is bit-exact for the
    same seed and thread count, but a different thread count sums in another order, and
    a random-init ResNet on batches of 2 amplifies that last bit to percents in 2 steps.
    """
    root = tmp_path_factory.mktemp("sweep")
    on_dask = make_blob_project(root / "dask").root
    serial = shutil.copytree(on_dask, root / "serial")
    bad = (TRAIN, {"project_dir": str(on_dask), "shuffle": 9, "optimizer": "rmsprop"})
    # The failing job first: its two attempts then overlap the trainings.
    dask_table = run_sweep([bad] + _train_jobs(on_dask), None,
                           SweepConfig(num_workers=2, retries=1, threads=1))
    serial_table = run_sweep(_train_jobs(serial)[:1], "serial", SweepConfig(threads=1))
    return on_dask, serial, dask_table, serial_table


def _assert_same_models(on_dask, serial):
    a, b = _models(on_dask), _models(serial)
    assert b and set(b) <= set(a)
    for name in b:
        (log_a, weights_a), (log_b, weights_b) = a[name], b[name]
        pd.testing.assert_frame_equal(log_a, log_b, rtol=1e-5)
        assert len(weights_a) > 300  # ResNet-50's kernels, biases, batch-norm statistics
        for (name_a, wa), (name_b, wb) in zip(weights_a, weights_b, strict=True):
            assert name_a == name_b
            np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6, err_msg=name_a)


@pytest.mark.slow  # a Dask cluster training notebooks: minutes on 2 cores
def test_dask_and_serial_sweeps_train_the_same_models(dask_and_serial):
    on_dask, serial, dask_table, serial_table = dask_and_serial
    assert dask_table.status.tolist()[1:] == ["done", "done"], dask_table.error.tolist()
    assert serial_table.status.tolist() == ["done"], serial_table.error.tolist()
    assert dask_table.job[1] == "03_train" and dask_table.parameters[1]["shuffle"] == 1
    assert len(_models(on_dask)) == len(SHUFFLES)
    _assert_same_models(on_dask, serial)
    assert len(list(on_dask.glob("runs/*-03_train/done.json"))) == len(SHUFFLES)


@pytest.mark.slow  # a Dask cluster training notebooks: minutes on 2 cores
def test_failing_job_is_retried_once_reported_and_the_others_finish(dask_and_serial):
    on_dask, _, dask_table, _ = dask_and_serial
    failed = dask_table.iloc[0]
    assert failed.status == "failed" and failed.attempts == 2 and failed.folder == ""
    assert "03_train.ipynb failed in cell" in failed.error and "rmsprop" in failed.error
    assert len(list(on_dask.glob("runs/*-03_train/parameters.yaml"))) == len(SHUFFLES) + 2


@pytest.mark.slow  # a Dask cluster training notebooks: minutes on 2 cores
def test_a_sweep_started_again_redoes_nothing(dask_and_serial):
    on_dask, serial, _, _ = dask_and_serial
    for project, scheduler, jobs in ((serial, "serial", 1), (on_dask, None, 2)):
        again = run_sweep(_train_jobs(project)[:jobs], scheduler, SweepConfig(num_workers=1))
        assert again.status.tolist() == ["skipped"] * jobs
        assert again.attempts.tolist() == [1] * jobs


@pytest.mark.slow
def test_dask_and_serial_sweeps_are_equal_to_the_end(dask_and_serial):
    """The rest of the serial sweep, then 04_evaluate of both shuffles, on Dask and serially."""
    on_dask, serial, _, _ = dask_and_serial
    assert run_sweep(_train_jobs(serial), "serial", SweepConfig(threads=1)).status.tolist() == [
        "skipped", "done"]
    _assert_same_models(on_dask, serial)
    assert len(_models(serial)) == len(SHUFFLES)
    table = run_sweep(_evaluate_jobs(on_dask), None, SweepConfig(num_workers=2, threads=1))
    assert table.status.tolist() == ["done"] * 2
    assert run_sweep(_evaluate_jobs(serial), "serial", SweepConfig(threads=1)).status.tolist() == ["done"] * 2
    evaluations = sorted(on_dask.glob("evaluation-results-kit/*/*/evaluation.csv"))
    assert len(evaluations) == len(SHUFFLES)
    for a in evaluations:
        b = serial / a.relative_to(on_dask)
        pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b), rtol=1e-5, atol=1e-4)


def test_sweep_file_gives_one_pipeline_per_entry(tmp_path):
    (tmp_path / "p").mkdir()
    file = tmp_path / "sweep.yaml"
    file.write_text(
        "parameters: {project_dir: p, train_steps: 3}\n"
        "sweep: [{shuffle: 1}, {shuffle: 2, train_fraction: 0.5}]\n"
        f"steps: [{{notebook: {TRAIN}}}, {{notebook: {EVALUATE}}}]\n")
    jobs = load_sweep(file)
    assert [[s.notebook.name for s in job] for job in jobs] == [[TRAIN.name, EVALUATE.name]] * 2
    assert jobs[1][0].parameters == {"project_dir": str(tmp_path / "p"), "train_steps": 3,
                                     "shuffle": 2, "train_fraction": 0.5}
    assert "train_steps" not in jobs[1][1].parameters  # 04_evaluate does not declare it
    with pytest.raises(ValueError, match="kit sweep"):
        load_pipeline(file)


def test_backbone_sweep_file_covers_every_backbone_with_matching_variants():
    """pipelines/backbones.yaml: one job per registered backbone; each evaluation is told
    the model its training writes (find_model's parameters select it from the others)."""
    from kit.net.backbones import BACKBONES
    from kit.net.model_query import ModelQuery, query_of
    from kit.net.train_config import FLAT_PARAMETERS, TrainConfig

    jobs = load_sweep(REPO / "pipelines" / "backbones.yaml")
    net_types, trained = [], [
        query_of(TrainConfig.from_parameters(**{k: v for k, v in t.parameters.items()
                                                 if k in FLAT_PARAMETERS}).to_dict())
        for t, _ in jobs]
    for (train_step, evaluate_step), model in zip(jobs, trained):
        flat = {k: v for k, v in train_step.parameters.items() if k in FLAT_PARAMETERS}
        which = ModelQuery(**{k: v for k, v in evaluate_step.parameters.items()
                              if k in ModelQuery.__dataclass_fields__})
        assert [m for m in trained if which.matches(m)] == [model]
        assert train_step.parameters["weights"] == ""  # synthetic frames: from scratch
        net_types.append(flat["net_type"])
    assert net_types == list(BACKBONES)


def test_bad_jobs_and_retries_are_refused():
    with pytest.raises(ValueError, match="A job is"):
        run_sweep(["03_train.ipynb"], scheduler="serial")
    with pytest.raises(ValueError, match="retries"):
        SweepConfig(retries=-1)
    assert isinstance(Step(TRAIN, {}).notebook, type(TRAIN))


def test_workers_follow_gpus_else_half_the_cores(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,2")
    assert visible_gpus() == ["0", "2"] and default_num_workers() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == [] and default_num_workers() >= 1
    assert default_num_workers([]) == max(1, (__import__("os").cpu_count() or 1) // 2)
    assert thread_environment(3)["TF_NUM_INTRAOP_THREADS"] == "3"


def _tiny_job(tmp_path, word):
    """A notebook that writes ``word`` to a file: a job that trains nothing."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    parameters = nbformat.v4.new_code_cell(
        'out: str = "word.txt"  # where the word goes\nword: str = "a"  # what to write')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(
        "from pathlib import Path\nPath(out).write_text(word)")]
    notebook = tmp_path / "tiny.ipynb"
    nbformat.write(nb, notebook)
    return (notebook, {"out": str(tmp_path / f"{word}.txt"), "word": word})


def test_a_sweep_runs_on_an_encrypted_scheduler(tmp_path):
    pytest.importorskip("cryptography")
    from distributed import LocalCluster
    from distributed.security import Security

    security = Security.temporary()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://",
                      security=security, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        with pytest.raises(ValueError, match="tls:// scheduler needs"):
            run_sweep([_tiny_job(tmp_path, "x")], address)
        table = run_sweep([_tiny_job(tmp_path, "hello")], address,
                          SweepConfig(runs_dir=tmp_path / "runs", security=security))
    assert table.status.tolist() == ["done"], table.error.tolist()
    assert (tmp_path / "hello.txt").read_text() == "hello"


def test_command_line_tls_flags_make_a_security(tmp_path):
    pytest.importorskip("cryptography")
    from distributed.security import Security

    from kit.__main__ import _parser, _security

    args = _parser().parse_args(["sweep", "f.yaml", "--security", "temporary"])
    security = _security(args)
    assert isinstance(security, Security) and security.require_encryption
    args = _parser().parse_args(["sweep", "f.yaml", "--scheduler", "tls://h:8786",
                                 "--tls-ca-file", "ca.pem", "--tls-cert", "c.pem",
                                 "--tls-key", "k.pem"])
    security = _security(args)
    assert (security.tls_ca_file, security.tls_client_cert, security.tls_client_key) == (
        "ca.pem", "c.pem", "k.pem")
    args = _parser().parse_args(["sweep", "f.yaml", "--scheduler", "tls://h:8786",
                                 "--security", "temporary"])
    with pytest.raises(ValueError, match="only a cluster started here"):
        _security(args)
    assert _security(_parser().parse_args(["sweep", "f.yaml"])) is None
