"""The training display: fits any terminal width, never leaves a broken line, shows progress
inside an epoch (percent, loss so far, ETA) at a capped rate, plain lines in logs, works in
notebooks; the kernel notice and the warm-up that feeds it. Time is a fake clock here."""
import io
import re

import numpy as np
import pytest

from fastmlp import MLP, progress
from fastmlp.progress import Progress, fit_line, format_row, kernel_notice, warm_up

ROW = {"epoch": 0, "loss": 0.1234, "accuracy": 0.9, "val_loss": 0.2, "val_accuracy": 0.88, "lr": 0.01,
       "seconds": 0.5, "samples_per_s": 1234567.0}


class Clock:
    """Stands in for the ``time`` module of fastmlp.progress: time moves only when told."""

    def __init__(self):
        self.now = 100.0

    def monotonic(self):
        return self.now

    perf_counter = monotonic


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progress, "time", c)
    return c


def _drive(stream, clock, epochs=3, steps=4, spe=60000):
    p = Progress(1 if isinstance(stream, Terminal) or "ipykernel" in type(stream).__module__ else 2, epochs, spe,
                 stream=stream)
    for e in range(epochs):
        p.start_epoch(e)
        for k in range(1, steps + 1):
            clock.now += 1.0
            p.advance(k * spe // steps, 0.5 / k)
        p.end_epoch(dict(ROW, epoch=e))
    p.close()
    return stream.getvalue()


@pytest.mark.parametrize("columns", [12, 20, 40, 80, 132, 300])
def test_every_redraw_fits_the_terminal_and_overwrites_the_last_fully(columns, clock, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    text = _drive(Terminal(), clock)
    assert text.endswith("\n") and text.count("\n") == 1 and text.startswith("\r")
    draws = text[1:-1].split("\r")
    assert len(draws) == 3 * 4 + 3  # every advance (1 s apart) and every epoch end drew
    previous = 0
    for d in draws:
        assert len(d) <= columns - 1  # never reaches the last column: no wrap, no broken line
        assert len(d) >= previous  # a shorter line is padded over the longer one before it
        previous = len(d.rstrip(" "))
    assert draws[-1].startswith("[####################] epoch 3/3" if columns >= 60 else "epoch 3/3")


def test_in_epoch_progress_shows_percent_loss_rate_and_eta(clock, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    p = Progress(1, 4, 1000, stream=Terminal())
    p.start_epoch(0)
    clock.now += 2.0
    p.advance(250, 0.75)
    line = p.stream.getvalue().split("\r")[-1]
    assert re.match(r"\[#+\.+\] epoch 1/4  25%  loss 0\.7500  250/1,000  125 samples/s  ETA 0:30", line), line


def test_redraws_are_capped_and_logs_get_a_line_per_epoch(clock, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    term = Terminal()
    p = Progress(1, 2, 100, stream=term)
    p.start_epoch(0)
    clock.now += 0.05
    p.advance(1, 0.5)
    assert term.getvalue() == ""  # a young epoch: nothing yet (a short epoch shows only its end)
    clock.now += 0.1
    for k in range(50):  # 50 calls within 0.05 s: one redraw
        clock.now += 0.001
        p.advance(k, 0.5)
    assert term.getvalue().count("\r") == 1
    log = io.StringIO()  # not a terminal: lines, an in-epoch line only after LOG_INTERVAL seconds
    p = Progress(1, 2, 100, stream=log)
    p.start_epoch(0)
    clock.now += 1.0
    p.advance(10, 0.5)
    assert log.getvalue() == ""
    clock.now += progress.LOG_INTERVAL
    p.advance(50, 0.4)
    p.end_epoch(ROW)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2  50%  loss 0.4000") and "\r" not in log.getvalue()
    assert lines[1] == format_row(ROW, 2)


def test_plain_lines_name_every_metric():
    text = format_row(ROW, 5)
    assert text == ("epoch 1/5  loss 0.1234  acc 0.9000  val_loss 0.2000  val_acc 0.8800  lr 0.01  "
                    "1,234,567 samples/s")
    assert "val" not in format_row(dict(ROW, val_loss=float("nan"), val_accuracy=float("nan")), 5)


def test_a_notebook_rewrites_its_line(clock):
    class NotebookStream(io.StringIO):
        pass
    NotebookStream.__module__ = "ipykernel.iostream"  # how Jupyter's stdout presents itself
    text = _drive(NotebookStream(), clock)
    draws = text[1:-1].split("\r")
    assert len(draws) == 15 and max(len(d) for d in draws) <= progress.NOTEBOOK_WIDTH - 1
    assert "val_acc 0.8800" in draws[-1]


def test_quiet_prints_nothing_and_update_is_end_epoch(clock):
    out = io.StringIO()
    p = Progress(0, 3, 10, stream=out)
    p.start_epoch(0)
    p.advance(5, 0.1)
    p.update(ROW)
    p.close()
    assert out.getvalue() == "" and Progress.update is Progress.end_epoch


def test_fit_line_keeps_the_most_important_fields():
    fields = [(1.5, "[####]"), (0, "epoch 1/2"), (1, "loss 0.5"), (3, "acc 0.9"), (2, "val_loss 0.6")]
    assert fit_line(fields, 100) == "[####] epoch 1/2  loss 0.5  acc 0.9  val_loss 0.6"
    assert fit_line(fields, 30) == "[####] epoch 1/2  loss 0.5"
    assert fit_line(fields, 21) == "epoch 1/2  loss 0.5"  # the bar goes first
    assert fit_line(fields, 5) == "epoch"


@pytest.mark.parametrize("bad,exc", [(dict(samples_per_epoch=0), ValueError), (dict(stream=3), TypeError)])
def test_arguments_are_checked(bad, exc):
    with pytest.raises(exc):
        Progress(1, 3, **bad) if "stream" in bad else Progress(1, 3, bad["samples_per_epoch"])


def test_kernel_notice_says_what_it_does_and_how_long(monkeypatch, clock):
    counts = iter([3, 5, 5, 5])  # Numba's cache misses before and after each prepare

    def prepare():
        clock.now += 12.34
    monkeypatch.setattr(progress, "_compiled_so_far", lambda: next(counts))
    lines = []
    assert kernel_notice(prepare, lines.append) == pytest.approx(12.34)
    assert lines == ["preparing the kernels (compiled on the first run only, then cached)...",
                     "kernels compiled in 12.3 s"]
    lines.clear()
    kernel_notice(prepare, lines.append)
    assert lines[1] == "kernels loaded from the cache in 12.3 s"


def test_compiled_so_far_counts_fastmlps_kernels():
    assert isinstance(progress._compiled_so_far(), int)


def test_a_note_ends_the_line_being_rewritten(clock, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    term = Terminal()
    p = Progress(1, 2, stream=term)
    p.end_epoch(ROW)
    p.note("kernels compiled in 1.0 s")
    p.end_epoch(dict(ROW, epoch=1))
    p.close()
    lines = term.getvalue().split("\n")
    assert lines[1] == "kernels compiled in 1.0 s" and lines[2].startswith("\r[####################] epoch 2/2")
    quiet = io.StringIO()
    Progress(0, 2, stream=quiet).note("x")
    assert quiet.getvalue() == ""


def test_warm_up_leaves_the_model_as_it_was():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3)).astype(np.float32), rng.integers(0, 2, 50)
    model = MLP([3, 4, 2], seed=0, backend="numpy")
    model.fit(X, y, epochs=1, verbose=0)
    before, history = model.params.copy(), model.history.to_dict()
    warm_up(model, X * 1000, y, batch_size=8, lr=0.1, optimizer="adam", epochs=5, validation_split=0.2)
    assert np.array_equal(model.params, before) and model.history.to_dict() == history
    assert model.optimizer_state.name == "sgd"


def test_so_far_says_how_long_something_has_run():
    assert progress.so_far(0.0) == progress.so_far(0.049) == "just begun"
    assert progress.so_far(0.05) == "0.1 s so far" and progress.so_far(19.04) == "19.0 s so far"
