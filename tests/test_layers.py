"""The package's import graph: every import points down the layers, and nothing imports itself.

Each module of ``unpact_exp`` belongs to one layer (its package, or a top-level module); an
import is allowed only from a layer to the same or a lower one, and the module graph has no
cycle. Imports inside functions count too (a lazy import is still a dependency). The layers
are the ones docs/architecture.md draws; a new top-level module or package must be placed
here, which makes the decision visible in review.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import unpact_exp

PACKAGE = Path(unpact_exp.__file__).resolve().parent

LAYERS: list[set[str]] = [
    {"", "errors", "stop", "resolvers", "hydra_runtime", "storage", "console"},  # foundation
    {"config", "class_names"},  # the binder, range checks, config-named classes
    {"results", "run_lock", "hub", "run_folder", "summary", "wandb_mode"},  # records, locks, hub,
    # summaries, the W&B mode the environment allows
    {"data", "models"},  # inputs: datasets, models, prompts
    {"judge"},  # answer judges (text only)
    {"unpact"},  # the UNPACT core: scoring, units, contributions, KeyTokens, generation
    {"evaluation"},  # M1 against M0: tasks, rates, statistics, the M0 cache, sharding
    {"methods"},  # unlearning objectives (token weights sit on unpact)
    {"training"},  # the Lightning module, data module and trainer
    {"attacks", "metrics"},  # registered attacks and metrics, implementing evaluation's contract
    {"report"},  # sweep reports
    {"callbacks"},  # Lightning callbacks
    {"tracking", "run_identity", "memory"},  # loggers and how W&B files a run; the estimator
    {"stages"},  # one module per stage
    {"run", "compose", "hydra_callbacks", "hydra_entry", "cli", "__main__"},  # entry points
]


def unit_of(module: str) -> str:
    """The layer unit of ``unpact_exp.x.y``: ``x`` (its package or top-level module)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(unit: str) -> int:
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise AssertionError(f"unpact_exp.{unit} is in no layer; add it to LAYERS in {__file__}")


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imports_of(path: Path, module: str) -> set[str]:
    """Every ``unpact_exp`` module ``path`` imports (``from a import b`` counts ``a.b`` when
    ``b`` is a module)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("unpact_exp")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if not base.startswith("unpact_exp"):
                continue
            found.add(base)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() or (
                    PACKAGE.parent / candidate.replace(".", "/") / "__init__.py"
                ).exists():
                    found.add(candidate)
    return found


def graph() -> dict[str, set[str]]:
    return {name: imports_of(path, name) - {name} for name, path in modules()}


def test_every_import_points_down_the_layers() -> None:
    upward = []
    for module, targets in graph().items():
        for target in targets:
            if target == "unpact_exp" or target.startswith(f"{module}."):
                continue  # the root's constants; a package importing its own modules
            if layer_of(unit_of(target)) > layer_of(unit_of(module)):
                upward.append(f"{module} -> {target}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges or nxt.startswith(f"{node}."):
                continue
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_check_sees_an_upward_import() -> None:
    """The walk is not vacuous: the entry point's imports reach down to the foundation."""
    edges = graph()
    assert "unpact_exp.stages.settings" in edges["unpact_exp.run"]
    assert layer_of(unit_of("unpact_exp.run")) > layer_of(unit_of("unpact_exp.stages.settings"))
    assert any(t.startswith("unpact_exp.unpact") for t in edges["unpact_exp.evaluation.evaluator"])
