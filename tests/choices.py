"""Helper of the tests of the products' choice (``Net.own``): a choice set as one made before."""


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

