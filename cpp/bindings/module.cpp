// The private compiled module: wiring only; each area registers its own functions.
#include <pybind11/pybind11.h>

#include "interruptible.hpp"

namespace ledkde_bind {
void register_empirical(pybind11::module_& m);
void register_double_kde(pybind11::module_& m);
void register_draws(pybind11::module_& m);
void register_info(pybind11::module_& m);
void register_knn(pybind11::module_& m);

namespace {
unsigned long g_main_thread = 0;

// The interrupt hook (dispatch.hpp): called by the calling thread with the GIL released.
bool signals_pending() {
    pybind11::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;  // runs the handlers; a raised KeyboardInterrupt stays set
}
}  // namespace

bool on_main_thread() { return PyThread_get_thread_ident() == g_main_thread; }
}  // namespace ledkde_bind

PYBIND11_MODULE(_core, m) {
    m.doc() = "ledkde_fast compiled core (C++/OpenMP)";
    ledkde_bind::g_main_thread =
        pybind11::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    ledkde::set_interrupt_hook(&ledkde_bind::signals_pending);
    ledkde_bind::register_empirical(m);
    ledkde_bind::register_double_kde(m);
    ledkde_bind::register_draws(m);
    ledkde_bind::register_knn(m);
    ledkde_bind::register_info(m);
}
