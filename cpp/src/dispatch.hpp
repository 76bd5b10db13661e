// Run-time entry points: choose the instruction set, pack the data, size the scratch, run a kernel.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "ledkde/types.hpp"

namespace ledkde {

// Instruction sets compiled into this build, best first, and the one in use.
std::vector<std::string> compiled_isas();
std::string active_isa();
// Selects an instruction set by name ("auto" = best the CPU supports); throws std::invalid_argument
// for a name that is not compiled in or not supported by this CPU.
void select_isa(const std::string& name);

// Ctrl-C support (types.hpp, poll_interrupt). The bindings install one hook, called with the GIL
// released, that returns true when an interrupt is pending (it leaves the Python exception set).
void set_interrupt_hook(bool (*hook)());

// The scope of one interruptible call on the calling thread: kernel calls made within it carry its
// stop flag, and, when `may_poll` (the hook may run on this thread), poll the hook every few
// milliseconds. interrupted() tells the binding to raise.
class InterruptScope {
public:
    explicit InterruptScope(bool may_poll);
    ~InterruptScope();
    InterruptScope(const InterruptScope&) = delete;
    InterruptScope& operator=(const InterruptScope&) = delete;
    bool interrupted() const { return stop_.load(); }

private:
    std::atomic<bool> stop_{false};
    std::atomic<bool>* outer_stop_;
    bool outer_may_poll_;
};

bool openmp_enabled();
int max_threads();

template <class T>
void lse_accumulate(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                    LseState state, int n_threads, Blocking blocking);

template <class T>
void double_kde_accumulate(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w,
                           double t, const T* C, index_t kc, double* wbar, double* zsum, int n_threads,
                           Blocking blocking);

// The same with draws of its own for every query: C is m x kc x n (the local kernel, kernels.Local).
template <class T>
void double_kde_per_query(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                          const T* C, index_t kc, double* wbar, double* zsum, int n_threads, Blocking blocking);

// The two rounds of the double-KDE over one part of the data (for sharded data sets): the per
// query and draw (max, sum) of the log-sum-exp, and, given global log-normalisers Z, the weighted sum.
template <class T>
void dkde_normalisers(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                      const T* C, index_t kc, double* out_max, double* out_sum, int n_threads, Blocking blocking);
template <class T>
void dkde_weighted_sum(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                       const T* C, index_t kc, const double* Z, double* acc, int n_threads, Blocking blocking);

// C (kc x n) = scale * z (kc x r) . basis (n x r)^T, in this library's threads (double_kde.hpp).
template <class T>
void matmul_nt(const T* z, index_t kc, const T* basis, index_t n, index_t r, double scale, T* C, int n_threads,
               Blocking blocking);

// Indices (m x k, nearest first) of the k nearest data points of each query.
template <class T>
void knn_select(const T* x, index_t m, const T* data, index_t n, index_t d, index_t k, index_t* out_idx, int n_threads,
                Blocking blocking);

}  // namespace ledkde
