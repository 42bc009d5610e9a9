"""``python -m fastmlp.bench.features``: each case trains until its warm-up is over and then times
the asked number of epochs (so that an optimizer's cut kernel is in), and the table gives each
case's ratio to its baseline and to plain SGD. Nothing here is timed."""
import time

import pytest

import fastmlp
from fastmlp.bench import features, measure


def test_a_case_times_the_epochs_after_the_warm_up_then_stops(monkeypatch):
    said, fit = [], fastmlp.MLP.fit  # (seconds since the fit began, what the case's clock returned) per epoch

    def spy(self, X, y, **kw):
        clock, t0 = kw["callbacks"][-1], time.perf_counter()

        def watched(epoch, logs):
            stop = clock(epoch, logs)
            said.append((time.perf_counter() - t0, stop))
            return stop
        kw["callbacks"] = kw["callbacks"][:-1] + [watched]
        return fit(self, X, y, **kw)
    monkeypatch.setattr(fastmlp.MLP, "fit", spy)
    monkeypatch.setattr(measure, "WARMUP_S", 0.5)
    rec = features.run_case("momentum", 256, 3)
    assert rec["case"] == "momentum" and rec["samples_per_s"] > 0 and rec["loss"] > 0
    stops = [stop for _, stop in said]
    assert stops[-1] is True and not any(stops[:-1])  # it stopped at the first True
    # 3 timed epochs: the last 4 epoch ends, past the warm-up; every earlier one within it (the case's
    # clock started before the fit, so an end is at least as late by it as by this one)
    assert len(said) >= 4 and all(t < 0.5 for t, _ in said[:-4])


def test_the_table_gives_each_ratio_to_its_baseline_and_to_plain_sgd():
    best = {"sgd": {"samples_per_s": 100e3}, "adam": {"samples_per_s": 80e3},
            "adamw": {"samples_per_s": 60e3}, "momentum_weight_decay": {"samples_per_s": 90e3}}
    lines = features.table(best).splitlines()
    assert lines[0] == "| case | samples/s | vs baseline | baseline | vs plain SGD |"
    assert "| sgd | 100.0k | - | - | - |" in lines
    assert "| adam | 80.0k | 0.80x | sgd | 0.80x |" in lines
    assert "| adamw | 60.0k | 0.75x | adam | 0.60x |" in lines
    assert "| momentum_weight_decay | 90.0k | - | momentum | 0.90x |" in lines  # its baseline not measured


@pytest.mark.parametrize("case", sorted(features.CASES))
def test_every_case_names_a_baseline_that_is_a_case(case):
    base = features.CASES[case][0]
    assert base is None or base in features.CASES
