// The private compiled module: wiring only; each area registers its own functions.
#include <pybind11/pybind11.h>

namespace ledkde_bind {
void register_empirical(pybind11::module_& m);
void register_double_kde(pybind11::module_& m);
void register_info(pybind11::module_& m);
void register_knn(pybind11::module_& m);
}  // namespace ledkde_bind

PYBIND11_MODULE(_core, m) {
    m.doc() = "ledkde_fast compiled core (C++/OpenMP)";
    ledkde_bind::register_empirical(m);
    ledkde_bind::register_double_kde(m);
    ledkde_bind::register_knn(m);
    ledkde_bind::register_info(m);
}
