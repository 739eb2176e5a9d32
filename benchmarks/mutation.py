"""Mutation testing of sdpnets' core modules: does each module's own test suite notice when
its code is changed the way bugs change code?

Each mutant is one AST-level change to one module (the kinds of issue 26):

* ``compare``: a flipped comparison (``<`` / ``<=`` / ``>`` / ``>=`` swapped, ``==`` /
  ``!=``, ``in`` / ``not in``, ``is`` / ``is not``);
* ``arith``: ``+`` / ``-`` swapped, ``*`` / ``/`` swapped, ``**`` to ``*``;
* ``drop``: a factor dropped (``a * b`` becomes ``a`` or ``b``);
* ``constant``: a number swapped (``0`` to ``1``, ``1`` to ``0`` or ``2``, others doubled);
* ``raise``: a ``raise`` removed (``pass``);
* ``negate``: a condition negated (``if c`` / ``while c`` / ``c if ... else`` / ``not c``
  to ``c``);
* ``boolop``: ``and`` / ``or`` swapped;
* ``minmax``: ``max`` / ``min`` swapped (also ``np.maximum`` / ``np.minimum``).

Nothing inside docstrings, f-strings, log calls or the message of a ``raise`` is mutated,
nor code that only makes such text: assignments to names read only by it (a progress
counter, a comparison picking a word of a message, a message built in pieces) and ``if``
statements holding nothing else (:func:`_message_statements`).
The mutants of a module are listed in a fixed order and a seeded sample of them is run: the
module's file is replaced by the mutant in a private copy of the repository, and the
module's own tests (:data:`TESTS`: its mirror files under ``tests/`` and the files that
test it directly) run there with ``-x`` under a per-mutant timeout. A mutant is *killed*
when a test fails, errors or times out, *survived* when all pass. Survivors are what a
person then reads: a real gap in the tests, or an *equivalent* mutant (no behaviour
changes) to be listed with the reason.

Run (nice it: it is long)::

    nice .venv/bin/python benchmarks/mutation.py --per-module 20 --out mutation.jsonl
    .venv/bin/python benchmarks/mutation.py --modules sdpnets/backends/base.py --list
    .venv/bin/python benchmarks/mutation.py --rerun mutation.jsonl --out rerun.jsonl  # survivors
    .venv/bin/python benchmarks/mutation.py --report mutation.jsonl

Results (one JSON line per mutant) are appended to ``--out`` as they come, so an interrupted
campaign resumes: mutants already in the file are skipped.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Each module under mutation and its own tests (the mirror files first: ``-x`` stops at the
#: first failure, so the fastest, most specific tests should come first).
TESTS: dict[str, list[str]] = {
    "sdpnets/backends/base.py": ["tests/backends/test_base.py", "tests/backends/test_backends.py"],
    "sdpnets/backends/clarabel.py": ["tests/backends/test_base.py",
                                     "tests/backends/test_backends.py"],
    "sdpnets/backends/scs.py": ["tests/backends/test_base.py", "tests/backends/test_backends.py"],
    "sdpnets/backends/sizes.py": ["tests/backends/test_sizes.py", "tests/solving/test_memory.py",
                                  "tests/solving/test_memory_measured.py"],
    "sdpnets/backends/firstorder/penalties.py": ["tests/backends/firstorder/test_penalties.py",
                                                 "tests/backends/firstorder/test_firstorder.py"],
    "sdpnets/backends/firstorder/datafits.py": ["tests/backends/firstorder/test_datafits.py",
                                                "tests/backends/firstorder/test_firstorder.py"],
    "sdpnets/backends/firstorder/solvers.py": ["tests/backends/firstorder/test_solvers.py",
                                               "tests/backends/firstorder/test_firstorder.py"],
    "sdpnets/solving/verify.py": ["tests/solving/test_verify.py"],
    "sdpnets/solving/memory.py": ["tests/solving/test_memory.py",
                                  "tests/solving/test_memory_measured.py"],
    "sdpnets/solving/pipeline.py": ["tests/solving/test_pipeline.py",
                                    "tests/solving/test_memory.py"],
    "sdpnets/formulations/base.py": ["tests/formulations/test_base.py"],
    "sdpnets/formulations/linear_fc.py": ["tests/formulations/test_linear_fc_recovery.py",
                                          "tests/formulations/test_linear_fc.py"],
    "sdpnets/formulations/relu/dual_norm.py": ["tests/formulations/relu/test_dual_norm_bounds.py",
                                               "tests/formulations/relu/test_dual_norm.py",
                                               "tests/formulations/relu/test_group_lasso.py"],
    "sdpnets/formulations/relu/group_lasso.py": ["tests/formulations/relu/test_group_lasso.py",
                                                 "tests/formulations/relu/test_mlp.py"],
    "sdpnets/features/patterns.py": ["tests/features/test_patterns.py",
                                     "tests/features/test_patterns_counts.py"],
    "sdpnets/features/arrangement.py": ["tests/features/test_patterns.py",
                                        "tests/features/test_patterns_counts.py"],
    "sdpnets/losses.py": ["tests/test_losses.py", "tests/test_losses_dual_points.py"],
}

OPERATORS = ("compare", "arith", "drop", "constant", "raise", "negate", "boolop", "minmax")

_FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
         ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
         ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_REVERSE = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
_ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
          ast.Pow: ast.Mult, ast.FloorDiv: ast.Mult}
_MINMAX = {"max": "min", "min": "max", "maximum": "minimum", "minimum": "maximum"}


@dataclass(frozen=True)
class Mutant:
    """One change: the ``index``-th candidate of ``module`` (in :func:`candidates` order)."""

    module: str
    index: int
    line: int
    operator: str
    before: str
    after: str

    @property
    def key(self) -> str:
        return f"{self.module}:{self.index}"


# --- finding the candidates -------------------------------------------------------------------


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes that are never mutated: docstrings, f-strings, log calls, the messages
    of raises and warnings, annotations, ``__all__`` and lines marked ``pragma: no cover``."""
    skip: set[int] = set()

    def all_of(node):
        skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            all_of(body[0])
        if isinstance(node, ast.JoinedStr):
            all_of(node)
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func, "value", None)
            owner_name = getattr(owner, "id", "")
            if owner_name in ("logger", "logging", "warnings") or name in ("warn",):
                all_of(node)
        if isinstance(node, ast.Raise) and node.exc is not None:
            if isinstance(node.exc, ast.Call):
                for a in node.exc.args + [k.value for k in node.exc.keywords]:
                    all_of(a)
        if isinstance(node, (ast.AnnAssign, ast.arg)) and getattr(node, "annotation", None):
            all_of(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            all_of(node.returns)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                for t in node.targets):
            all_of(node)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for statement in _message_statements(node, skip):
                all_of(statement)
    return skip


def _message_statements(func: ast.AST, skip: set[int]) -> list[ast.stmt]:
    """The statements of ``func`` that only make message or log text: log calls, assignments
    to names whose every use is such text, and ``if`` statements holding nothing else.

    *Text names* are those only ever assigned f-strings (a message built in pieces); a name
    is *message-only* when every read of it is inside skipped text (an f-string, a log call,
    a raise's message) or inside a message statement; this is found as a fixed point,
    starting from every name the function assigns and dropping those read elsewhere.
    """
    def names(target: ast.AST) -> list[str] | None:
        if isinstance(target, ast.Name):
            return [target.id]
        if isinstance(target, (ast.Tuple, ast.List)):
            out = [names(t) for t in target.elts]
            return None if any(o is None for o in out) else [n for o in out for n in o]
        return None

    def assigned(stmt: ast.stmt) -> tuple[list[str] | None, ast.AST | None]:
        if isinstance(stmt, ast.Assign):
            parts = [names(t) for t in stmt.targets]
            if any(p is None for p in parts):
                return None, None
            return [n for p in parts for n in p], stmt.value
        if isinstance(stmt, (ast.AugAssign, ast.AnnAssign)) and stmt.value is not None:
            return names(stmt.target), stmt.value
        return None, None

    def is_text(value: ast.AST) -> bool:
        return isinstance(value, ast.JoinedStr) or (
            isinstance(value, ast.Constant) and isinstance(value.value, str))

    statements = [n for n in ast.walk(func) if isinstance(n, ast.stmt) and n is not func]
    values: dict[str, list[ast.AST]] = {}
    for stmt in statements:
        targets, value = assigned(stmt)
        for name in targets or []:
            values.setdefault(name, []).append(value)
    text = {name for name, vs in values.items()
            if all(is_text(v) for v in vs) and any(isinstance(v, ast.JoinedStr) for v in vs)}
    shared = {n for stmt in statements if isinstance(stmt, (ast.Global, ast.Nonlocal))
              for n in stmt.names}  # read elsewhere too
    text -= shared
    quiet = set(values) - shared  # candidates for message-only names, shrunk to a fixed point

    def message(stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.Pass):
            return True
        if isinstance(stmt, ast.Expr):
            return id(stmt.value) in skip and isinstance(stmt.value, ast.Call)
        if isinstance(stmt, ast.If):
            return all(message(s) for s in stmt.body + stmt.orelse)
        targets, _ = assigned(stmt)
        return targets is not None and all(n in quiet for n in targets)

    while True:
        inside: set[int] = set(skip)
        for stmt in statements:
            if message(stmt):
                inside.update(id(n) for n in ast.walk(stmt))
        read_elsewhere = {n.id for n in ast.walk(func) if isinstance(n, ast.Name)
                          and isinstance(n.ctx, ast.Load) and id(n) not in inside}
        shrunk = quiet - (read_elsewhere - text)
        if shrunk == quiet:
            break
        quiet = shrunk
    return [stmt for stmt in statements if message(stmt)]


def _no_cover_lines(source: str) -> set[int]:
    return {i + 1 for i, line in enumerate(source.splitlines()) if "pragma: no cover" in line}


def _changes(node: ast.AST):
    """``(operator, apply)`` pairs for one node; ``apply(node)`` returns the replacement."""
    out = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for table in (_FLIP, _REVERSE):
                if type(op) in table:
                    def flip(n, i=i, new=table[type(op)]):
                        n.ops[i] = new()
                        return n
                    out.append(("compare", flip))
    elif isinstance(node, ast.BinOp):
        if type(node.op) in _ARITH:
            def arith(n, new=_ARITH[type(node.op)]):
                n.op = new()
                return n
            out.append(("arith", arith))
        if isinstance(node.op, (ast.Mult, ast.Div)):
            out.append(("drop", lambda n: n.left))
            if isinstance(node.op, ast.Mult):
                out.append(("drop", lambda n: n.right))
    elif isinstance(node, ast.AugAssign) and type(node.op) in _ARITH:
        def aug(n, new=_ARITH[type(node.op)]):
            n.op = new()
            return n
        out.append(("arith", aug))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        v = node.value
        news = [1] if v == 0 else ([0, 2] if v == 1 else [v * 2])
        for new in news:
            out.append(("constant", lambda n, new=new: ast.copy_location(
                ast.Constant(type(v)(new)), n)))
    elif isinstance(node, ast.Raise):
        out.append(("raise", lambda n: ast.copy_location(ast.Pass(), n)))
    elif isinstance(node, (ast.If, ast.While, ast.IfExp)):
        def negate(n):
            n.test = ast.UnaryOp(ast.Not(), n.test)
            return n
        out.append(("negate", negate))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("negate", lambda n: n.operand))
    elif isinstance(node, ast.BoolOp):
        def boolop(n):
            n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()
            return n
        out.append(("boolop", boolop))
    elif isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in _MINMAX:
            def minmax(n, new=_MINMAX[name]):
                if isinstance(n.func, ast.Attribute):
                    n.func.attr = new
                else:
                    n.func.id = new
                return n
            out.append(("minmax", minmax))
    return out


def candidates(module: str, wanted=None) -> list[tuple[Mutant, str]]:
    """The mutants of ``module`` with their sources, in a fixed order (``wanted``: the
    indices to build; all by default). Listing is cheap; each built mutant costs a copy and
    an unparse of the module."""
    source = (ROOT / module).read_text()
    tree = ast.parse(source)
    skip, no_cover = _skipped_nodes(tree), _no_cover_lines(source)
    nodes = [n for n in ast.walk(tree) if id(n) not in skip
             and getattr(n, "lineno", 0) not in no_cover]
    listed = [(node, operator, apply) for node in nodes for operator, apply in _changes(node)]
    out: list[tuple[Mutant, str]] = []
    for index, (node, operator, apply) in enumerate(listed):
        if wanted is not None and index not in wanted:
            continue
        mutated = copy.deepcopy(tree)
        target = _nth(mutated, tree, node)
        shown = target.test if isinstance(target, (ast.If, ast.While, ast.IfExp)) else target
        before = ast.unparse(shown)
        new = apply(target)
        _replace(mutated, target, new)
        ast.fix_missing_locations(mutated)
        after = "pass" if isinstance(new, ast.Pass) else ast.unparse(
            new.test if isinstance(new, (ast.If, ast.While, ast.IfExp)) else new)
        out.append((Mutant(module, index, node.lineno, operator, before[:160], after[:160]),
                    ast.unparse(mutated)))
    return out


def count(module: str) -> int:
    """How many mutants :func:`candidates` lists for ``module``."""
    return len(candidates_listed(module))


def candidates_listed(module: str) -> list[tuple[int, str]]:
    """``(line, operator)`` of every mutant of ``module``, in :func:`candidates` order."""
    source = (ROOT / module).read_text()
    tree = ast.parse(source)
    skip, no_cover = _skipped_nodes(tree), _no_cover_lines(source)
    return [(n.lineno, op) for n in ast.walk(tree) if id(n) not in skip
            and getattr(n, "lineno", 0) not in no_cover for op, _ in _changes(n)]


def _nth(mutated: ast.AST, tree: ast.AST, node: ast.AST) -> ast.AST:
    """The node of ``mutated`` (a deep copy of ``tree``) at ``node``'s place."""
    for a, b in zip(ast.walk(tree), ast.walk(mutated)):
        if a is node:
            return b
    raise LookupError(node)


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    if new is old:
        return
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return
    raise LookupError(old)


# --- running ----------------------------------------------------------------------------------


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        src = ROOT / name
        if not src.is_file():
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def run_mutant(workdir: Path, mutant: Mutant, text: str, tests: list[str],
               timeout: float) -> dict:
    path = workdir / mutant.module
    original = path.read_text()
    path.write_text(text)
    env = dict(os.environ, PYTHONPATH=str(workdir), PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "--no-header", "--hypothesis-profile=mutation", *tests]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=timeout)
        status = "survived" if proc.returncode == 0 else "killed"
        tail = "" if status == "survived" else _failure(proc.stdout)
        if proc.returncode in (4, 5):  # usage error / no tests collected: not a verdict
            status, tail = "invalid", proc.stdout[-400:] + proc.stderr[-400:]
    except subprocess.TimeoutExpired:
        status, tail = "killed", f"timeout after {timeout:g} s"
    finally:
        path.write_text(original)
    return dict(asdict(mutant), status=status, seconds=round(time.perf_counter() - start, 1),
                by=tail, tests=tests)


def _failure(stdout: str) -> str:
    for line in stdout.splitlines():
        if line.startswith(("FAILED", "ERROR")):
            return line[:200]
    return stdout.strip().splitlines()[-1][:200] if stdout.strip() else ""


def _done(out: Path | None) -> dict[str, dict]:
    if out is None or not out.exists():
        return {}
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {f"{r['module']}:{r['index']}": r for r in rows}


def report(rows: list[dict]) -> str:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["module"], []).append(r)
    lines = [f"{'module':<46} {'run':>4} {'killed':>6} {'surv':>5} {'score':>6}"]
    total_k = total_n = 0
    for module in sorted(by):
        rs = [r for r in by[module] if r["status"] in ("killed", "survived")]
        k = sum(r["status"] == "killed" for r in rs)
        total_k, total_n = total_k + k, total_n + len(rs)
        score = f"{100 * k / len(rs):.0f}%" if rs else "-"
        lines.append(f"{module:<46} {len(rs):>4} {k:>6} {len(rs) - k:>5} {score:>6}")
    if total_n:
        lines.append(f"{'total':<46} {total_n:>4} {total_k:>6} {total_n - total_k:>5} "
                     f"{100 * total_k / total_n:>5.0f}%")
    surv = [r for r in rows if r["status"] == "survived"]
    if surv:
        lines.append("\nsurvivors:")
        for r in sorted(surv, key=lambda r: (r["module"], r["line"])):
            lines.append(f"  {r['module']}:{r['line']} [{r['operator']}] "
                         f"{r['before']!r} -> {r['after']!r}  (#{r['index']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="*", default=list(TESTS))
    parser.add_argument("--per-module", type=int, default=20, help="mutants sampled per module")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant")
    parser.add_argument("--out", type=Path, help="append one JSON line per mutant")
    parser.add_argument("--list", action="store_true", help="list the sample, run nothing")
    parser.add_argument("--rerun", type=Path, help="run again the survivors of this file")
    parser.add_argument("--only", nargs="*", default=None, help="module:index keys to run")
    parser.add_argument("--report", type=Path, help="summarize a results file and exit")
    args = parser.parse_args(argv)
    if args.report:
        print(report(list(_done(args.report).values())))
        return 0
    wanted: dict[str, set[int]] = {}
    if args.rerun:
        for r in _done(args.rerun).values():
            if r["status"] == "survived":
                wanted.setdefault(r["module"], set()).add(r["index"])
    if args.only:
        for key in args.only:
            module, index = key.rsplit(":", 1)
            wanted.setdefault(module, set()).add(int(index))
    plan: list[tuple[Mutant, str]] = []
    for module in (sorted(wanted) if wanted else args.modules):
        total = count(module)
        if wanted:
            indices = wanted[module]
        else:
            k = min(args.per_module, total)
            indices = set(random.Random(f"{args.seed}:{module}").sample(range(total), k))
        chosen = candidates(module, indices)
        plan.extend(chosen)
        print(f"# {module}: {total} mutants, {len(chosen)} sampled", file=sys.stderr)
    if args.list:
        for m, _ in plan:
            print(f"{m.key:<52} line {m.line:<4} [{m.operator}] {m.before!r} -> {m.after!r}")
        return 0
    done = _done(args.out)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="sdpnets-mutation-") as tmp:
        workdir = Path(tmp)
        _copy_repo(workdir)
        for i, (mutant, text) in enumerate(plan):
            if mutant.key in done and not args.rerun:
                continue
            tests = [t for t in TESTS.get(mutant.module, []) if (workdir / t).exists()]
            if not tests:
                print(f"# no tests for {mutant.module}", file=sys.stderr)
                continue
            row = run_mutant(workdir, mutant, text, tests, args.timeout)
            row["commit"] = commit
            print(f"[{i + 1}/{len(plan)}] {row['status']:<8} {row['seconds']:>6.1f}s "
                  f"{mutant.key} line {mutant.line} [{mutant.operator}] "
                  f"{mutant.before!r} -> {mutant.after!r}", flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
            done[mutant.key] = row
    print(report([done[m.key] for m, _ in plan if m.key in done]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
