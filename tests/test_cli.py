"""The fastmlp command, run in-process through main([...])."""
import json

import pytest

from fastmlp.cli import main


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["figures"] and all((tmp_path / f).stat().st_size > 0 for f in summary["figures"])
    assert summary["batch_lr_sweep"]["runs"] == 9
    assert str(tmp_path) in capsys.readouterr().out


def test_train_circles(tmp_path, capsys):
    code = main(["train", "--dataset", "circles", "--layers", "8", "--epochs", "3", "--lr", "0.2",
                 "--validation-split", "0.2", "--out", str(tmp_path), "--backend", "numpy"])
    assert code == 0
    for name in ("model.npz", "history.json", "curves.png", "boundary.png"):
        assert (tmp_path / name).stat().st_size > 0
    hist = json.loads((tmp_path / "history.json").read_text())
    assert len(hist["rows"]) == 3 and "test" in hist["result"]
    assert "epoch 3/3" in capsys.readouterr().out


def test_sweep_tiny(tmp_path):
    code = main(["sweep", "--batch-sizes", "10,50", "--lrs", "0.1,1e30", "--epochs", "2", "--n-jobs", "1",
                 "--n-samples", "80", "--activation", "relu", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    rows = (tmp_path / "sweep.csv").read_text().splitlines()
    assert len(rows) == 5
    records = json.loads((tmp_path / "sweep.json").read_text())["records"]
    assert [r["diverged"] for r in records] == [False, True, False, True]
    assert (tmp_path / "heatmaps.png").stat().st_size > 0


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numba" in out and "fashion_mnist" in out and "threads" in out
    assert main(["info", "--json"]) == 0
    assert "versions" in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("argv", [[], ["nope"], ["train", "--epochs", "x"], ["train", "--epochs", "0"],
                                  ["train", "--activation", "swish"], ["sweep", "--lrs", "a,b"],
                                  ["train", "--layers", "8,-1"], ["sweep", "--n-jobs", "0", "--epochs", "1"]])
def test_bad_arguments_exit_nonzero_with_one_line(argv, capsys, tmp_path):
    code = main(argv + ["--out", str(tmp_path)] if argv and argv[0] in ("train", "sweep") else argv)
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastmlp: error:") and len(err.splitlines()) == 1


def test_help_exits_zero(capsys):
    assert main(["train", "--help"]) == 0
    assert "--batch-size" in capsys.readouterr().out


def test_bench_forwards_or_reports_missing(capsys, monkeypatch):
    import sys
    import types
    seen = {}
    fake = types.ModuleType("fastmlp.bench.report")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 0
    monkeypatch.setitem(sys.modules, "fastmlp.bench.report", fake)
    assert main(["bench", "--quick", "x"]) == 0 and seen["argv"] == ["--quick", "x"]
    monkeypatch.setitem(sys.modules, "fastmlp.bench.report", None)
    assert main(["bench"]) == 2
    assert capsys.readouterr().err.startswith("fastmlp: error:")
