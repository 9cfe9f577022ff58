"""generated/ stays fresh: regenerating every example reproduces the checked-in bytes."""

import sys
from pathlib import Path

import pytest

from symgrad import generate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from regenerate import GENERATED, MODES, readme_with_fresh_code  # noqa: E402


@pytest.mark.parametrize("source,funcs,wrt,output", GENERATED, ids=[g[3] for g in GENERATED])
def test_checked_in_module_is_fresh(source, funcs, wrt, output):
    mode = MODES.get(output, "reverse")
    text = generate((ROOT / source).read_text(), source, funcs=funcs, wrt=wrt, mode=mode)
    checked_in = (ROOT / output).read_text()
    assert text == checked_in, f"{output} is stale: run `python scripts/regenerate.py`"


def test_every_example_is_generated():
    sources = {g[0] for g in GENERATED}
    # examples/train_*.py and run_*.py are runnable scripts that use a generated module,
    # not cost files
    examples = {
        f"examples/{p.name}"
        for p in (ROOT / "examples").glob("*.py")
        if not p.name.startswith(("train_", "run_"))
    }
    missing = examples - sources
    assert not missing, f"add these to scripts/regenerate.py: {sorted(missing)}"


def test_readme_shows_the_code_symgrad_emits_today():
    readme = (ROOT / "README.md").read_text()
    assert "<!-- generated/mlp_grad.py grad_cost -->" in readme
    assert readme == readme_with_fresh_code(readme), "run `python scripts/regenerate.py`"
