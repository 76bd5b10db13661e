// Streaming softmax over the data (docs/design.rst, "Streaming log-sum-exp over data blocks"):
// for each tile of queries and each packed block of data, logits by a register-blocked product,
// then exp against a running max and a weighted sum, merged into a per-query log-sum-exp state.
// Memory is O(tile x block), never O(m x N).
#pragma once

#include <cmath>
#include <limits>

#include "microkernels.hpp"
#include "packing.hpp"
#include "simd.hpp"
#include "types.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ledkde {
namespace LEDKDE_ISA {

inline int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Whether the task should return now because the call was interrupted; the calling thread (thread 0)
// polls for an interrupt first.
inline bool should_stop(std::atomic<bool>* stop) {
    if (!stop) return false;
    if (thread_id() == 0) poll_interrupt(stop);
    return stop->load(std::memory_order_relaxed);
}

// Per-thread scratch sizes (elements) for lse_accumulate.
template <class T> inline index_t lse_scratch_t(const PackedData<T>& pk, const Blocking& bl) {
    return bl.tile_m * (2 * pk.dp + pk.nb);
}
inline index_t lse_scratch_d(index_t d, const Blocking& bl) { return bl.tile_m * (3 + d); }

// exp(S - ref) in place for one row, where ref is the new running max; returns the row's sum.
template <class T> inline double exp_row(T* s, index_t nb, T ref) {
    using V = vec_t<T>;
    constexpr int L = lanes_v<T>;
    V acc{};
    const V vref = splat<T>(ref);
    for (index_t j = 0; j < nb; j += L) {
        const V e = vexp<T>(load<T>(s + j) - vref);
        store<T>(s + j, e);
        acc += e;
    }
    return static_cast<double>(hsum<T>(acc));
}

// Updates `st` (true-logit units, see types.hpp) with the contribution of the packed data for the
// m queries x (m x d, C order). st.acc may be null when only the log-sum-exp is wanted.
template <class T>
void lse_accumulate(const T* x, index_t m, const PackedData<T>& pk, double inv_t, LseState st,
                    const Scratch<T>& scratch, const Blocking& bl, int n_threads) {
    const index_t d = pk.d, dp = pk.dp, nb = pk.nb, tm = bl.tile_m;
    const index_t n_tiles = (m + tm - 1) / tm;
    const double neg_inf = -std::numeric_limits<double>::infinity();
    const T inv_t_T = static_cast<T>(inv_t);
    const bool want_acc = st.acc != nullptr;
    const bool lowdim = !pk.has_rows;

#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (index_t tile = 0; tile < n_tiles; ++tile) {
        if (should_stop(scratch.stop)) continue;
        const int tid = thread_id();
        T* xc = scratch.t_buf + tid * scratch.t_stride;
        T* S = xc + tm * dp;
        T* P = S + tm * nb;
        double* qoff = scratch.d_buf + tid * scratch.d_stride;
        double* M = qoff + tm;
        double* sum = M + tm;
        double* acc = sum + tm;

        vec_t<T> vmax_buf[kMaxTileM];
        T bmax[kMaxTileM];
        const index_t i0 = tile * tm;
        const index_t rows = (i0 + tm <= m) ? tm : m - i0;
        const T direct_c = centre_tile<T>(x + i0 * d, rows, pk, inv_t, xc, qoff);
        for (index_t r = 0; r < rows; ++r) {
            const index_t i = i0 + r;
            M[r] = st.max[i] == neg_inf ? neg_inf : st.max[i] + qoff[r];
            sum[r] = st.sum[i];
            if (want_acc)
                for (index_t k = 0; k < d; ++k) acc[r * d + k] = st.acc[i * d + k] - pk.mu[k] * sum[r];
        }

        for (index_t b = 0; b < pk.n_blocks; ++b) {
            block_logits<T>(xc, rows, pk, b, inv_t_T, direct_c, S, nb, vmax_buf, bmax);
            for (index_t r = 0; r < rows; ++r) {
                T* s = S + r * nb;
                const double new_max = std::fmax(M[r], static_cast<double>(bmax[r]));
                if (new_max == neg_inf) {  // nothing with positive weight yet: the row stays empty
                    for (index_t j = 0; j < nb; ++j) s[j] = T(0);
                    continue;
                }
                // Keep the reference representable in T so block weights and state agree exactly.
                const T ref = static_cast<T>(new_max);
                const double ref_d = static_cast<double>(ref);
                const double block_sum = exp_row<T>(s, nb, ref);
                const double scale = M[r] == neg_inf ? 0.0 : M[r] == ref_d ? 1.0 : std::exp(M[r] - ref_d);
                sum[r] = sum[r] * scale + block_sum;
                if (want_acc && scale != 1.0)
                    for (index_t k = 0; k < d; ++k) acc[r * d + k] *= scale;
                M[r] = ref_d;
            }
            if (!want_acc) continue;
            for (index_t e = 0; e < rows * dp; ++e) P[e] = T(0);
            if (lowdim)
                wsum_tile_lowdim<T>(S, nb, rows, nb, pk.dt + b * d * nb, d, P, dp);
            else
                wsum_tile<T>(S, nb, rows, smin<index_t>(nb, pk.n - b * nb), pk.xb + b * nb * dp, nb, dp, P, dp);
            for (index_t r = 0; r < rows; ++r)
                for (index_t k = 0; k < d; ++k) acc[r * d + k] += static_cast<double>(P[r * dp + k]);
        }

        for (index_t r = 0; r < rows; ++r) {
            const index_t i = i0 + r;
            st.max[i] = M[r] == neg_inf ? neg_inf : M[r] - qoff[r];
            st.sum[i] = sum[r];
            if (want_acc)
                for (index_t k = 0; k < d; ++k) st.acc[i * d + k] = acc[r * d + k] + pk.mu[k] * sum[r];
        }
    }
}

}  // namespace LEDKDE_ISA
}  // namespace ledkde
