"""symgrad: source-to-source differentiation of NumPy cost functions.

`generate(source, path)` returns a standalone NumPy module with, for each
function f: f, grad_f, value_and_grad_f and vjp_f.
"""

from .api import VERSION as __version__
from .api import generate
from .errors import SymgradError

__all__ = ["generate", "SymgradError", "__version__"]
