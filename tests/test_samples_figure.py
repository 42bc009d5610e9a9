"""The image grid of dataset samples: gray colormap, one panel per sample titled with its label
(class names when known), for Fashion-MNIST, MNIST IDX files and scikit-learn's 8x8 digits."""
import numpy as np
import pytest

from fastmlp import plots
from fastmlp.datasets import FASHION_CLASSES, Dataset, find_dataset, read_idx, write_idx


def _panels(fig):
    return [ax for ax in fig.axes if ax.images]


def test_fashion_mnist_grid_shows_class_names_in_gray(tmp_path):
    if find_dataset("fashion_mnist") is None:
        pytest.skip("Fashion-MNIST files not found")
    from fastmlp.datasets import fashion_mnist
    d = fashion_mnist()
    fig = plots.plot_samples(d, n=12, ncols=4, path=tmp_path / "f.png")
    panels = _panels(fig)
    assert len(panels) == 12
    assert [ax.get_title() for ax in panels] == [FASHION_CLASSES[c] for c in d.y_train[:12]]
    assert all(ax.images[0].get_cmap().name == "gray" for ax in panels)
    assert panels[0].images[0].get_array().shape == (28, 28)
    np.testing.assert_array_equal(panels[3].images[0].get_array(), d.X_train[3].reshape(28, 28))
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_mnist_idx_images_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (9, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 9).astype(np.uint8)
    write_idx(tmp_path / "img.idx", images)
    write_idx(tmp_path / "lab.idx", labels)
    X, y = read_idx(tmp_path / "img.idx"), read_idx(tmp_path / "lab.idx")
    fig = plots.plot_samples(X, y, n=7)
    panels = _panels(fig)
    assert len(panels) == 7 and len(fig.axes) == 9  # a 3 x 3 grid, the last two panels empty
    assert [ax.get_title() for ax in panels] == [str(v) for v in labels[:7]]
    np.testing.assert_array_equal(panels[6].images[0].get_array(), images[6])


def test_sklearn_digits_8x8_rows_and_a_seeded_choice():
    sk = pytest.importorskip("sklearn.datasets")
    d = sk.load_digits()
    fig = plots.plot_samples(d.data, d.target, n=10, seed=3)
    panels = _panels(fig)
    assert len(panels) == 10
    assert panels[0].images[0].get_array().shape == (8, 8)
    shown = [np.asarray(ax.images[0].get_array()).ravel() for ax in panels]
    for img, ax in zip(shown, panels):  # each title is the label of the image it shows
        row = np.flatnonzero((d.data == img).all(axis=1))
        assert str(d.target[row[0]]) == ax.get_title()
    again = [ax.get_title() for ax in _panels(plots.plot_samples(d.data, d.target, n=10, seed=3))]
    assert again == [ax.get_title() for ax in panels]


def test_a_dataset_without_class_names_and_images_without_labels():
    X = np.arange(4 * 6, dtype=np.float32).reshape(4, 6)
    d = Dataset(X, np.array([1, 0, 1, 0]), X[:0], np.array([], dtype=np.int64), "toy", 2)
    fig = plots.plot_samples(d, image_shape=(2, 3), cmap="gray")
    assert [ax.get_title() for ax in _panels(fig)] == ["1", "0", "1", "0"]
    names = plots.plot_samples(X, [1, 0, 1, 0], class_names=("even", "odd"), image_shape=(3, 2))
    assert [ax.get_title() for ax in _panels(names)] == ["odd", "even", "odd", "even"]
    plain = plots.plot_samples(X, image_shape=(3, 2), n=2)
    assert [ax.get_title() for ax in _panels(plain)] == ["#0", "#1"]


@pytest.mark.parametrize("kw,exc,match", [
    (dict(X=np.zeros((3, 5))), ValueError, r"rows of 5 pixels are not square images: give image_shape"),
    (dict(X=np.zeros((3, 6)), image_shape=(4, 2)), ValueError, r"image_shape \(4, 2\) holds 8 pixels"),
    (dict(X=np.zeros(5)), ValueError, r"X must hold images"),
    (dict(X=np.zeros((3, 4)), y=[0, 1]), ValueError, r"y must have one label per image \(3\)"),
    (dict(X=np.zeros((3, 4)), n=0), ValueError, r"n must be an integer >= 1; got 0"),
])
def test_bad_arguments_are_refused(kw, exc, match):
    with pytest.raises(exc, match=match):
        plots.plot_samples(**kw)
