"""``model.summary()``: the model as a Keras-like table of its layers (shapes, activations,
parameter counts), with the totals, loss, dtype, backend and training state below."""
import numpy as np

#: The output layer's function that each loss implies (the loss applies it, fused).
OUTPUT_ACTIVATION = {"cross_entropy": "softmax", "mse": "identity", "bce": "sigmoid", "multilabel": "sigmoid",
                     "softmax_mse": "softmax"}
COLUMNS = ("Layer", "Input shape", "Output shape", "Activation", "Weights", "Biases", "Params")


def summary_text(model):
    """The summary of an MLP as text (one table row per weight layer; see ``MLP.summary``).
    A model with dropout gets a column of each hidden layer's training dropout rate."""
    arch = model.arch
    rates = tuple(model.dropout)
    columns = COLUMNS[:4] + (("Dropout",) if any(rates) else ()) + COLUMNS[4:]
    rows = []
    for l, (k, n) in enumerate(zip(arch.layers[:-1], arch.layers[1:])):
        last = l == arch.n_layers - 1
        activation = f"{OUTPUT_ACTIVATION.get(arch.loss, arch.loss)} (in loss)" if last else arch.activation[l]
        drop = (("-" if last else f"{rates[l]:g}"),) if any(rates) else ()
        rows.append((f"{l + 1} {'output' if last else 'hidden'}", f"(None, {k})", f"(None, {n})", activation, *drop,
                     f"{k}x{n}", f"{n}", f"{k * n + n:,}"))
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    right = range(4, len(columns))  # numbers are right-aligned

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "-" * len(line(columns))
    dtype = np.dtype(arch.dtype)
    state = model.optimizer_state
    trained = 0 if model.history is None else len(model.history)
    lines = [f"MLP {' -> '.join(str(n) for n in arch.layers)}", rule, line(columns), rule,
             *(line(r) for r in rows), rule,
             f"Total params: {arch.n_params:,} ({_size(arch.n_params * dtype.itemsize)} as {dtype.name})",
             f"Loss: {arch.loss} | dtype: {dtype.name} | backend: {model.backend}",
             "Optimizer state: " + ("none" if state is None else f"{state.name}, step {state.step:,}")
             + f" | trained epochs: {trained}"]
    return "\n".join(lines)


def _size(nbytes):
    """Bytes as B, KiB, MiB or GiB, three significant digits."""
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024:
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} GiB"
