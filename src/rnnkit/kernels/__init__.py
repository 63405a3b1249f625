"""How a whole sequence is computed: ``reference`` (the specification), ``fused`` (our C++
forward and hand-derived backward through time), ``vendor`` (torch's own kernels), chosen by
``dispatch`` and reported by ``explain``."""

from rnnkit.kernels.dispatch import BACKENDS, BackendUnavailableError, Choice
from rnnkit.kernels.explain import explain

__all__ = ["BACKENDS", "BackendUnavailableError", "Choice", "explain"]
