// Construction of the standardised kernel draws (python/ledkde_fast/_kernel_plan.py).
#include "common.hpp"
#include "ledkde/normal_rows.hpp"
#include "ledkde/orthogonal_rows.hpp"

namespace ledkde_bind {

void register_draws(py::module_& m) {
    m.def(
        "normal_rows",
        [](uint64_t seed, index_t n, index_t r, int n_threads) {
            require(n >= 0 && r >= 0, "n and r must be >= 0");
            check_threads(n_threads);
            py::array_t<double> z({n, r});
            double* zp = z.mutable_data();
            py::gil_scoped_release release;  // z is owned by this frame
            ledkde::normal_rows(seed, zp, n, r, n_threads);
            return z;
        },
        py::arg("seed"), py::arg("n"), py::arg("r"), py::arg("n_threads") = 0,
        "n x r independent N(0, 1) draws of the stream `seed` (xoshiro256++ per block of 256 rows, "
        "ziggurat): the same for any number of threads.");
    m.def(
        "orthogonal_rows",
        [](carray<double> z, int n_threads) {
            require_ndim(z, 2, "z");
            require_writeable(z, "z");
            check_threads(n_threads);
            const index_t n = z.shape(0), r = z.shape(1);
            double* zp = z.mutable_data();
            py::gil_scoped_release release;  // z is owned by the caller's frame; a few ms at most
            ledkde::orthogonal_rows(zp, n, r, n_threads);
        },
        py::arg("z").noconvert(), py::arg("n_threads") = 0,
        "In place on Gaussian rows z (n x r): every block of r consecutive rows made orthogonal "
        "(Gram-Schmidt), each row keeping its length; every row stays exactly N(0, I_r).");
}

}  // namespace ledkde_bind
