// Build and run-time configuration.
#include "common.hpp"
#include "dispatch.hpp"

namespace ledkde_bind {

void register_info(py::module_& m) {
    m.def("compiled_isas", &ledkde::compiled_isas, "Instruction sets compiled into this build, best first.");
    m.def("active_isa", &ledkde::active_isa, "Instruction set the kernels currently use.");
    m.def("select_isa", &ledkde::select_isa, py::arg("name"),
          "Use the named instruction set ('auto' = best supported by this CPU).");
    m.def("openmp_enabled", &ledkde::openmp_enabled);
    m.def("max_threads", &ledkde::max_threads);
#if defined(__clang__)
    m.attr("compiler") = "clang " __clang_version__;
#elif defined(__GNUC__)
    m.attr("compiler") = "gcc " __VERSION__;
#else
    m.attr("compiler") = "unknown";
#endif
}

}  // namespace ledkde_bind
