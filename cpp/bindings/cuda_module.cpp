// The optional CUDA module _core_cuda (built with -Ccmake.define.LEDKDE_USE_CUDA=ON): wiring only.
#include "common.hpp"
#include "cuda_kernels.hpp"

namespace ledkde_bind {

template <class T> void def_cuda(py::module_& m) {
    m.def(
        "lse_state",
        [](carray<T> x, carray<T> data, py::object log_weights, double t, bool want_acc) {
            const auto [mq, d, n] = check_points<T>(x, data);
            require_t(t);
            const double* log_w = log_weights_ptr(log_weights, n);
            py::array_t<double> mx(mq), sm(mq);
            py::array_t<double> acc = want_acc ? py::array_t<double>({mq, d}) : py::array_t<double>();
            double* ap = want_acc ? acc.mutable_data() : nullptr;
            double* mp = mx.mutable_data();
            double* sp = sm.mutable_data();
            {
                py::gil_scoped_release release;  // arrays owned by this frame
                ledkde_cuda::lse_state<T>(x.data(), mq, data.data(), n, d, log_w, t, mp, sp, ap);
            }
            return py::make_tuple(mx, sm, want_acc ? py::object(acc) : py::none());
        },
        py::arg("x").noconvert(), py::arg("data").noconvert(), py::arg("log_weights"), py::arg("t"),
        py::arg("want_acc"), "Log-sum-exp state (max, sum, weighted sum) of the queries over the data, on the GPU.");
    m.def(
        "double_kde_accumulate",
        [](carray<T> x, carray<T> data, py::object log_weights, double t, carray<T> c_matrix, carray<double> wbar,
           carray<double> zsum) {
            const auto [mq, d, n] = check_points<T>(x, data);
            const index_t kc = check_c_matrix<T>(c_matrix, n);
            require(wbar.ndim() == 2 && wbar.shape(0) == mq && wbar.shape(1) == n, "wbar must have shape (m, n)");
            require(zsum.ndim() == 1 && zsum.shape(0) == mq, "zsum must have shape (m,)");
            require_writeable(wbar, "wbar");
            require_writeable(zsum, "zsum");
            require_t(t);
            const double* log_w = log_weights_ptr(log_weights, n);
            double* wp = wbar.mutable_data();
            double* zp = zsum.mutable_data();
            py::gil_scoped_release release;  // arrays owned by this frame
            ledkde_cuda::double_kde<T>(x.data(), mq, data.data(), n, d, log_w, t, c_matrix.data(), kc, wp, zp);
        },
        py::arg("x").noconvert(), py::arg("data").noconvert(), py::arg("log_weights"), py::arg("t"),
        py::arg("c_matrix").noconvert(), py::arg("wbar").noconvert(), py::arg("zsum").noconvert(),
        "Shared-sample double-KDE accumulation on the GPU.");
}

}  // namespace ledkde_bind

PYBIND11_MODULE(_core_cuda, m) {
    m.doc() = "ledkde_fast CUDA kernels (optional build)";
    m.def("device_count", &ledkde_cuda::device_count, "Number of CUDA devices (0 without a GPU or driver).");
    m.def("device_name", &ledkde_cuda::device_name, pybind11::arg("device") = 0);
    ledkde_bind::def_cuda<float>(m);
    ledkde_bind::def_cuda<double>(m);
}
