// Shared-sample double-KDE accumulation (DESIGN.md 2.2).
#include "common.hpp"
#include "dispatch.hpp"

namespace ledkde_bind {

template <class T> void def_double_kde(py::module_& m) {
    m.def(
        "double_kde_accumulate",
        [](carray<T> x, carray<T> data, py::object log_weights, double t, carray<T> c_matrix, carray<double> wbar,
           carray<double> zsum, int n_threads, index_t tile_m, index_t block_n) {
            require_ndim(x, 2, "x");
            require_ndim(data, 2, "data");
            require_ndim(c_matrix, 2, "c_matrix");
            const index_t m = x.shape(0), d = x.shape(1), n = data.shape(0), kc = c_matrix.shape(0);
            require(data.shape(1) == d, "x and data must have the same number of columns");
            require(n >= 1, "data must contain at least one point");
            require(c_matrix.shape(1) == n, "c_matrix must have one column per data point");
            require_t(t);
            require(wbar.ndim() == 2 && wbar.shape(0) == m && wbar.shape(1) == n, "wbar must have shape (m, n)");
            require(zsum.ndim() == 1 && zsum.shape(0) == m, "zsum must have shape (m,)");
            require_writeable(wbar, "wbar");
            require_writeable(zsum, "zsum");
            const double* log_w = log_weights_ptr(log_weights, n);
            const ledkde::Blocking bl = make_blocking(tile_m, block_n);
            check_threads(n_threads);
            const T* xp = x.data();
            const T* dp = data.data();
            const T* cp = c_matrix.data();
            double* wp = wbar.mutable_data();
            double* zp = zsum.mutable_data();
            // Safe without the GIL: the arrays above are owned by this frame.
            py::gil_scoped_release release;
            ledkde::double_kde_accumulate<T>(xp, m, dp, n, d, log_w, t, cp, kc, wp, zp, n_threads, bl);
        },
        py::arg("x").noconvert(), py::arg("data").noconvert(), py::arg("log_weights"), py::arg("t"),
        py::arg("c_matrix").noconvert(), py::arg("wbar").noconvert(), py::arg("zsum").noconvert(),
        py::arg("n_threads") = 0, py::arg("tile_m") = 16, py::arg("block_n") = 256,
        "Accumulate averaged softmax weights and log-normalisers over shared kernel samples.");
}

void register_double_kde(py::module_& m) {
    def_double_kde<float>(m);
    def_double_kde<double>(m);
}

}  // namespace ledkde_bind
