"""softmax-claimcheck: the article's fact-check and a conformance suite for softmax, log-softmax
and attention implementations (`softmax-claimcheck conform MODULE:FUNCTION`)."""

# In a checkout, the engine, the implementations and the experiments live in the repository's
# own folders (claimcheck/, impl/, experiments/: the design card's layout); an installed wheel
# has them under this package (pyproject.toml maps them at build time). Searching the checkout
# root for this package's submodules makes `softmax_claimcheck.impl` the same module either way.
from pathlib import Path as _Path

_CHECKOUT = _Path(__file__).resolve().parent.parent
if (_CHECKOUT / "impl" / "__init__.py").is_file() and not (
    _Path(__file__).parent / "impl"
).is_dir():
    __path__.append(str(_CHECKOUT))
del _Path
