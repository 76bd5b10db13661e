// Exact k-nearest-neighbour selection.
#include "interruptible.hpp"

namespace ledkde_bind {

template <class T> void def_knn(py::module_& m) {
    m.def(
        "knn_select",
        [](carray<T> x, carray<T> data, index_t k, int n_threads, index_t tile_m, index_t block_n) {
            const auto [mq, d, n] = check_points<T>(x, data);
            require(k >= 1 && k <= n, "k must be >= 1 and <= the number of data points");
            const ledkde::Blocking bl = make_blocking(tile_m, block_n);
            check_threads(n_threads);
            py::array_t<index_t> out({mq, k});
            index_t* op = out.mutable_data();
            const T* xp = x.data();
            const T* dp = data.data();
            // Safe without the GIL: the arrays are owned by this frame.
            run_interruptible([&] { ledkde::knn_select<T>(xp, mq, dp, n, d, k, op, n_threads, bl); });
            return out;
        },
        py::arg("x").noconvert(), py::arg("data").noconvert(), py::arg("k"), py::arg("n_threads") = 0,
        py::arg("tile_m") = 96, py::arg("block_n") = 256,
        "Indices (m, k) of the k nearest data points of each query, nearest first (float rounding of the "
        "distances may reorder near-ties; recompute exact distances to sort them).");
}

void register_knn(py::module_& m) {
    def_knn<float>(m);
    def_knn<double>(m);
}

}  // namespace ledkde_bind
