// Plain data shared by the dispatcher and every per-ISA kernel: pointers and sizes only, so these
// structs mean the same thing in translation units built with different instruction sets.
#pragma once

#include <atomic>
#include <cstdint>

namespace ledkde {

using index_t = std::int64_t;

// Training data prepared once per call: centred on `mu` (which removes the cancellation in
// |x|^2 - 2 x.x_i + |x_i|^2 for data far from the origin), cut into blocks of `nb` points and stored
// transposed (`dt`, for the logits) and, when d is large, row-major and padded to `dp` (`xb`, for the
// weighted sum). Padding columns carry bias -inf, so they receive weight exactly zero.
template <class T> struct PackedData {
    index_t n = 0, d = 0, dp = 0, nb = 0, n_blocks = 0;
    bool has_rows = false;
    T* dt = nullptr;      // n_blocks x d x nb, each block in column panels (microkernels.hpp)
    T* xb = nullptr;      // n_blocks x nb x dp, each block in column chunks (microkernels.hpp; has_rows only)
    T* bias = nullptr;    // n_blocks x nb: log w_i - |x_i - mu|^2 / (2t)
    T* log_w = nullptr;   // n_blocks x nb: log w_i alone (-inf for padding), for direct logits
    const double* mu = nullptr;  // d
    double max_norm2 = 0.0;      // max_i |x_i - mu|^2, set by packing
    T direct_c = T(0);           // sqrt(1 / 2t) in T, set by the caller: the scale of direct logits
};

// Streaming log-sum-exp state of each query, in true logit units l_i = log w_i - |x - x_i|^2 / (2t):
//   max[q] = max_i l_i seen so far, sum[q] = sum_i exp(l_i - max[q]),
//   acc[q, :] = sum_i exp(l_i - max[q]) x_i  (optional).
// States from disjoint parts of the data merge exactly (rescale the side with the smaller max).
struct LseState {
    double* max = nullptr;
    double* sum = nullptr;
    double* acc = nullptr;
};

// Cooperative interruption (Ctrl-C). Each call carries a stop flag (Scratch::stop, null when the
// call cannot be interrupted). The calling thread, which is thread 0 of every OpenMP region the call
// opens, asks now and then whether an interrupt is pending (poll_interrupt, dispatch.cpp, through a
// hook the Python bindings install); once the flag is set, tasks return at their next check, the
// call ends with its outputs incomplete and the binding raises KeyboardInterrupt.
void poll_interrupt(std::atomic<bool>* stop);

// Caller-owned scratch for every thread; kernels never allocate, so nothing can throw inside an
// OpenMP region.
template <class T> struct Scratch {
    T* t_buf = nullptr;
    double* d_buf = nullptr;
    index_t t_stride = 0, d_stride = 0;
    T* shared = nullptr;  // one area for the whole call (per-draw maxima of the double-KDE)
    std::atomic<bool>* stop = nullptr;  // the call's stop flag (see poll_interrupt)
};

// Training sets of at most this many points take the double-KDE kernel vectorised over the draws
// (double_kde.hpp, double_kde_small_n).
constexpr index_t kDkdeSmallN = 64;
// ... and split their draws into at least this many tasks (a number independent of the threads, so
// that the sums, merged in task order, are bitwise the same for any thread count).
constexpr index_t kSmallNTasks = 16;

// Products scale * Z B^T with at most kNarrowInner columns in Z and B run as matmul_nt_narrow
// (double_kde.hpp), B^T's columns padded to a multiple of kNarrowPad (the widest vector's lanes),
// with a thread for every kNarrowOutputsPerThread entries of C (padded).
constexpr index_t kNarrowInner = 16;
constexpr index_t kNarrowPad = 16;
constexpr index_t kNarrowOutputsPerThread = index_t{1} << 16;

// Upper bound on Blocking::tile_m: per-row vectors of a tile live on the stack.
constexpr index_t kMaxTileM = 256;

struct Blocking {
    index_t tile_m = 96;   // queries per task (at most kMaxTileM)
    index_t block_n = 256; // data points per block (multiple of 32)
};

}  // namespace ledkde
