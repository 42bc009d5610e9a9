"""Helpers of the tests of the products' choice (``Net.own``): a choice set as one made before, and fastmlp's own
products offered on every CPU (the choice's logic tested where they are not: AVX2)."""


def choose_products(monkeypatch, own, asked=None):
    """Every training's products' choice is ``own`` (a ``Net.own`` array, or None) from then on (until
    ``monkeypatch.undo``), as a choice made before (in this process, or recorded on this machine): the numba backend
    prepares its kernels with it, timing nothing and compiling no timing kernel (``fastmlp.backends.products``);
    ``asked``, a list, gets the batch rows of each ask."""
    from fastmlp.backends import numba as backend

    def own_products(arch, rows, X=None, cut=False, **kwargs):
        if asked is not None:
            asked.append(rows)
        return own
    monkeypatch.setattr(backend, "own_products", own_products)
    monkeypatch.setattr(backend, "own_known", lambda arch, rows, X=None, cut=False, **kwargs: True)
    monkeypatch.setattr(backend, "known_choice",
                        lambda arch, rows, X=None, cut=False, **kwargs: (True, own_products(arch, rows, X, cut)))


def offer_own_products(monkeypatch):
    """On a CPU without AVX-512, where ``kernels.matmul`` offers no own product (``fits`` is always False, so nothing
    would ever be measured or chosen), ``fastmlp.backends.products`` sees float32 widths of whole tile rows as fitting,
    as it does with AVX-512: a test of how the choice is made, with its timings faked, then runs on every CPU."""
    from fastmlp.backends import products
    from fastmlp.kernels import matmul
    if not matmul.AVAILABLE:
        columns = matmul.tile_columns(4)
        monkeypatch.setattr(products, "fits", lambda n, itemsize: itemsize == 4 and n > 0 and n % columns == 0)
