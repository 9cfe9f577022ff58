"""symgrad: source-to-source differentiation of NumPy cost functions.

`generate(source, path)` returns a standalone NumPy module with, for each
function f: f, grad_f, value_and_grad_f and vjp_f.  `grad(f)`,
`value_and_grad(f)`, `vjp(f)` and `source(f)` do the same from a function
object (read from its source, never called), for notebooks.
"""

from .api import VERSION as __version__
from .api import generate
from .errors import SymgradError
from .notebook import grad, source, value_and_grad, vjp

__all__ = ["generate", "grad", "value_and_grad", "vjp", "source", "SymgradError", "__version__"]
