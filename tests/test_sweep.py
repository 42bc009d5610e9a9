"""Sweeps: grid expansion, records, divergence, CSV/JSON, processes and Dask."""
import csv
import functools
import math

import numpy as np
import pytest

from fastmlp import datasets
from fastmlp.sweep import SweepResult, expand_grid, sweep


@pytest.fixture(scope="module")
def data():
    return datasets.circles(n_samples=120, seed=0)


def test_expand_grid_is_the_cartesian_product_last_key_fastest():
    runs = expand_grid({"batch_size": [1, 10], "lr": [0.1, 0.5, 1.0]})
    assert len(runs) == 6
    assert runs[0] == {"batch_size": 1, "lr": 0.1} and runs[1] == {"batch_size": 1, "lr": 0.5}
    assert expand_grid([{"lr": 1}]) == [{"lr": 1}]


@pytest.mark.parametrize("grid", [{"lr": 0.1}, {"lr": []}, "lr", []])
def test_bad_grids_are_refused(grid):
    with pytest.raises((TypeError, ValueError)):
        expand_grid(grid)


def test_records_have_metrics_curves_and_a_divergent_run(data):
    res = sweep(data, {"batch_size": [8, 40], "lr": [0.1, 1e30]}, base={"epochs": 3}, n_jobs=1)
    assert len(res) == 4 and res.varied == ["batch_size", "lr"]
    ok = res.select(batch_size=8, lr=0.1)[0]
    assert not ok["diverged"] and ok["error"] is None and ok["epochs_run"] == 3
    assert 0 <= ok["test_accuracy"] <= 1 and math.isfinite(ok["train_loss"]) and ok["seconds"] > 0
    assert len(ok["curves"]["loss"]) == 3 and len(ok["curves"]["test_loss"]) == 3
    bad = res.select(lr=1e30)
    assert len(bad) == 2 and all(r["diverged"] for r in bad)
    assert all(r["epochs_run"] < 3 for r in bad)
    rows, cols, values, diverged = res.table("batch_size", "lr", "test_accuracy")
    assert rows == [8, 40] and cols == [0.1, 1e30]
    assert diverged.tolist() == [[False, True], [False, True]]
    assert values[0, 0] == ok["test_accuracy"]


def test_same_seed_same_result_and_validation_split(data):
    grid = {"seed": [3, 3], "hidden": [(8, 4)]}
    res = sweep(data, grid, base={"epochs": 2, "validation_split": 0.25}, n_jobs=1)
    a, b = res.records
    assert a["curves"]["loss"] == b["curves"]["loss"]
    assert math.isfinite(a["val_loss"]) and len(a["curves"]["val_accuracy"]) == 2


def test_csv_and_json_round_trip(data, tmp_path):
    res = sweep(data, {"lr": [0.05, 0.2]}, base={"epochs": 2, "width": 4, "depth": 2}, n_jobs=1)
    res.to_csv(tmp_path / "s.csv")
    with open(tmp_path / "s.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["lr"]) for r in rows] == [0.05, 0.2]
    assert rows[0]["width"] == "4" and "test_accuracy" in rows[0] and "curves" not in rows[0]
    res.to_json(tmp_path / "s.json")
    back = SweepResult.from_json(tmp_path / "s.json")
    assert back.to_json() == res.to_json() and back.varied == ["lr"]
    assert "hidden" not in back.records[0]["params"]


@pytest.mark.parametrize("grid, base", [({"batchsize": [1]}, None), ({"lr": [-1.0]}, None),
                                        ({"activation": ["nope"]}, None), ({"epochs": [0]}, None),
                                        ({"lr": [0.1]}, {"optimizer": "nadam"})])
def test_bad_settings_fail_before_any_run(data, grid, base):
    with pytest.raises(ValueError):
        sweep(data, grid, base=base, n_jobs=1)


def test_process_pool_matches_in_process(data):
    grid = {"lr": [0.1, 1e30]}
    base = {"epochs": 2, "batch_size": 16}
    local = sweep(data, grid, base=base, n_jobs=1)
    pooled = sweep(data, grid, base=base, n_jobs=2)
    for a, b in zip(local.records, pooled.records):
        assert a["curves"]["loss"] == b["curves"]["loss"] and a["diverged"] == b["diverged"]


def test_dask_local_cluster(data):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            distributed.Client(c) as client:
        res = sweep(data, {"lr": [0.1, 1e30]}, base={"epochs": 2, "batch_size": 16}, client=client)
    local = sweep(data, {"lr": [0.1, 1e30]}, base={"epochs": 2, "batch_size": 16}, n_jobs=1)
    assert [r["diverged"] for r in res.records] == [False, True]
    assert np.allclose(res.records[0]["curves"]["loss"], local.records[0]["curves"]["loss"])


def test_each_run_warms_up_its_own_kernels_before_the_clock_starts(data, monkeypatch):
    """Batch size 1 trains with another kernel than larger batches: each run rehearses its own
    settings (so a cell's wall time holds no compile time), before its timed fit."""
    import fastmlp.sweep as module
    calls = []
    real = module.warm_up
    monkeypatch.setattr(module, "warm_up", lambda model, X, y, **kw: calls.append(kw) or real(model, X, y, **kw))
    sweep(data, {"batch_size": [1, 10], "optimizer": ["sgd", "adam"]}, base={"epochs": 1}, n_jobs=1)
    assert [(c["batch_size"], c["optimizer"]) for c in calls] == [(1, "sgd"), (1, "adam"), (10, "sgd"), (10, "adam")]
    assert all(c["lr"] == 0.1 and c["epochs"] == 1 for c in calls)


def test_json_is_valid_and_reads_back_nan(data, tmp_path):
    import json
    res = sweep(data, {"lr": [0.1]}, base={"epochs": 1}, n_jobs=1)  # no validation: val metrics are NaN
    text = res.to_json(tmp_path / "s.json")
    record = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))["records"][0]
    assert record["val_loss"] is None and record["curves"]["val_loss"] == [None]
    back = SweepResult.from_json(tmp_path / "s.json").records[0]
    assert math.isnan(back["val_loss"]) and math.isnan(back["curves"]["val_loss"][0])
    assert back["test_accuracy"] == res.records[0]["test_accuracy"]


# -- any setting in the grid: model, trainer, fit and data ------------------------------------------
def test_data_settings_generate_data_per_run_by_name():
    res = sweep("circles", {"n_samples": [60, 200], "noise": [0.0, 0.3]}, base={"epochs": 1, "test_size": 0.25},
                n_jobs=1)
    assert len(res) == 4 and res.varied == ["n_samples", "noise"]
    for r in res.records:
        n = r["params"]["n_samples"]
        assert r["error"] is None and len(r["curves"]["loss"]) == 1
        # test accuracy is a fraction of the generated test split (a quarter of the points)
        assert (r["test_accuracy"] * n / 4) == pytest.approx(round(r["test_accuracy"] * n / 4))
    same_data = sweep("circles", {"seed": [0, 0]}, base={"epochs": 1, "n_samples": 80, "noise": 0.1}, n_jobs=1)
    assert same_data.records[0]["test_loss"] == same_data.records[1]["test_loss"]
    other = sweep("circles", {"data_seed": [0, 1]}, base={"epochs": 1, "n_samples": 80}, n_jobs=1)
    assert other.records[0]["test_loss"] != other.records[1]["test_loss"]


def test_data_function_gets_only_the_settings_given():
    calls = []

    def make(**kw):
        calls.append(kw)
        return datasets.moons(**kw)
    sweep(make, {"noise": [0.1, 0.2], "lr": [0.1, 0.2]}, base={"epochs": 1}, n_jobs=1)
    assert calls == [{"seed": 0, "noise": 0.1}, {"seed": 0, "noise": 0.2}]  # once per distinct data setting


def test_n_train_trains_on_that_many_rows(data):
    res = sweep(data, {"n_train": [10, 40]}, base={"epochs": 1, "batch_size": 10}, n_jobs=1)
    small, large = res.records
    assert small["train_accuracy"] * 10 == pytest.approx(round(small["train_accuracy"] * 10))
    assert small["curves"]["loss"] != large["curves"]["loss"]


def test_model_trainer_and_fit_settings_reach_the_run(data, monkeypatch):
    import fastmlp.sweep as module
    seen = []
    real_fit = module.Trainer.fit

    @functools.wraps(real_fit)  # the settings are read from fit's signature
    def spy(trainer, X, y, *args, **kw):
        seen.append((trainer.model.copy(), trainer.optimizer, trainer.schedule, len(X), kw))  # before training
        return real_fit(trainer, X, y, *args, **kw)
    monkeypatch.setattr(module.Trainer, "fit", spy)
    res = sweep(data, {"init": ["normal"], "init_std": [0.3], "bias_init": [0.5], "dtype": ["float64"],
                 "optimizer": ["sgd"], "momentum": [0.8], "nesterov": [True], "schedule": ["exponential"],
                 "shuffle": [False], "drop_last": [True], "batch_size": [7], "n_train": [50]},
          base={"epochs": 1}, n_jobs=1)
    assert res.records[0]["error"] is None, res.records[0]["error"]
    model, optimizer, schedule, n, kw = seen[-1]
    assert model.dtype == np.float64 and np.all(model.b[0] == 0.5) and n == 50
    assert 0.2 < model.W[0].std() < 0.4  # init normal, init_std 0.3
    assert optimizer.name == "sgd" and optimizer.hyper["momentum"] == 0.8 and optimizer.hyper["nesterov"] is True
    assert schedule.name == "exponential"
    assert kw["shuffle"] is False and kw["drop_last"] is True and kw["batch_size"] == 7


@pytest.mark.parametrize("grid, says", [
    ({"n_samples": [50]}, "make new data"),
    ({"noize": [0.1]}, "unknown sweep setting 'noize'; the known ones are"),
    ({"n_train": [10_000]}, "n_train=10000 exceeds"),
])
def test_data_setting_mistakes_fail_before_any_run(data, grid, says):
    with pytest.raises(ValueError) as e:
        sweep(data, grid, base={"epochs": 1}, n_jobs=1)
    assert says in str(e.value)
    with pytest.raises(ValueError, match="noise must be"):
        sweep("circles", {"noise": [-1.0]}, base={"epochs": 1}, n_jobs=1)


def test_process_pool_with_generated_data_matches_in_process():
    grid = {"n_samples": [60, 90]}
    local = sweep("xor", grid, base={"epochs": 2}, n_jobs=1)
    pooled = sweep("xor", grid, base={"epochs": 2}, n_jobs=2)
    assert [r["curves"]["loss"] for r in local.records] == [r["curves"]["loss"] for r in pooled.records]


def test_dask_with_generated_data_matches_in_process():
    distributed = pytest.importorskip("dask.distributed")
    grid = {"n_samples": [60, 90], "lr": [0.1]}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            distributed.Client(c) as client:
        res = sweep("xor", grid, base={"epochs": 2}, client=client)
    local = sweep("xor", grid, base={"epochs": 2}, n_jobs=1)
    for a, b in zip(res.records, local.records):
        assert np.allclose(a["curves"]["loss"], b["curves"]["loss"]) and a["test_loss"] == pytest.approx(b["test_loss"])
