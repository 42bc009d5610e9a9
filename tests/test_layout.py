"""The project's layout rules, checked on the source text (parsed with ``ast``, nothing imported).

- No import cycle among the project's own modules, counting every import statement
  wherever it stands (module level, inside a function, under ``if``/``try``) and
  ``importlib.import_module("literal")``: a lazy import hides a cycle, it does not break it.
- Nothing in the library (``fastmlp/``) imports the benchmarks (``fastmlp.bench``) except
  the CLI, and the CLI only inside a function (its ``bench`` command).
- The kernels (``kernels/``) import nothing of the project outside ``fastmlp.kernels``.
- Every module opens with a docstring.
- Every package (a folder with ``__init__.py``) is listed in pyproject.toml, so that a
  normal (not editable) install contains it.

Folders are named as installed (pyproject's package-dir): ``kernels/x.py`` is
``fastmlp.kernels.x``, ``bench/peers/x.py`` is ``fastmlp.bench.peers.x``. An edge goes to
the deepest project module an import names (``from . import x`` is module ``x`` when
there is one, else the package); the parent packages Python starts on the way are not
edges: a package is in ``sys.modules`` before its submodules run, so they add no order.
"""
import ast
import functools
import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"fastmlp": "fastmlp", "fastmlp.kernels": "kernels", "fastmlp.bench": "bench"}  # package -> folder


def find_modules(root, folders=FOLDERS):
    """``{module name: path}`` of every ``.py`` file under each folder of ``folders``.

    Links are not followed (a checkout may have ``fastmlp/kernels`` linking to ``kernels/``).
    """
    out = {}
    for package, folder in folders.items():
        base = Path(root) / folder
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
            parts = (package,) + Path(dirpath).relative_to(base).parts
            for name in filenames:
                if name.endswith(".py"):
                    out[".".join(parts if name == "__init__.py" else parts + (name[:-3],))] = Path(dirpath) / name
    return out


class _Imports(ast.NodeVisitor):
    """Collects ``(absolute name imported, at module level?)`` of every import in a module."""

    def __init__(self, package):
        self.package, self.depth, self.found = package, 0, []

    def _function(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node):
        self.found += [(a.name, self.depth == 0) for a in node.names]

    def visit_ImportFrom(self, node):
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            parts = parts[:len(parts) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        # `from p import x`: module p.x when there is one, else a name in p (see _project_module)
        self.found += [(f"{base}.{a.name}", self.depth == 0) for a in node.names]

    def visit_Call(self, node):
        f = node.func
        if (isinstance(f, ast.Attribute) and f.attr == "import_module" and isinstance(f.value, ast.Name)
                and f.value.id == "importlib" and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str) and not node.args[0].value.startswith(".")):
            self.found.append((node.args[0].value, self.depth == 0))
        self.generic_visit(node)


def _project_module(name, modules):
    """The longest prefix of ``name`` that is a project module (``a.b.c``, ``a.b``, ``a``), else None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in modules:
            return ".".join(parts[:i])
    return None


def import_graph(modules):
    """``{module: {imported project module: at module level?}}`` (True if any import of it is)."""
    graph = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        visitor = _Imports(package)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        edges = graph[module] = {}
        for name, top in visitor.found:
            target = _project_module(name, modules)
            if target and target != module:
                edges[target] = edges.get(target, False) or top
    return graph


def find_cycles(graph):
    """One cycle ``[a, b, ..., a]`` per strongly connected group of modules (Tarjan), sorted."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(_cycle_through(min(g), g, graph) for g in groups)


def _cycle_through(start, group, graph):
    """The shortest path ``[start, ..., start]`` inside ``group`` (breadth first)."""
    came_from, frontier = {}, [start]
    while start not in came_from:  # start is reachable: the group is strongly connected
        reached = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w in group and w not in came_from:
                    came_from[w] = v
                    reached.append(w)
        frontier = reached
    path, v = [start], came_from[start]
    while v != start:
        path.append(v)
        v = came_from[v]
    return [start] + path[::-1]


def _in(module, package):
    return module == package or module.startswith(package + ".")


def bench_imports(graph):
    """Library modules importing ``fastmlp.bench``: any but the CLI, and the CLI at module level."""
    return [f"{m} -> {t}" + (" (module level)" if top else "") for m, edges in sorted(graph.items())
            if not _in(m, "fastmlp.bench") and not _in(m, "fastmlp.kernels")
            for t, top in sorted(edges.items()) if _in(t, "fastmlp.bench") and (m != "fastmlp.cli" or top)]


def kernel_imports(graph):
    """Kernel modules importing a project module outside ``fastmlp.kernels``."""
    return [f"{m} -> {t}" for m, edges in sorted(graph.items()) if _in(m, "fastmlp.kernels")
            for t in sorted(edges) if not _in(t, "fastmlp.kernels")]


def bare_modules(modules):
    """Modules that do not open with a docstring."""
    return [f"{m} ({p})" for m, p in sorted(modules.items())
            if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]


@functools.cache
def project():
    modules = find_modules(ROOT)
    return modules, import_graph(modules)


def test_the_project_has_modules_in_every_folder():
    modules, _ = project()
    for package, folder in FOLDERS.items():
        assert package in modules, f"{package} ({folder}/__init__.py) not found"
    assert len(modules) > 20


def test_no_import_cycles():
    cycles = find_cycles(project()[1])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_library_imports_the_benchmarks_only_in_the_cli_bench_command():
    bad = bench_imports(project()[1])
    assert not bad, "the library imports its benchmarks:\n" + "\n".join(bad)


def test_kernels_import_nothing_of_the_project_but_kernels():
    bad = kernel_imports(project()[1])
    assert not bad, "kernels importing the library:\n" + "\n".join(bad)


def test_every_module_opens_with_a_docstring():
    bare = bare_modules(project()[0])
    assert not bare, "modules without a docstring:\n" + "\n".join(bare)


def test_every_package_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {name for name, path in project()[0].items() if path.name == "__init__.py"}
    assert found <= listed, f"packages missing from pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
    for package, folder in config["package-dir"].items():
        assert (ROOT / folder / "__init__.py").exists(), f"{package} -> {folder} has no __init__.py"


def test_the_rules_fail_on_a_tree_that_breaks_them(tmp_path):
    """A cycle closed by a function-level relative import, a kernel importing the library,
    the library importing the benchmarks (by importlib; the CLI at module level) and a
    module without a docstring are all found."""
    files = {
        "lib/__init__.py": '"""p."""\nfrom .a import f\n',
        "lib/a.py": '"""a."""\nfrom .sub import b\n\ndef f():\n    return b\n',
        "lib/sub/__init__.py": '"""sub."""\n',
        "lib/sub/b.py": '"""b."""\ndef g():\n    from .. import a\n    return a\n',
        "lib/c.py": '"""c."""\nimport importlib\nimportlib.import_module("fastmlp.bench.x")\n',
        "lib/cli.py": '"""cli."""\nfrom .bench import x\n\ndef bench():\n    from .bench.x import main\n',
        "k/__init__.py": "",
        "k/d.py": '"""d."""\nfrom fastmlp.sub.b import g\nfrom . import e\n',
        "k/e.py": '"""e."""\nimport numpy\n',
        "b/__init__.py": '"""b."""\n',
        "b/x.py": '"""x."""\n',
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = find_modules(tmp_path, {"fastmlp": "lib", "fastmlp.kernels": "k", "fastmlp.bench": "b"})
    graph = import_graph(modules)
    assert graph["fastmlp.sub.b"] == {"fastmlp.a": False}
    assert graph["fastmlp.kernels.d"] == {"fastmlp.sub.b": True, "fastmlp.kernels.e": True}
    assert find_cycles(graph) == [["fastmlp.a", "fastmlp.sub.b", "fastmlp.a"]]
    assert bench_imports(graph) == ["fastmlp.c -> fastmlp.bench.x (module level)",
                                    "fastmlp.cli -> fastmlp.bench.x (module level)"]
    assert kernel_imports(graph) == ["fastmlp.kernels.d -> fastmlp.sub.b"]
    assert bare_modules(modules) == [f"fastmlp.kernels ({tmp_path / 'k' / '__init__.py'})"]
