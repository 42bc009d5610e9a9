"""ONNX export (fastmlp.onnx): ONNX Runtime runs the exported file and its outputs equal the model's
predict / predict_proba / forward for every activation, loss, dtype and backend; the file is valid
ONNX, written atomically, and the errors are clear."""
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fastmlp  # noqa: E402
from fastmlp.onnx import ACTIVATIONS, DEFAULT_OPSET, HEADS, MIN_OPSET, convert, export  # noqa: E402

OUTPUTS = {"cross_entropy": 3, "bce": 1, "mse": 2, "multilabel": 3, "softmax_mse": 3}
TOL = {"float32": dict(rtol=1e-5, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-11)}


def _model(layers, activation, loss, dtype, backend="numpy", seed=0, **kw):
    """A model with random weights and biases of order 1 (every unit's pre-activation crosses 0)."""
    m = fastmlp.MLP(layers, activation=activation, loss=loss, dtype=dtype, backend=backend, **kw)
    m.set_params(np.random.default_rng(seed).normal(0.0, 0.8, m.n_params))
    return m


def _session(source):
    data = source.SerializeToString() if isinstance(source, onnx.ModelProto) else source
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _run(session, X):
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": X})))


def _assert_matches(model, session, X, classes=None):
    got = _run(session, X)
    tol = TOL[np.dtype(model.dtype).name]
    if model.loss == "mse":
        assert list(got) == ["values"]
        assert got["values"].dtype == model.dtype and got["values"].shape == (len(X), model.layers[-1])
        np.testing.assert_allclose(got["values"], model.predict(X), **tol)
        return
    assert list(got) == ["label", "probabilities", "logits"]
    ids = model.predict(X)
    np.testing.assert_array_equal(got["label"], ids if classes is None else np.asarray(classes)[ids])
    assert got["probabilities"].dtype == model.dtype and got["logits"].dtype == model.dtype
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(X), **tol)
    np.testing.assert_allclose(got["logits"], model.forward(X), **tol)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", sorted(OUTPUTS))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_onnxruntime_gives_the_models_outputs(activation, loss, dtype, backend):
    model = _model([5, 7, 6, OUTPUTS[loss]], activation, loss, dtype, backend, leaky_slope=0.2)
    session = _session(convert(model))
    X = np.random.default_rng(1).normal(0.0, 1.0, (41, 5)).astype(dtype)
    for rows in (X[:1], X):  # batch 1 and many rows: the batch dimension is dynamic
        _assert_matches(model, session, rows)


def test_every_loss_and_activation_has_an_entry():
    from fastmlp.architecture import CANONICAL_ACT, CANONICAL_LOSS
    assert set(HEADS) == set(CANONICAL_LOSS.values()) and set(OUTPUTS) == set(HEADS)
    assert set(ACTIVATIONS) == set(CANONICAL_ACT.values())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_activation_per_layer_and_no_hidden_layer(dtype):
    X = np.random.default_rng(2).normal(0.0, 1.0, (13, 4)).astype(dtype)
    mixed = _model([4, 6, 5, 3, 4], ["leaky_relu", "step", "tanh"], "cross_entropy", dtype, leaky_slope=0.35)
    _assert_matches(mixed, _session(convert(mixed)), X)
    leaky = _session(convert(mixed))  # the slope is part of the graph: another slope gives other outputs
    other = _model([4, 6, 5, 3, 4], ["leaky_relu", "step", "tanh"], "cross_entropy", dtype, leaky_slope=0.0)
    assert not np.allclose(_run(leaky, X)["logits"], other.forward(X))
    for loss in OUTPUTS:
        flat = _model([4, OUTPUTS[loss]], "relu", loss, dtype, seed=3)
        _assert_matches(flat, _session(convert(flat)), X)


def test_the_file_is_valid_onnx_with_a_dynamic_batch(tmp_path):
    model = _model([3, 8, 2], "tanh", "cross_entropy", "float32")
    path = model.to_onnx(tmp_path / "m.onnx")
    assert path == str(tmp_path / "m.onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == DEFAULT_OPSET and proto.producer_name == "fastmlp"
    (x,) = proto.graph.input
    assert x.name == "X" and x.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim] == ["batch", 3]
    props = {p.key: p.value for p in proto.metadata_props}
    assert props == {"layers": "3,8,2", "activation": "tanh", "loss": "cross_entropy", "leaky_slope": "0.01"}
    # W is stored (n_in, n_out), as in the model
    stored = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    assert any(a.shape == (3, 8) and np.array_equal(a, model.W[0]) for a in stored.values())
    _assert_matches(model, _session(path), np.ones((5, 3), np.float32))


@pytest.mark.parametrize("opset", [MIN_OPSET, DEFAULT_OPSET])
def test_opsets(opset):
    model = _model([3, 4, 1], "step", "bce", "float64")
    proto = convert(model, opset=opset)
    assert proto.opset_import[0].version == opset
    _assert_matches(model, _session(proto), np.random.default_rng(4).normal(size=(9, 3)))


@pytest.mark.parametrize("opset, error", [(MIN_OPSET - 1, ValueError), (10**6, ValueError), (17.0, TypeError),
                                          ("17", TypeError)])
def test_a_bad_opset_is_refused_and_the_file_stays(tmp_path, opset, error):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(error, match="opset"):
        export(_model([3, 2], "relu", "mse", "float32"), path, opset=opset)
    assert path.read_bytes() == b"old"


def test_a_failed_write_leaves_the_existing_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    model = _model([3, 4, 2], "relu", "cross_entropy", "float32")
    model.to_onnx(path)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", disk_full)  # the new file is written, then flushing it fails
    with pytest.raises(OSError, match="disk full"):
        _model([3, 5, 2], "tanh", "cross_entropy", "float32").to_onnx(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.onnx"]  # no temporary file left behind


def test_class_labels(tmp_path):
    model = _model([4, 5, 3], "relu", "cross_entropy", "float32")
    X = np.random.default_rng(5).normal(size=(20, 4)).astype(np.float32)
    for classes in (["ant", "bee", "cat"], [10, 20, 40], [0.5, 1.5, 2.5]):
        _assert_matches(model, _session(convert(model, classes=classes)), X, classes)
    binary = _model([4, 5, 1], "tanh", "bce", "float64")
    _assert_matches(binary, _session(convert(binary, classes=["no", "yes"])), X.astype(np.float64), ["no", "yes"])
    with pytest.raises(ValueError, match="3 labels"):
        convert(model, classes=["a", "b"])
    with pytest.raises(ValueError, match="only for classifiers"):
        convert(_model([4, 2], "relu", "mse", "float32"), classes=[0, 1])
    with pytest.raises(TypeError, match="classes"):
        convert(model, classes=[None, object(), 3])


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")  # 3 epochs: enough to export
def test_fitted_scikit_learn_wrappers_export_with_their_labels():
    pytest.importorskip("sklearn")
    from fastmlp.sklearn import MLPClassifier, MLPRegressor
    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 3))
    y = np.array(["red", "green", "blue"])[rng.integers(0, 3, 60)]
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, y)
    got = _run(_session(convert(clf)), X.astype(np.float32))
    np.testing.assert_array_equal(got["label"], clf.predict(X))
    np.testing.assert_allclose(got["probabilities"], clf.predict_proba(X), **TOL["float32"])
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0, dtype="float64").fit(X, X[:, 0])
    got = _run(_session(convert(reg)), X)
    np.testing.assert_allclose(got["values"][:, 0], reg.predict(X), **TOL["float64"])
    with pytest.raises(ValueError, match="not fitted"):
        convert(MLPClassifier())


def test_wrong_arguments():
    with pytest.raises(TypeError, match="fastmlp.MLP"):
        convert("model.npz")
    with pytest.raises(TypeError, match="path"):
        export(_model([2, 2], "relu", "mse", "float32"), 3)


def test_without_onnx_the_error_says_what_to_install():
    code = ("import sys; sys.modules['onnx'] = None\n"
            "import fastmlp\n"
            "try:\n"
            "    fastmlp.MLP([2, 2]).to_onnx('x.onnx')\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert 'pip install "fastmlp[onnx]"' in out.stdout
