"""Box approximation with heights at the left end (the lab report's) or the middle of each box,
and the 2-D tower network of step units: exact values on every box, zero outside, the error
shrinking with the boxes, its figure."""
import math

import numpy as np
import pytest

from fastmlp import plots
from fastmlp.experiments import box_approximation, box_network, box_network_2d, tower_approximation


def test_left_heights_read_f_at_the_left_end_of_each_box():
    f = lambda x: x ** 2  # noqa: E731
    x = np.array([[0.0], [0.5], [0.99], [1.0], [1.7], [3.999]])
    left = box_network(f, 4, (0.0, 4.0), heights="left").forward(x)[:, 0]
    mid = box_network(f, 4, (0.0, 4.0), heights="mid").forward(x)[:, 0]
    default = box_network(f, 4, (0.0, 4.0)).forward(x)[:, 0]
    np.testing.assert_allclose(left, [0, 0, 0, 1, 1, 9])
    np.testing.assert_allclose(mid, [0.25, 0.25, 0.25, 2.25, 2.25, 12.25])
    np.testing.assert_array_equal(default, mid)  # the default stays the midpoint


def test_left_heights_err_by_a_whole_box_times_the_slope_mid_by_half():
    res_left = box_approximation(lambda x: 2 * x, (0.0, 1.0), box_counts=(4, 16), n_points=4000, heights="left")
    res_mid = box_approximation(lambda x: 2 * x, (0.0, 1.0), box_counts=(4, 16), n_points=4000)
    # f' = 2: left heights lag by up to 2 * width, midpoints by up to 2 * width / 2
    assert res_left["max_error"] == pytest.approx([2 / 4, 2 / 16], rel=2e-3)
    assert res_mid["max_error"] == pytest.approx([1 / 4, 1 / 16], rel=5e-3)
    assert res_left["mean_error"][0] == pytest.approx(2 * res_mid["mean_error"][0], rel=1e-2)
    assert res_left["heights"] == "left" and res_mid["heights"] == "mid"


def _tower_expected(f, nx, ny, region, heights, pts):
    (xa, xb), (ya, yb) = region
    wx, wy = (xb - xa) / nx, (yb - ya) / ny
    out = np.zeros(len(pts))
    for k, (x, y) in enumerate(pts):
        i, j = math.floor((x - xa) / wx), math.floor((y - ya) / wy)
        if 0 <= i < nx and 0 <= j < ny:
            off = 0.0 if heights == "left" else 0.5
            out[k] = f(xa + (i + off) * wx, ya + (j + off) * wy)
    return out


@pytest.mark.parametrize("heights", ["left", "mid"])
def test_towers_take_f_at_each_box_and_vanish_outside(heights):
    f = lambda x, y: 1.0 + x + 10.0 * y  # noqa: E731
    region = ((0.0, 2.0), (-1.0, 2.0))
    model = box_network_2d(f, (4, 3), region, heights=heights)
    assert model.layers == (2, 5 + 4, 12, 1)
    assert list(model.activation) == ["step", "step"]
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-0.5, 2.5, 400), rng.uniform(-1.5, 2.5, 400)])
    pts = np.vstack([pts, [[0.0, -1.0], [2.0, 0.0], [0.5, 2.0], [1.999, 1.999]]])  # edges: half-open boxes
    np.testing.assert_allclose(model.forward(pts)[:, 0], _tower_expected(f, 4, 3, region, heights, pts))


def test_each_tower_is_one_second_layer_unit_built_from_four_steps():
    model = box_network_2d(lambda x, y: x * 0 + 1.0, 3, ((0, 3), (0, 3)))
    W1 = model.W[1]
    assert (np.count_nonzero(W1, axis=0) == 4).all()  # two x-steps and two y-steps per tower
    assert np.allclose(W1.sum(axis=0), 0) and np.allclose(model.b[1], -1.5)
    # the unit of box (i, j) = (2, 1) fires at its inside only
    h = model.layer_outputs(np.array([[2.5, 1.5], [2.5, 0.5], [0.5, 1.5]]))[1]
    assert h[:, 2 * 3 + 1].tolist() == [1.0, 0.0, 0.0]


def test_tower_error_shrinks_with_more_boxes_and_left_heights_err_more():
    mid = tower_approximation(box_counts=(4, 8, 16, 32), resolution=96)
    left = tower_approximation(box_counts=(4, 8, 16, 32), resolution=96, heights="left")
    assert all(a > b for a, b in zip(mid["max_error"], mid["max_error"][1:]))
    assert mid["max_error"][-1] < 0.3 * mid["max_error"][0]
    assert all(lf > md for lf, md in zip(left["mean_error"], mid["mean_error"]))
    assert mid["target"].shape == mid["outputs"][0].shape == (96, 96)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(n_boxes=0), ValueError, r"n_boxes must be a positive integer; got 0"),
    (dict(n_boxes=(2, 0)), ValueError, r"n_boxes\[1\] must be a positive integer; got 0"),
    (dict(n_boxes=(1, 2, 3)), ValueError, r"n_boxes must be a positive int or a pair"),
    (dict(n_boxes=2, region=((0, 1), (1, 1))), ValueError, r"region\[1\] must have a < b"),
    (dict(n_boxes=2, region=(0, 1)), TypeError, r"region\[0\] must be a pair"),
    (dict(n_boxes=2, heights="right"), ValueError, r"unknown heights 'right'; expected one of \['left', 'mid'\]"),
    (dict(n_boxes=2, f=lambda x, y: np.zeros(3)), ValueError, r"f must return one finite value per input point"),
])
def test_box_network_2d_refuses_bad_arguments(kw, exc, match):
    kw = {"f": lambda x, y: x + y, **kw}
    with pytest.raises(exc, match=match):
        box_network_2d(**kw)


def test_box_network_refuses_an_unknown_heights():
    with pytest.raises(ValueError, match=r"unknown heights 'center'"):
        box_network(np.sin, 3, heights="center")


def test_tower_figure(tmp_path):
    res = tower_approximation(box_counts=(2, 6), resolution=40, heights="left")
    fig = plots.plot_tower_approximation(res, path=tmp_path / "t.png")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 3  # the target and one panel per box count
    assert images[1].get_title().startswith("2x2 towers: 6 + 4 step units")
    assert "lower-left corners" in fig._suptitle.get_text()
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
