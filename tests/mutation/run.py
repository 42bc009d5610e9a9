"""Run the mutation check: each mutant of ``mutants.py`` in its own copy of the repository.

For each mutant, one at a time: copy the repository's tracked files (``git ls-files``, as
they are in the working tree, modification times kept) into a temporary folder, link
``fastmlp/kernels -> ../kernels`` there as the editable layout does, apply the mutant
(refused when its snippet does not occur exactly once), and run
``python -m pytest -x -q -p no:cacheprovider <its tests>`` in that folder with
``PYTHONPATH`` pointing at it. A mutant of ``kernels/`` gets a fresh ``NUMBA_CACHE_DIR``
(its compiled kernels are thrown away with the folder); the others share the user's
kernel cache, whose folder is keyed on the kernel sources (``kernels/intrinsics.py``).

Result per mutant: **caught** (a test failed, or the run crashed), **survived** (its tests
passed), **equivalent** (survived, and marked as unable to change behaviour), or **error**
(could not be applied, did not import from the copy, timed out, or pytest could not run
the tests). First the unmutated copy runs the union of the selected mutants' tests
(``--no-baseline`` skips it): a test that fails without a mutant would make every mutant
look caught.

Usage::

    python -m tests.mutation.run [--only NAME ...] [--list] [--report FILE] [--no-baseline]

Prints a Markdown table (mutant, file, what, caught by, result, seconds) and writes it to
``--report``. Exits 1 when a mutant survives, is caught although marked equivalent, or
errs (or the baseline fails), else 0.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from .mutants import MUTANTS
except ImportError:  # run as a script: python tests/mutation/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mutants import MUTANTS

REPO = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
BASELINE_TIMEOUT = 3600.0
IMPORT_CHECK = ("import fastmlp, fastmlp.kernels, fastmlp.bench; "
                "print(fastmlp.__file__); print(fastmlp.kernels.__file__); print(fastmlp.bench.__file__)")


class MutantError(Exception):
    """The mutant could not be run (snippet not found once, imports not from the copy, ...)."""


def tracked_files(repo):
    out = subprocess.run(["git", "ls-files", "-z"], cwd=repo, check=True, capture_output=True).stdout
    return [name for name in out.decode().split("\0") if name]


def copy_repository(repo, dest):
    """The tracked files of ``repo`` (working-tree contents, times kept) into ``dest``, and
    the ``fastmlp/kernels -> ../kernels`` and ``fastmlp/bench -> ../bench`` links (the packages the
    installed project maps there: without them the copy's fastmlp would import the installed ones)."""
    for name in tracked_files(repo):
        src = repo / name
        if not src.exists():  # deleted in the working tree, not yet committed
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    for package in ("kernels", "bench"):
        (dest / "fastmlp" / package).symlink_to(Path("..") / package, target_is_directory=True)


def apply(mutant, root):
    """Replace the mutant's snippet in its file under ``root``; MutantError unless it occurs exactly once."""
    path = root / mutant.file
    if not path.is_file():
        raise MutantError(f"{mutant.file} does not exist")
    text = path.read_text()
    count = text.count(mutant.original)
    if count != 1:
        raise MutantError(f"its snippet occurs {count} times in {mutant.file} (must be exactly once): "
                          f"{mutant.original.strip().splitlines()[0]!r}")
    path.write_text(text.replace(mutant.original, mutant.replacement))


def environment(root, fresh_kernel_cache):
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    if fresh_kernel_cache:
        env["NUMBA_CACHE_DIR"] = str(root / ".numba-cache")
    return env


def check_imports(root, env):
    """The copy's fastmlp, kernels and bench are the ones imported (not an installed fastmlp's)."""
    done = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=root, env=env, capture_output=True, text=True)
    files = done.stdout.split()
    if done.returncode != 0 or len(files) != 3:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MutantError(f"importing fastmlp from the copy failed: {last}")
    for f in files:
        if not Path(f).resolve().is_relative_to(root.resolve()):
            raise MutantError(f"imported {f}, not from the copy {root}")


def run_tests(tests, root, env, timeout):
    """(pytest return code or None on timeout, its output); the whole process group is killed on timeout."""
    proc = subprocess.Popen(PYTEST + list(tests), cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return None, proc.communicate()[0]
    except BaseException:  # Ctrl-C: the tests run in their own session, stop them too
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def first_failure(output):
    """The first failing test's node id in pytest's summary, or None."""
    match = re.search(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", output, re.MULTILINE)
    return match.group(1) if match else None


def classify(mutant, code, output):
    """(result, caught by) of a finished test run."""
    if code is None:
        return "error", f"timeout after {mutant.timeout:g} s"
    if code == 0:
        return ("equivalent", "-") if mutant.equivalent else ("survived", "-")
    if code == 1 or code < 0:
        by = first_failure(output) if code == 1 else f"crash (signal {-code})"
        by = by or "a failing test (see log)"
        return ("error", f"marked equivalent but caught by {by}") if mutant.equivalent else ("caught", by)
    return "error", f"pytest exit code {code} (tests not run: collection or usage error)"


def run_mutant(mutant, log):
    """Run one mutant; returns a result row (dict)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        root = Path(tmp)
        try:
            copy_repository(REPO, root)
            apply(mutant, root)
            env = environment(root, fresh_kernel_cache=mutant.file.startswith("kernels/"))
            check_imports(root, env)
            code, output = run_tests(mutant.tests, root, env, mutant.timeout)
            result, by = classify(mutant, code, output)
        except MutantError as e:
            print(f"\n*** mutant {mutant.name} NOT RUN: {e}\n", file=sys.stderr)
            result, by, output = "error", f"not run: {e}", ""
    seconds = time.perf_counter() - t0
    log.write(f"\n===== {mutant.name}: {result} ({by}), {seconds:.0f} s\n{output}")
    log.flush()
    return dict(name=mutant.name, file=mutant.file, what=mutant.description, by=by, result=result, seconds=seconds)


def run_baseline(mutants, log):
    """The union of the mutants' tests on an unmutated copy: (passed?, seconds, first failure)."""
    tests = list(dict.fromkeys(t for m in mutants for t in m.tests))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutant-baseline-") as tmp:
        root = Path(tmp)
        copy_repository(REPO, root)
        env = environment(root, fresh_kernel_cache=False)
        check_imports(root, env)
        code, output = run_tests(tests, root, env, BASELINE_TIMEOUT)
    log.write(f"\n===== baseline: exit code {code}\n{output}")
    log.flush()
    return code == 0, time.perf_counter() - t0, first_failure(output) or f"exit code {code}"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(rows):
    lines = ["| mutant | file | what | caught by | result | seconds |", "|---|---|---|---|---|---:|"]
    for r in rows:
        by = f"`{r['by']}`" if r["result"] == "caught" else r["by"]
        lines.append(f"| `{r['name']}` | `{r['file']}` | {_cell(r['what'])} | {_cell(by)} | {r['result']} "
                     f"| {r['seconds']:.0f} |")
    counts = {k: sum(r["result"] == k for r in rows) for k in ("caught", "equivalent", "survived", "error")}
    total = sum(r["seconds"] for r in rows)
    lines.append("")
    lines.append(f"{len(rows)} mutants: {counts['caught']} caught, {counts['equivalent']} equivalent, "
                 f"{counts['survived']} survived, {counts['error']} error; {total:.0f} s "
                 f"({total / 60:.1f} min) of mutant runs.")
    return "\n".join(lines)


def select(only):
    by_name = {m.name: m for m in MUTANTS}
    if len(by_name) != len(MUTANTS):
        raise SystemExit("mutants.py: two mutants share a name")
    if not only:
        return list(MUTANTS)
    names = [n for arg in only for n in arg.split(",") if n]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown mutant(s) {unknown}; see --list")
    return [by_name[n] for n in names]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable, or a,b)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--report", metavar="FILE", help="also write the Markdown table here")
    parser.add_argument("--log", metavar="FILE", help="the pytest output of every run (default: a temporary file)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run of the tests without a mutant")
    args = parser.parse_args(argv)
    mutants = select(args.only)
    if args.list:
        for m in mutants:
            flag = " (equivalent)" if m.equivalent else ""
            print(f"{m.name:40s} {m.file:28s} {m.description}{flag}\n{'':40s} tests: {' '.join(m.tests)}")
        return 0
    log_path = args.log
    if log_path is None:
        fd, log_path = tempfile.mkstemp(prefix="mutation-", suffix=".log")
        os.close(fd)
    started = time.perf_counter()
    with open(log_path, "w") as log:
        print(f"pytest output: {log_path}", flush=True)
        if not args.no_baseline:
            ok, seconds, failure = run_baseline(mutants, log)
            print(f"baseline (no mutant, {seconds:.0f} s): {'passed' if ok else 'FAILED: ' + failure}", flush=True)
            if not ok:
                print("the tests fail without a mutant: fix them first", file=sys.stderr)
                return 1
        rows = []
        for i, m in enumerate(mutants, 1):
            row = run_mutant(m, log)
            rows.append(row)
            print(f"[{i}/{len(mutants)}] {m.name}: {row['result']} ({row['by']}), {row['seconds']:.0f} s", flush=True)
    report = table(rows) + f"\nWall time including the baseline: {time.perf_counter() - started:.0f} s.\n"
    print("\n" + report)
    if args.report:
        Path(args.report).write_text(report)
    return 0 if all(r["result"] in ("caught", "equivalent") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
