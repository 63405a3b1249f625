"""Compile the fused backend's C++ extension ahead of time: ``python -m rnnkit.kernels.build``.

Run by ``make install`` so that the first training step does not wait for the compiler. It
never fails the install: where no compiler is available it prints why, and rnnkit runs on the
``reference`` backend.
"""

from __future__ import annotations

import sys
import time

from rnnkit.kernels.extension import cache_dir, load_extension, unavailable_reason


def main() -> int:
    start = time.perf_counter()
    module = load_extension(verbose="-v" in sys.argv[1:])
    if module is None:
        print(f"rnnkit: fused backend unavailable, falling back to reference: {unavailable_reason()}")
        return 0
    print(f"rnnkit: fused backend ready in {cache_dir()} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
