"""Tiny networks worked out by hand, checked against all three backends in float64.

Conventions (as in fastmlp): ``W[l]`` is (n_in, n_out) and a layer computes
z_j = sum_i x_i W[i][j] + b_j. Gradients are of the batch-mean loss.
"""
import math

import numpy as np
import pytest

from fastmlp import MLP

BACKENDS = ["loop", "numpy", "numba"]
TOL = 1e-12


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def close(got, want, what):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.abs(got - want).max() <= TOL, f"{what}: {got.tolist()} != {want.tolist()}"


# -- 2-2-2, sigmoid hidden, softmax + cross-entropy, one sample --------------------------------
#
#   x = [1.0, 2.0], class y = 1
#   W1 = [[0.1, 0.3],      b1 = [0.5, -0.5]
#         [0.2, 0.4]]
#   W2 = [[0.7, -0.2],     b2 = [0.1, -0.1]
#         [0.6,  0.9]]
X1 = [[1.0, 2.0]]
Y1 = [1]
W1 = [[0.1, 0.3], [0.2, 0.4]]
B1 = [0.5, -0.5]
W2 = [[0.7, -0.2], [0.6, 0.9]]
B2 = [0.1, -0.1]

# forward
#   z1_0 = 1.0*0.1 + 2.0*0.2 + 0.5 = 1.0
#   z1_1 = 1.0*0.3 + 2.0*0.4 - 0.5 = 0.6
Z1 = [1.0 * 0.1 + 2.0 * 0.2 + 0.5, 1.0 * 0.3 + 2.0 * 0.4 - 0.5]
H = [1.0 / (1.0 + math.exp(-1.0)), 1.0 / (1.0 + math.exp(-0.6))]  # sigmoid(1.0), sigmoid(0.6)
#   z2_j = h_0 W2[0][j] + h_1 W2[1][j] + b2_j
Z2 = [H[0] * 0.7 + H[1] * 0.6 + 0.1,
      H[0] * -0.2 + H[1] * 0.9 - 0.1]
# softmax and loss = -log p_y = log(e^z2_0 + e^z2_1) - z2_1
P = [math.exp(Z2[0]) / (math.exp(Z2[0]) + math.exp(Z2[1])),
     math.exp(Z2[1]) / (math.exp(Z2[0]) + math.exp(Z2[1]))]
LOSS_CE = math.log(math.exp(Z2[0]) + math.exp(Z2[1])) - Z2[1]
# backward: dL/dz2 = p - onehot(y) = [p_0, p_1 - 1]
DZ2 = [P[0], P[1] - 1.0]
# dW2[i][j] = h_i * dz2_j ; db2 = dz2
DW2 = [[H[0] * DZ2[0], H[0] * DZ2[1]],
       [H[1] * DZ2[0], H[1] * DZ2[1]]]
DB2 = [DZ2[0], DZ2[1]]
# dL/dh_i = sum_j W2[i][j] dz2_j ; dL/dz1_i = dL/dh_i * h_i (1 - h_i)
DH = [0.7 * DZ2[0] + -0.2 * DZ2[1],
      0.6 * DZ2[0] + 0.9 * DZ2[1]]
DZ1 = [DH[0] * H[0] * (1.0 - H[0]), DH[1] * H[1] * (1.0 - H[1])]
# dW1[i][j] = x_i * dz1_j ; db1 = dz1
DW1 = [[1.0 * DZ1[0], 1.0 * DZ1[1]],
       [2.0 * DZ1[0], 2.0 * DZ1[1]]]
DB1 = [DZ1[0], DZ1[1]]


def test_hand_values_are_what_they_say():
    """The hand arithmetic itself, rounded to 6 digits so a reader can follow with a calculator."""
    assert Z1 == pytest.approx([1.0, 0.6], abs=1e-15)
    assert H == pytest.approx([0.731059, 0.645656], abs=1e-6)
    assert Z2 == pytest.approx([0.999135, 0.334878], abs=1e-6)
    assert P == pytest.approx([0.660216, 0.339784], abs=1e-6)
    assert LOSS_CE == pytest.approx(1.079444, abs=1e-6)  # -log(0.339784)
    assert sum(P) == pytest.approx(1.0, abs=1e-15)
    assert -math.log(P[1]) == pytest.approx(LOSS_CE, abs=1e-14)


def ce_model(backend):
    model = MLP([2, 2, 2], activation="sigmoid", loss="cross_entropy", dtype="float64",
                backend=backend, seed=123)
    model.set_layer(0, W=W1, b=B1)
    model.W[1][...] = W2   # writing into the views works too
    model.b[1][...] = B2
    return model


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_by_hand(backend):
    model = ce_model(backend)
    assert model.params.tolist() == [0.1, 0.3, 0.2, 0.4, 0.5, -0.5, 0.7, -0.2, 0.6, 0.9, 0.1, -0.1]
    h, z2 = model.layer_outputs(X1)
    close(h, [H], "hidden sigmoid outputs")
    close(z2, [Z2], "logits")
    close(model.predict_proba(X1), [P], "softmax")
    assert model.predict(X1).tolist() == [0]  # p_0 > p_1
    loss, grads = model.loss_and_grad(X1, Y1)
    assert abs(loss - LOSS_CE) <= TOL
    (dW1, db1), (dW2, db2) = model.split(grads)
    close(dW1, DW1, "dW1")
    close(db1, DB1, "db1")
    close(dW2, DW2, "dW2")
    close(db2, DB2, "db2")
    ev = model.evaluate(X1, Y1)
    assert abs(ev["loss"] - LOSS_CE) <= TOL
    assert ev["accuracy"] == 0.0  # predicted 0, true 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_two_samples_is_the_mean(backend):
    """Sample 2: x = [-1, 0.5], y = 0, worked out the same way; loss and grads are averaged."""
    x = [-1.0, 0.5]
    z1 = [-1.0 * 0.1 + 0.5 * 0.2 + 0.5, -1.0 * 0.3 + 0.5 * 0.4 - 0.5]  # [0.5, -0.6]
    h = [sig(z1[0]), sig(z1[1])]
    z2 = [h[0] * 0.7 + h[1] * 0.6 + 0.1, h[0] * -0.2 + h[1] * 0.9 - 0.1]
    s = math.exp(z2[0]) + math.exp(z2[1])
    p = [math.exp(z2[0]) / s, math.exp(z2[1]) / s]
    loss2 = math.log(s) - z2[0]
    dz2 = [p[0] - 1.0, p[1]]
    dh = [0.7 * dz2[0] - 0.2 * dz2[1], 0.6 * dz2[0] + 0.9 * dz2[1]]
    dz1 = [dh[0] * h[0] * (1 - h[0]), dh[1] * h[1] * (1 - h[1])]
    want_dW2 = [[(H[i] * DZ2[j] + h[i] * dz2[j]) / 2 for j in range(2)] for i in range(2)]
    want_db2 = [(DZ2[j] + dz2[j]) / 2 for j in range(2)]
    want_dW1 = [[(X1[0][i] * DZ1[j] + x[i] * dz1[j]) / 2 for j in range(2)] for i in range(2)]
    want_db1 = [(DZ1[j] + dz1[j]) / 2 for j in range(2)]

    model = ce_model(backend)
    loss, grads = model.loss_and_grad([X1[0], x], [1, 0])
    assert abs(loss - (LOSS_CE + loss2) / 2) <= TOL
    (dW1, db1), (dW2, db2) = model.split(grads)
    close(dW1, want_dW1, "dW1")
    close(db1, want_db1, "db1")
    close(dW2, want_dW2, "dW2")
    close(db2, want_db2, "db2")
    ev = model.evaluate([X1[0], x], [1, 0])
    assert abs(ev["loss"] - (LOSS_CE + loss2) / 2) <= TOL
    assert ev["accuracy"] == 0.5  # sample 1 wrong (p_0 > p_1), sample 2 right (z2_0 > z2_1)
    assert z2[0] > z2[1]


# -- 2-2-2, tanh hidden, identity output + mean squared error, two samples ---------------------
#
#   samples x_a = [0.5, -1.0] with targets t_a = [1.0, 0.0]
#           x_b = [2.0,  0.0] with targets t_b = [-0.5, 0.25]
#   V1 = [[0.3, -0.1],    c1 = [0.0, 0.2]
#         [0.8,  0.5]]
#   V2 = [[1.0,  0.4],    c2 = [-0.3, 0.1]
#         [-0.7, 0.2]]
#   loss = (1 / (m c)) sum_s sum_j (z_sj - t_sj)^2 with m = 2 samples, c = 2 outputs
#   dL/dz_sj = 2 (z_sj - t_sj) / (m c)
XM = [[0.5, -1.0], [2.0, 0.0]]
TM = [[1.0, 0.0], [-0.5, 0.25]]
V1 = [[0.3, -0.1], [0.8, 0.5]]
C1 = [0.0, 0.2]
V2 = [[1.0, 0.4], [-0.7, 0.2]]
C2 = [-0.3, 0.1]


def _mse_by_hand():
    # sample a: z1 = [0.5*0.3 + -1.0*0.8 + 0.0, 0.5*-0.1 + -1.0*0.5 + 0.2] = [-0.65, -0.35]
    za1 = [0.5 * 0.3 + -1.0 * 0.8 + 0.0, 0.5 * -0.1 + -1.0 * 0.5 + 0.2]
    # sample b: z1 = [2.0*0.3 + 0.0*0.8 + 0.0, 2.0*-0.1 + 0.0*0.5 + 0.2] = [0.6, 0.0]
    zb1 = [2.0 * 0.3 + 0.0 * 0.8 + 0.0, 2.0 * -0.1 + 0.0 * 0.5 + 0.2]
    ha = [math.tanh(za1[0]), math.tanh(za1[1])]
    hb = [math.tanh(zb1[0]), math.tanh(zb1[1])]
    za2 = [ha[0] * 1.0 + ha[1] * -0.7 - 0.3, ha[0] * 0.4 + ha[1] * 0.2 + 0.1]
    zb2 = [hb[0] * 1.0 + hb[1] * -0.7 - 0.3, hb[0] * 0.4 + hb[1] * 0.2 + 0.1]
    ra = [za2[0] - 1.0, za2[1] - 0.0]
    rb = [zb2[0] - -0.5, zb2[1] - 0.25]
    loss = (ra[0] ** 2 + ra[1] ** 2 + rb[0] ** 2 + rb[1] ** 2) / 4.0
    da2 = [2.0 * ra[0] / 4.0, 2.0 * ra[1] / 4.0]
    db2_ = [2.0 * rb[0] / 4.0, 2.0 * rb[1] / 4.0]
    dW2 = [[ha[0] * da2[0] + hb[0] * db2_[0], ha[0] * da2[1] + hb[0] * db2_[1]],
           [ha[1] * da2[0] + hb[1] * db2_[0], ha[1] * da2[1] + hb[1] * db2_[1]]]
    db2 = [da2[0] + db2_[0], da2[1] + db2_[1]]
    # back through V2 and tanh' = 1 - h^2
    da1 = [(1.0 * da2[0] + 0.4 * da2[1]) * (1 - ha[0] ** 2),
           (-0.7 * da2[0] + 0.2 * da2[1]) * (1 - ha[1] ** 2)]
    dbb1 = [(1.0 * db2_[0] + 0.4 * db2_[1]) * (1 - hb[0] ** 2),
            (-0.7 * db2_[0] + 0.2 * db2_[1]) * (1 - hb[1] ** 2)]
    dW1 = [[0.5 * da1[0] + 2.0 * dbb1[0], 0.5 * da1[1] + 2.0 * dbb1[1]],
           [-1.0 * da1[0] + 0.0 * dbb1[0], -1.0 * da1[1] + 0.0 * dbb1[1]]]
    db1 = [da1[0] + dbb1[0], da1[1] + dbb1[1]]
    return dict(h=[ha, hb], z=[za2, zb2], loss=loss, dW1=dW1, db1=db1, dW2=dW2, db2=db2)


def test_mse_hand_values():
    r = _mse_by_hand()
    assert r["h"][0] == pytest.approx([math.tanh(-0.65), math.tanh(-0.35)], abs=1e-15)
    assert r["h"][1] == pytest.approx([math.tanh(0.6), 0.0], abs=1e-15)
    # outputs [-0.636207, -0.195943], [0.237050, 0.314820]; residuals [-1.636207, -0.195943],
    # [0.737050, 0.064820]; squares 2.677173 + 0.038394 + 0.543242 + 0.004202 = 3.263010; / 4
    assert r["z"][0] == pytest.approx([-0.636207, -0.195943], abs=1e-6)
    assert r["z"][1] == pytest.approx([0.237050, 0.314820], abs=1e-6)
    assert r["loss"] == pytest.approx(0.815753, abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mse_by_hand(backend):
    r = _mse_by_hand()
    model = MLP([2, 2, 2], activation="tanh", loss="mse", dtype="float64", backend=backend, seed=5)
    model.set_layer(0, W=V1, b=C1)
    model.set_layer(-1, W=V2, b=C2)  # negative index: the last layer
    h, z = model.layer_outputs(XM)
    close(h, r["h"], "hidden tanh outputs")
    close(z, r["z"], "outputs")
    close(model.predict(XM), r["z"], "predict")
    loss, grads = model.loss_and_grad(XM, TM)
    assert abs(loss - r["loss"]) <= TOL
    (dW1, db1), (dW2, db2) = model.split(grads)
    close(dW1, r["dW1"], "dW1")
    close(db1, r["db1"], "db1")
    close(dW2, r["dW2"], "dW2")
    close(db2, r["db2"], "db2")
    ev = model.evaluate(XM, TM)
    assert abs(ev["loss"] - r["loss"]) <= TOL
    assert math.isnan(ev["accuracy"])


# -- 1-1 sigmoid + binary cross-entropy: the smallest network ----------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_bce_single_unit_by_hand(backend):
    # z = 2 x - 1 for x = [1.5, -0.5] -> z = [2.0, -2.0], t = [1, 1]
    # loss_s = log(1 + e^-z) for t = 1 ; dL/dz_s = (sigmoid(z_s) - 1) / 2
    model = MLP([1, 1], loss="bce", dtype="float64", backend=backend)
    model.set_layer(0, W=[[2.0]], b=[-1.0])
    X, t = [[1.5], [-0.5]], [1, 1]
    loss = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(2.0))) / 2
    dz = [(sig(2.0) - 1) / 2, (sig(-2.0) - 1) / 2]
    got_loss, g = model.loss_and_grad(X, t)
    assert abs(got_loss - loss) <= TOL
    close(g, [1.5 * dz[0] + -0.5 * dz[1], dz[0] + dz[1]], "dW, db")
    close(model.predict_proba(X), [[1 - sig(2.0), sig(2.0)], [1 - sig(-2.0), sig(-2.0)]], "proba")
    assert model.evaluate(X, t)["accuracy"] == 0.5
