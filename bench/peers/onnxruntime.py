"""The 'onnxruntime' variant (inference only): ONNX Runtime running the skl2onnx export of a
scikit-learn MLPClassifier that carries the same weights as fastmlp.

The export is float32 (``FloatTensorType``) with ``zipmap`` off, so the session returns the
probabilities as one (n, n_classes) array; the session uses ONNX Runtime's default options on
the CPU execution provider. Imported only when its runner is made
(:mod:`fastmlp.bench.peers`); ``import onnxruntime`` below is the installed ONNX Runtime
(absolute import), not this file.
"""
import onnxruntime
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

from .runner import Predictor
from .sklearn import classifier


def export(net, init):
    """The ONNX model (``onnx.ModelProto``) of an MLPClassifier carrying ``init``; outputs 'label', 'probabilities'."""
    clf = classifier(net, init)
    return convert_sklearn(clf, initial_types=[("X", FloatTensorType([None, net.layers[0]]))],
                           options={id(clf): {"zipmap": False}})


class OnnxPredictor(Predictor):
    """``session.run(['probabilities'], {'X': X})[0]``."""

    name = "onnxruntime"

    def __init__(self, net, init):
        super().__init__(net, init)
        self.session = onnxruntime.InferenceSession(export(net, init).SerializeToString(),
                                                    providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs() if o.name == "probabilities"]
        if not self.outputs:
            raise RuntimeError(f"the exported model has no 'probabilities' output: "
                               f"{[o.name for o in self.session.get_outputs()]}")

    def predict_proba(self, X):
        return self.session.run(self.outputs, {self.input: X})[0]
