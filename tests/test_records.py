"""Measured choices kept on disk (fastmlp.backends.records): measured once per machine, the first record
written wins, a damaged record is measured again, no record where none can be written; and the own products'
choice of a one-thread training is the machine's, so a seeded fit on one core rounds alike in every process."""
import json
import os

import numba
import numpy as np
import pytest

import fastmlp
from fastmlp.backends import products, records
from fastmlp.kernels.structs import OWN_DW, OWN_DX, OWN_FORWARD

KEY = ("784-256-10", 64, True)


def _measure(value, calls):
    def measure():
        calls.append(value)
        return value
    return measure


def _any(value):
    return True


def test_measured_once_then_read_by_the_next_process():
    calls = []
    assert records.kept("choice", KEY, _measure([1, 2], calls), _any) == [1, 2]
    assert records.kept("choice", KEY, _measure([3, 4], calls), _any) == [1, 2]  # the record, not measured
    assert calls == [[1, 2]]
    assert records.kept("choice", ("784-256-10", 64, False), _measure(None, calls), _any) is None  # another key
    assert records.kept("other", KEY, _measure([5], calls), _any) == [5]  # another choice
    assert len(os.listdir(records.folder())) == 3


def test_a_record_is_read_without_measuring():
    """``recorded``: ``(value,)`` of the record ``kept`` wrote (a value of None too), None where there is none or its
    value is not valid; nothing written."""
    assert records.recorded("choice", KEY, _any) is None and not os.path.exists(records.folder())
    records.kept("choice", KEY, lambda: [1, 2], _any)
    records.kept("choice", ("784-256-10", 64, False), lambda: None, _any)
    assert records.recorded("choice", KEY, _any) == ([1, 2],)
    assert records.recorded("choice", ("784-256-10", 64, False), _any) == (None,)
    assert records.recorded("choice", KEY, lambda value: False) is None
    assert records.recorded("other", KEY, _any) is None and len(os.listdir(records.folder())) == 2


def test_the_first_record_written_wins():
    """A process whose measurement finishes after another process recorded its own takes the recorded one."""
    def measure_while_another_records():
        assert records.kept("choice", KEY, lambda: "theirs", _any) == "theirs"
        return "ours"
    assert records.kept("choice", KEY, measure_while_another_records, _any) == "theirs"
    assert records.kept("choice", KEY, lambda: "later", _any) == "theirs"


DAMAGED = {"empty": b"", "not-json": b"{not json", "not-utf8": b"\xff\xfe", "not-a-record": b"[1, 2]",
           "other-format": b'{"format": 99, "key": "", "value": 1}',
           # the same choice recorded as the format before measured it (on operands that did not start on a line)
           "earlier-format": json.dumps({"format": records.FORMAT - 1, "key": json.dumps(["choice", list(KEY)]),
                                         "value": 7}).encode(),
           "other-key": json.dumps({"format": records.FORMAT, "key": "another key", "value": 7}).encode(),
           "bad-value": "invalid value"}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_record_that_cannot_be_read_is_measured_again_and_replaced(content):
    records.kept("choice", KEY, lambda: 7, _any)
    [name] = os.listdir(records.folder())
    path = os.path.join(records.folder(), name)
    if content == "invalid value":
        content = open(path, "rb").read().replace(b'"value": 7', b'"value": -7')
    with open(path, "wb") as f:
        f.write(content)
    valid = lambda value: value in (7, 8)  # noqa: E731
    calls = []
    assert records.kept("choice", KEY, _measure(8, calls), valid) == 8 and calls == [8]
    assert json.loads(open(path, "rb").read())["value"] == 8  # replaced: the next process reads it
    assert records.kept("choice", KEY, _measure(7, calls), valid) == 8 and calls == [8]


def test_where_no_record_can_be_written_the_process_keeps_its_measurement(monkeypatch, tmp_path):
    (tmp_path / "a file").write_bytes(b"x")
    monkeypatch.setattr(records, "folder", lambda: str(tmp_path / "a file" / "records"))
    calls = []
    assert records.kept("choice", KEY, _measure(1, calls), _any) == 1
    assert records.kept("choice", KEY, _measure(2, calls), _any) == 2 and calls == [1, 2]


def test_the_folder_is_the_kernels_cache_s_keyed_by_the_cpu(monkeypatch):
    monkeypatch.undo()  # the real folder (the autouse fixture's replacement undone)
    monkeypatch.delenv("FASTMLP_CHOICES_DIR", raising=False)
    from fastmlp.kernels.intrinsics import kernel_cache_dir
    folder = records.folder()
    assert os.path.dirname(folder) == os.path.join(kernel_cache_dir(), "choices")
    from llvmlite import binding
    assert os.path.basename(folder).startswith(binding.get_host_cpu_name() + "-")


def test_kernels_compiled_for_another_cpu_keep_records_apart_from_this_cpu_s(monkeypatch):
    """Compiled for another CPU (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``) the kernels are other code, timed
    otherwise: their records go to a folder of their own, one per target, and this CPU's stay as they were."""
    monkeypatch.undo()
    monkeypatch.delenv("FASTMLP_CHOICES_DIR", raising=False)
    monkeypatch.setattr(numba.config, "CPU_NAME", None)
    monkeypatch.setattr(numba.config, "CPU_FEATURES", None)
    own = records.folder()
    monkeypatch.setattr(numba.config, "CPU_NAME", "znver1")
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx,+avx2,+fma")
    zen1 = records.folder()
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx,+avx2,+fma,+avx512f")
    other = records.folder()
    assert len({own, zen1, other}) == 3
    assert os.path.dirname(zen1) == os.path.dirname(own) and os.path.basename(zen1).startswith(
        os.path.basename(own) + "-for-znver1-")


def test_fastmlp_choices_dir_puts_the_records_elsewhere_still_keyed(monkeypatch, tmp_path):
    monkeypatch.undo()
    from fastmlp.kernels.intrinsics import kernel_cache_dir
    monkeypatch.setenv("FASTMLP_CHOICES_DIR", str(tmp_path))
    assert os.path.dirname(records.folder()) == os.path.join(str(tmp_path), os.path.basename(kernel_cache_dir()))
    assert records.kept("choice", KEY, lambda: 1, _any) == 1 and len(os.listdir(records.folder())) == 1


LAYERS = [20, 128, 64, 3]


def _one_thread_process(monkeypatch, own_seconds, blas_seconds):
    """A fresh one-thread process's choice (its in-process memory empty), timed as given."""
    monkeypatch.setattr(products, "_chosen", {})
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    monkeypatch.setattr(products, "fits", lambda n, itemsize: itemsize == 4 and n % 16 == 0)
    now = [0.0]
    monkeypatch.setattr(products.time, "perf_counter", lambda: now[0])

    def timed(own_way):
        now[0] += own_seconds if own_way else blas_seconds
    monkeypatch.setattr(products.K, "repeat_product", lambda out, x, W, own, reps, *rest: timed(own))
    monkeypatch.setattr(products.K, "repeat_dx", lambda out, dz, W, Wt, own, reps: timed(own))
    monkeypatch.setattr(products.K, "repeat_dw", lambda out, x, dz, own, reps, *rest, **kw: timed(own))
    return products.own_products(fastmlp.MLP(LAYERS, seed=0).arch, 16)


def test_a_one_thread_process_takes_the_own_products_the_machine_s_first_process_measured(monkeypatch):
    first = _one_thread_process(monkeypatch, 1.0, 2.0)
    assert first.tolist() == [OWN_FORWARD | OWN_DW, OWN_FORWARD | OWN_DX | OWN_DW, 0]
    again = _one_thread_process(monkeypatch, 2.0, 1.0)  # would measure the BLAS faster: the record decides
    assert again.dtype == np.int64 and again.tolist() == first.tolist()


def test_a_machine_whose_first_process_chose_the_blas_keeps_it(monkeypatch):
    assert _one_thread_process(monkeypatch, 2.0, 1.0) is None
    assert _one_thread_process(monkeypatch, 1.0, 2.0) is None
