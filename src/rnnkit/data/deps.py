"""Optional dependencies, imported only when a feature that needs them is used.

sktime (time-series classification sets, airline), statsmodels (sunspots), pandas and pyarrow
(Parquet) are not needed by the rest of rnnkit; a missing one raises
:class:`MissingDependencyError` naming the package and the pip command.
"""

from __future__ import annotations

import importlib
import importlib.util


class MissingDependencyError(ImportError):
    """An optional package needed for this feature is not installed."""


def is_installed(module: str) -> bool:
    """True when ``module`` can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, purpose: str, *, package: str = None):
    """Import and return ``module``, or raise naming the package to install for ``purpose``."""
    package = package or module
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{purpose} needs the package {package!r}, which is not installed ({err}). Install it with "
            f"`pip install {package}` or `pip install 'rnnkit[data]'`."
        ) from None
