// The shared-sample double-KDE loop (DESIGN.md 2.2). With kernel samples Y_j common to all queries,
//   w_ij(x) = softmax_i(A_i(x) + C_ji),  A_i(x) = -|x - x_i|^2 / (2t),  C_ji = -(Y_j . x_i) / t,
// so after one product for A per query (and one for C per call, done by the caller) the work per
// query and sample is one pass of exp over the data, with no factor d. This kernel accumulates
//   wbar[q, i] += sum_j w_ij(x_q)            (the caller divides by n_kernel and multiplies by X)
//   zsum[q]    += sum_j LSE_i(A_i + C_ji)    (true logit units, log weights included)
#pragma once

#include <cmath>
#include <limits>

#include "empirical.hpp"
#include "microkernels.hpp"
#include "packing.hpp"
#include "simd.hpp"
#include "types.hpp"

namespace ledkde {
namespace LEDKDE_ISA {

template <class T> inline index_t dkde_scratch_t(const PackedData<T>& pk, const Blocking& bl) {
    const index_t n_pad = pk.n_blocks * pk.nb;
    return bl.tile_m * (pk.dp + 2 * n_pad) + n_pad;
}
inline index_t dkde_scratch_d(const Blocking& bl) { return 2 * bl.tile_m; }

// Weights are summed in T over at most this many kernel samples, then added to the double output,
// which bounds the rounding of long sums in float32.
constexpr index_t kFlushEvery = 128;

template <class T> inline void flush(T* Wacc, index_t rows, index_t n_pad, index_t n, double* wbar_rows) {
    for (index_t r = 0; r < rows; ++r) {
        T* w = Wacc + r * n_pad;
        double* out = wbar_rows + r * n;
        for (index_t i = 0; i < n; ++i) {
            out[i] += static_cast<double>(w[i]);
            w[i] = T(0);
        }
    }
}

// C is kc x n with row stride ldc. wbar is m x n (row stride n), zsum has m entries.
template <class T>
void double_kde_accumulate(const T* x, index_t m, const PackedData<T>& pk, double inv_t, const T* C, index_t kc,
                           index_t ldc, double* wbar, double* zsum, const Scratch<T>& scratch, const Blocking& bl,
                           int n_threads) {
    using V = vec_t<T>;
    constexpr int L = lanes_v<T>;
    const index_t d = pk.d, dp = pk.dp, nb = pk.nb, n = pk.n, tq = bl.tile_m;
    const index_t n_pad = pk.n_blocks * nb;
    const index_t n_vec = n - n % L;
    const index_t n_tiles = (m + tq - 1) / tq;
    const T inv_t_T = static_cast<T>(inv_t);
    const T neg_inf = -std::numeric_limits<T>::infinity();

#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (index_t tile = 0; tile < n_tiles; ++tile) {
        const int tid = thread_id();
        T* xc = scratch.t_buf + tid * scratch.t_stride;
        T* A = xc + tq * dp;
        T* Wacc = A + tq * n_pad;
        T* Lbuf = Wacc + tq * n_pad;
        double* qoff = scratch.d_buf + tid * scratch.d_stride;
        double* zloc = qoff + tq;

        const index_t i0 = tile * tq;
        const index_t rows = (i0 + tq <= m) ? tq : m - i0;
        centre_queries<T>(x + i0 * d, rows, d, dp, pk.mu, inv_t, xc, qoff);
        vec_t<T> vmax_buf[kMaxTileM];
        T unused_max[kMaxTileM];
        for (index_t b = 0; b < pk.n_blocks; ++b)
            block_logits<T>(xc, rows, pk, b, inv_t_T, A + b * nb, n_pad, vmax_buf, unused_max);
        for (index_t e = 0; e < rows * n_pad; ++e) Wacc[e] = T(0);
        for (index_t r = 0; r < rows; ++r) zloc[r] = 0.0;

        for (index_t j = 0; j < kc; ++j) {
            if (j > 0 && j % kFlushEvery == 0) flush(Wacc, rows, n_pad, n, wbar + i0 * n);
            const T* c = C + j * ldc;
            for (index_t r = 0; r < rows; ++r) {
                const T* a = A + r * n_pad;
                // pass 1: logits and their max
                V vm = splat<T>(neg_inf);
                for (index_t i = 0; i < n_vec; i += L) {
                    const V l = load<T>(a + i) + load<T>(c + i);
                    store<T>(Lbuf + i, l);
                    vm = vmax<T>(vm, l);
                }
                T mx = hmax<T>(vm);
                for (index_t i = n_vec; i < n; ++i) {
                    Lbuf[i] = a[i] + c[i];
                    mx = smax<T>(mx, Lbuf[i]);
                }
                if (mx == neg_inf) {  // every point of this part has weight zero
                    zloc[r] = -std::numeric_limits<double>::infinity();
                    continue;
                }
                // pass 2: exp against the max, and the normaliser
                const V vmx = splat<T>(mx);
                V vs{};
                for (index_t i = 0; i < n_vec; i += L) {
                    const V e = vexp<T>(load<T>(Lbuf + i) - vmx);
                    store<T>(Lbuf + i, e);
                    vs += e;
                }
                double s = static_cast<double>(hsum<T>(vs));
                for (index_t i = n_vec; i < n; ++i) {
                    Lbuf[i] = static_cast<T>(std::exp(static_cast<double>(Lbuf[i] - mx)));
                    s += static_cast<double>(Lbuf[i]);
                }
                // pass 3: normalised weights into the running average
                const T f = static_cast<T>(1.0 / s);
                T* w = Wacc + r * n_pad;
                for (index_t i = 0; i < n_vec; i += L) store<T>(w + i, load<T>(w + i) + load<T>(Lbuf + i) * f);
                for (index_t i = n_vec; i < n; ++i) w[i] += Lbuf[i] * f;
                zloc[r] += static_cast<double>(mx) + std::log(s) - qoff[r];
            }
        }

        flush(Wacc, rows, n_pad, n, wbar + i0 * n);
        for (index_t r = 0; r < rows; ++r) zsum[i0 + r] += zloc[r];
    }
}

}  // namespace LEDKDE_ISA
}  // namespace ledkde
