"""Package-level contracts of unpact_exp.methods: exports, no framework imports, no defaults."""

import inspect
import subprocess
import sys

import unpact_exp.methods as losses


def test_every_public_function_has_no_default_arguments() -> None:
    """Hyperparameters come from YAML only, so no public loss has a Python default."""
    for name in losses.__all__:
        obj = getattr(losses, name)
        if not callable(obj):
            continue
        defaults = [
            p.name
            for p in inspect.signature(obj).parameters.values()
            if p.default is not inspect.Parameter.empty
        ]
        assert not defaults, f"{name} has Python defaults for {defaults}"


def test_losses_import_neither_lightning_nor_transformers() -> None:
    code = (
        "import sys, unpact_exp.methods; "
        "names = ('lightning', 'pytorch_lightning', 'transformers'); "
        "bad = [m for m in names if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
