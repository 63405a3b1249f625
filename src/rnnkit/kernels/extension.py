"""Build and load the C++ extension behind the ``fused`` backend.

The extension (``csrc/fused.cpp``) is compiled once with ``torch.utils.cpp_extension.load``
into a cache directory (``$RNNKIT_EXTENSIONS_DIR``, default ``~/.cache/rnnkit/extensions``),
either on first use or ahead of time by ``python -m rnnkit.kernels.build``. Each torch
installation, CPU and version of the source gets its own folder (``cache_dir``), so an edited
source builds anew and never replaces the binary another tree or process is using. Where it cannot be built (no C++ compiler, no
``ninja``, a compile error) ``load_extension()`` returns None and ``unavailable_reason()``
says why; the dispatcher then falls back to ``reference`` with a warning naming that reason.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import sysconfig
import threading
import time
from pathlib import Path
from typing import Optional

import torch

SOURCE = Path(__file__).parent / "csrc" / "fused.cpp"
NAME = "rnnkit_fused"
# Built on the machine that runs it, so it may use that CPU's vector instructions; the
# float32 gate math is written to vectorize (see csrc/fused.cpp).
CFLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math"]


def _headers_flag() -> str:
    """A define holding a hash of the headers fused.cpp includes: torch versions a cached build
    by its sources and flags only, so without it an edited header could leave a stale binary."""
    digest = hashlib.sha1()
    for header in sorted(SOURCE.parent.glob("*.h")):
        digest.update(header.name.encode() + header.read_bytes())
    return f"-DRNNKIT_HEADERS_{digest.hexdigest()[:12]}"


def source_digest() -> str:
    """A short hash of fused.cpp and its headers. It names the build folder, so that two source
    trees on one virtual environment (two checkouts, a branch under work) never share one: in a
    shared folder each would rebuild the other's binary, and a process that waited on torch's
    build lock while the other tree compiled would load that tree's binary, not its own."""
    digest = hashlib.sha1(SOURCE.read_bytes())
    for header in sorted(SOURCE.parent.glob("*.h")):
        digest.update(header.name.encode() + header.read_bytes())
    return digest.hexdigest()[:8]

_lock = threading.Lock()
_state: dict = {"module": None, "reason": None, "tried": False}


def _cpu_tag() -> str:
    """A short fingerprint of this CPU's instruction sets: the build uses -march=native, so a
    cache shared between different machines must not hand one machine another's binary."""
    flags = platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            flags += next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags += platform.processor()
    return hashlib.sha1(flags.encode()).hexdigest()[:8]


def cache_dir() -> Path:
    """Where the compiled extension lives: one folder per torch installation, Python version,
    CPU and source (``source_digest``)."""
    root = os.environ.get("RNNKIT_EXTENSIONS_DIR") or os.path.join(Path.home(), ".cache", "rnnkit", "extensions")
    # The torch installation's path is part of the key: build.ninja names its include folders,
    # so two virtual environments sharing one folder would rebuild each other's extension.
    where = hashlib.sha1(os.path.dirname(torch.__file__).encode()).hexdigest()[:6]
    python = f"py{sys.version_info[0]}{sys.version_info[1]}"
    tag = f"torch{torch.__version__.replace('+', '_')}-{python}-cpu{_cpu_tag()}-{where}-src{source_digest()}"
    return Path(root) / tag


def _ensure_ninja_on_path() -> Optional[str]:
    """The ``ninja`` PyPI package installs a binary next to the interpreter; make it findable
    even when the virtual environment is not activated. Returns a reason if ninja is missing."""
    candidates = [os.path.dirname(sys.executable), sysconfig.get_path("scripts")]
    try:
        import ninja  # noqa: PLC0415

        candidates.insert(0, ninja.BIN_DIR)
    except (ImportError, AttributeError):
        pass
    path = os.environ.get("PATH", "")
    for folder in candidates:
        if folder and os.path.exists(os.path.join(folder, "ninja")) and folder not in path.split(os.pathsep):
            os.environ["PATH"] = folder + os.pathsep + path
            break
    if shutil.which("ninja") is None:
        return "the `ninja` build tool is not installed (pip install ninja)"
    return None


def _compiler_missing() -> Optional[str]:
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler found (looked for `{compiler}` on PATH; set CXX or install g++/clang++)"
    return None


STALE_LOCK_SECONDS = 600.0


def _remove_stale_lock(folder: Path) -> None:
    """torch's build takes a ``lock`` file in the build folder and waits for as long as it
    exists. A process killed while compiling leaves it behind, and every later load would wait
    forever; a compile takes a few minutes at most, so a lock older than that is stale."""
    lock = folder / "lock"
    try:
        if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            lock.unlink()
    except FileNotFoundError:
        pass


def load_extension(verbose: bool = False):
    """The compiled module, or None when it cannot be built (see ``unavailable_reason``)."""
    if _state["tried"]:
        return _state["module"]
    with _lock:
        if _state["tried"]:
            return _state["module"]
        reason = None
        if os.environ.get("RNNKIT_DISABLE_FUSED", "") not in ("", "0"):
            reason = "disabled by the environment variable RNNKIT_DISABLE_FUSED"
        reason = reason or _compiler_missing() or _ensure_ninja_on_path()
        module = None
        if reason is None:
            try:
                from torch.utils.cpp_extension import load  # noqa: PLC0415

                folder = cache_dir()
                folder.mkdir(parents=True, exist_ok=True)
                _remove_stale_lock(folder)
                module = load(name=NAME, sources=[str(SOURCE)], extra_cflags=CFLAGS + [_headers_flag()],
                              build_directory=str(folder),
                              verbose=verbose)
            except Exception as error:  # a failed compile must not break the library: fall back
                reason = f"building the C++ extension failed: {type(error).__name__}: {str(error).strip()[-400:]}"
        _state.update(module=module, reason=reason, tried=True)
        return module


def unavailable_reason() -> Optional[str]:
    """Why the extension is unavailable, or None when it loaded (tries to load it first)."""
    load_extension()
    return _state["reason"]


def reset() -> None:
    """Forget the load attempt, so that the next call tries again (used by tests)."""
    with _lock:
        _state.update(module=None, reason=None, tried=False)
