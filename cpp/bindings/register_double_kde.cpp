// Shared-sample double-KDE accumulation (docs/design.rst, "The double-KDE factorisation").
#include "interruptible.hpp"

#include <algorithm>
#include <array>

namespace ledkde_bind {

// Shape checks shared by the three double-KDE entry points; returns (m, d, n, kc).
template <class T>
std::array<index_t, 4> check_dkde(const carray<T>& x, const carray<T>& data, const carray<T>& c_matrix, double t) {
    const auto [m, d, n] = check_points<T>(x, data);
    const index_t kc = check_c_matrix<T>(c_matrix, n);
    require_t(t);
    return {m, d, n, kc};
}

// The body shared by the two accumulating entry points: the checks of the points and of the
// outputs, then `kernel` (double_kde_accumulate or double_kde_per_query) on kc draws per query.
template <class T, class Kernel>
void accumulate_into(const carray<T>& x, const carray<T>& data, const py::object& log_weights, double t,
                     const carray<T>& c_matrix, index_t kc, carray<double>& wbar, carray<double>& zsum, int n_threads,
                     index_t tile_m, index_t block_n, Kernel kernel) {
    const std::array<index_t, 3> s = check_points<T>(x, data);
    const index_t m = s[0], d = s[1], n = s[2];
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
    // Safe without the GIL: the arrays above are owned by the caller's frame.
    run_interruptible([&] { kernel(xp, m, dp, n, d, log_w, t, cp, kc, wp, zp, n_threads, bl); });
}

template <class T> void def_double_kde(py::module_& m) {
    m.def(
        "double_kde_accumulate",
        [](carray<T> x, carray<T> data, py::object log_weights, double t, carray<T> c_matrix, carray<double> wbar,
           carray<double> zsum, int n_threads, index_t tile_m, index_t block_n) {
            const index_t kc = check_c_matrix<T>(c_matrix, check_points<T>(x, data)[2]);
            accumulate_into<T>(x, data, log_weights, t, c_matrix, kc, wbar, zsum, n_threads, tile_m, block_n,
                               &ledkde::double_kde_accumulate<T>);
        },
        py::arg("x").noconvert(), py::arg("data").noconvert(), py::arg("log_weights"), py::arg("t"),
        py::arg("c_matrix").noconvert(), py::arg("wbar").noconvert(), py::arg("zsum").noconvert(),
        py::arg("n_threads") = 0, py::arg("tile_m") = 16, py::arg("block_n") = 256,
        "Accumulate averaged softmax weights and log-normalisers over shared kernel samples.");
}

template <class T> void def_double_kde_per_query(py::module_& m) {
    m.def(
        "double_kde_per_query",
        [](carray<T> x, carray<T> data, py::object log_weights, double t, carray<T> c_matrix, carray<double> wbar,
           carray<double> zsum, int n_threads, index_t tile_m, index_t block_n) {
            const std::array<index_t, 3> s = check_points<T>(x, data);
            require(c_matrix.ndim() == 3 && c_matrix.shape(0) == s[0] && c_matrix.shape(2) == s[2],
                    "c_matrix must have shape (m, n_draws, n): the draws' logits of every query");
            accumulate_into<T>(x, data, log_weights, t, c_matrix, c_matrix.shape(1), wbar, zsum, n_threads, tile_m,
                               block_n, &ledkde::double_kde_per_query<T>);
        },
        py::arg("x").noconvert(), py::arg("data").noconvert(), py::arg("log_weights"), py::arg("t"),
        py::arg("c_matrix").noconvert(), py::arg("wbar").noconvert(), py::arg("zsum").noconvert(),
        py::arg("n_threads") = 0, py::arg("tile_m") = 16, py::arg("block_n") = 256,
        "As double_kde_accumulate with draws of its own for every query: c_matrix has shape (m, n_draws, n).");
}

template <class T> void def_rounds(py::module_& m) {
    m.def(
        "dkde_normalisers",
        [](carray<T> x, carray<T> data, py::object log_weights, double t, carray<T> c_matrix, int n_threads,
           index_t tile_m, index_t block_n) {
            const auto s = check_dkde<T>(x, data, c_matrix, t);
            const double* log_w = log_weights_ptr(log_weights, s[2]);
            const ledkde::Blocking bl = make_blocking(tile_m, block_n);
            check_threads(n_threads);
            py::array_t<double> mx({s[0], s[3]}), sm({s[0], s[3]});
            double* mp = mx.mutable_data();
            double* sp = sm.mutable_data();
            run_interruptible([&] {  // arrays owned by this frame
                ledkde::dkde_normalisers<T>(x.data(), s[0], data.data(), s[2], s[1], log_w, t, c_matrix.data(), s[3],
                                            mp, sp, n_threads, bl);
            });
            return py::make_tuple(mx, sm);
        },
        py::arg("x").noconvert(), py::arg("data").noconvert(), py::arg("log_weights"), py::arg("t"),
        py::arg("c_matrix").noconvert(), py::arg("n_threads") = 0, py::arg("tile_m") = 8, py::arg("block_n") = 256,
        "Round 1 of the sharded double-KDE: per query and draw, (max, sum) of this data's log-sum-exp.");
    m.def(
        "dkde_weighted_sum",
        [](carray<T> x, carray<T> data, py::object log_weights, double t, carray<T> c_matrix, carray<double> log_norm,
           int n_threads, index_t tile_m, index_t block_n) {
            const auto s = check_dkde<T>(x, data, c_matrix, t);
            require(log_norm.ndim() == 2 && log_norm.shape(0) == s[0] && log_norm.shape(1) == s[3],
                    "log_norm must have shape (m, n_draws)");
            const double* log_w = log_weights_ptr(log_weights, s[2]);
            const ledkde::Blocking bl = make_blocking(tile_m, block_n);
            check_threads(n_threads);
            py::array_t<double> acc({s[0], s[1]});
            double* ap = acc.mutable_data();
            std::fill(ap, ap + s[0] * s[1], 0.0);
            run_interruptible([&] {  // arrays owned by this frame
                ledkde::dkde_weighted_sum<T>(x.data(), s[0], data.data(), s[2], s[1], log_w, t, c_matrix.data(), s[3],
                                             log_norm.data(), ap, n_threads, bl);
            });
            return acc;
        },
        py::arg("x").noconvert(), py::arg("data").noconvert(), py::arg("log_weights"), py::arg("t"),
        py::arg("c_matrix").noconvert(), py::arg("log_norm").noconvert(), py::arg("n_threads") = 0,
        py::arg("tile_m") = 8, py::arg("block_n") = 256,
        "Round 2: sum_j sum_i exp(A_i + C_ji - log_norm[q, j]) x_i for this data, shape (m, d).");
}

template <class T> void def_matmul_nt(py::module_& m) {
    m.def(
        "matmul_nt",
        [](carray<T> z, carray<T> basis, double scale, int n_threads, index_t tile_m, index_t block_n) {
            require_ndim(z, 2, "z");
            require_ndim(basis, 2, "basis");
            require(z.shape(1) == basis.shape(1), "z and basis must have the same number of columns");
            require(std::isfinite(scale), "scale must be finite");
            const ledkde::Blocking bl = make_blocking(tile_m, block_n);
            check_threads(n_threads);
            const index_t kc = z.shape(0), n = basis.shape(0), r = z.shape(1);
            py::array_t<T> c({kc, n});
            T* cp = c.mutable_data();
            if (n > 0)  // arrays owned by this frame
                run_interruptible([&] { ledkde::matmul_nt<T>(z.data(), kc, basis.data(), n, r, scale, cp, n_threads, bl); });
            return c;
        },
        py::arg("z").noconvert(), py::arg("basis").noconvert(), py::arg("scale"), py::arg("n_threads") = 0,
        py::arg("tile_m") = 48, py::arg("block_n") = 256,
        "scale * z @ basis.T (rows of z x rows of basis) in the core's own threads.");
}

void register_double_kde(py::module_& m) {
    def_matmul_nt<float>(m);
    def_matmul_nt<double>(m);
    def_rounds<float>(m);
    def_rounds<double>(m);
    def_double_kde<float>(m);
    def_double_kde<double>(m);
    def_double_kde_per_query<float>(m);
    def_double_kde_per_query<double>(m);
}

}  // namespace ledkde_bind
