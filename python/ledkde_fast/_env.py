"""Every environment variable ledkde_fast reads, as one named constant each (see the README)."""

#: Backend used for ``backend="auto"`` (``cpp``, ``numba``, ``reference``).
BACKEND = "LEDKDE_BACKEND"
#: Default thread count for ``n_threads=None`` (a positive integer; unset = all cores).
NUM_THREADS = "LEDKDE_NUM_THREADS"
#: Instruction set of the compiled kernels (``auto``, ``avx512``, ``avx2``, ``generic``).
ISA = "LEDKDE_ISA"
#: Test suite only: comma-separated backends whose tests must run rather than skip.
REQUIRE_BACKENDS = "LEDKDE_REQUIRE_BACKENDS"
