// Streaming log-sum-exp state update (docs/design.rst, "Streaming log-sum-exp over data blocks").
#include "interruptible.hpp"

namespace ledkde_bind {

template <class T> void def_lse_accumulate(py::module_& m) {
    m.def(
        "lse_accumulate",
        [](carray<T> x, carray<T> data, py::object log_weights, double t, carray<double> state_max,
           carray<double> state_sum, py::object state_acc, int n_threads, index_t tile_m, index_t block_n) {
            const auto [m, d, n] = check_points<T>(x, data);
            require_t(t);
            require(state_max.ndim() == 1 && state_max.shape(0) == m, "state_max must have shape (m,)");
            require(state_sum.ndim() == 1 && state_sum.shape(0) == m, "state_sum must have shape (m,)");
            require_writeable(state_max, "state_max");
            require_writeable(state_sum, "state_sum");
            double* acc = nullptr;
            carray<double> acc_arr;
            if (!state_acc.is_none()) {
                acc_arr = state_acc.cast<carray<double>>();
                require(acc_arr.ndim() == 2 && acc_arr.shape(0) == m && acc_arr.shape(1) == d,
                        "state_acc must be a float64 array of shape (m, d)");
                require_writeable(acc_arr, "state_acc");
                acc = acc_arr.mutable_data();
            }
            const double* log_w = log_weights_ptr(log_weights, n);
            const ledkde::Blocking bl = make_blocking(tile_m, block_n);
            ledkde::LseState st;
            st.max = state_max.mutable_data();
            st.sum = state_sum.mutable_data();
            st.acc = acc;
            const T* xp = x.data();
            const T* dp = data.data();
            check_threads(n_threads);
            // Safe without the GIL: the arrays above are owned by this frame and the kernel touches
            // raw memory only.
            run_interruptible([&] { ledkde::lse_accumulate<T>(xp, m, dp, n, d, log_w, t, st, n_threads, bl); });
        },
        py::arg("x").noconvert(), py::arg("data").noconvert(), py::arg("log_weights"), py::arg("t"),
        py::arg("state_max").noconvert(), py::arg("state_sum").noconvert(), py::arg("state_acc"),
        py::arg("n_threads") = 0, py::arg("tile_m") = 48, py::arg("block_n") = 256,
        "Update a streaming log-sum-exp state (max, sum, weighted sum) with one block of data.");
}

void register_empirical(py::module_& m) {
    def_lse_accumulate<float>(m);
    def_lse_accumulate<double>(m);
}

}  // namespace ledkde_bind
