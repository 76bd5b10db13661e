// Kernel calls of the CPU module without the GIL and interruptible by Ctrl-C (dispatch.hpp,
// InterruptScope). Not used by the CUDA module, which has no dispatcher.
#pragma once

#include "common.hpp"
#include "dispatch.hpp"

namespace ledkde_bind {

// Whether the calling thread is Python's main thread, the only one that runs signal handlers
// (module.cpp).
bool on_main_thread();

// Runs a kernel call without the GIL, so that other Python threads run meanwhile; on the main thread
// it can be interrupted: Ctrl-C ends the call within a few tens of milliseconds and raises
// KeyboardInterrupt (or whatever the SIGINT handler raised). `call` must touch raw memory only.
template <class F> void run_interruptible(F&& call) {
    ledkde::InterruptScope scope(on_main_thread());
    {
        py::gil_scoped_release release;
        call();
    }
    if (scope.interrupted()) {
        if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
        throw py::error_already_set();
    }
}

}  // namespace ledkde_bind
