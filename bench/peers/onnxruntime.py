"""The 'onnxruntime' variant (inference only): ONNX Runtime running fastmlp's own ONNX export
(:mod:`fastmlp.onnx`) of the network with the same weights.

The export is float32 with one ``Gemm`` per layer and a ``Softmax``; the session returns the
probabilities as one (n, n_classes) array and uses ONNX Runtime's default options on the CPU
execution provider. Imported only when its runner is made (:mod:`fastmlp.bench.peers`);
``import onnxruntime`` below is the installed ONNX Runtime (absolute import), not this file.
"""
import onnxruntime

from fastmlp import MLP
from fastmlp.onnx import convert

from .runner import Predictor


def export(net, init):
    """The ONNX model (``onnx.ModelProto``) of ``net`` carrying ``init`` (fastmlp's (W, b) layout);
    outputs 'label', 'probabilities', 'logits'."""
    model = MLP(list(net.layers), activation=net.activation, dtype="float32", backend="numpy")
    for l, (W, b) in enumerate(init):
        model.set_layer(l, W, b)
    return convert(model)


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
