// The shared-sample double-KDE loop (docs/design.rst, "The double-KDE factorisation").
// With kernel samples Y_j common to all queries,
//   w_ij(x) = softmax_i(A_i(x) + C_ji),  A_i(x) = -|x - x_i|^2 / (2t),  C_ji = -(Y_j . x_i) / t,
// so after one product for A per query (and one for C per call, done by the caller) the work per
// query and sample is one pass of exp over the data, with no factor d. This kernel accumulates
//   wbar[q, i] += sum_j w_ij(x_q)            (the caller divides by n_kernel and multiplies by X)
//   zsum[q]    += sum_j LSE_i(A_i + C_ji)    (true logit units, log weights included)
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "empirical.hpp"
#include "microkernels.hpp"
#include "packing.hpp"
#include "simd.hpp"
#include "types.hpp"

namespace ledkde {
namespace LEDKDE_ISA {

template <class T> inline index_t dkde_scratch_t(const PackedData<T>& pk, const Blocking& bl) {
    const index_t n_pad = pk.n_blocks * pk.nb;
    return bl.tile_m * (2 * pk.dp + 2 * n_pad) + n_pad;
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

// Centres a tile of queries into xc and writes their shifted logits A (rows x n_pad) against every
// block: the true logits plus qoff[r]; amax[r] is the maximum of row r.
template <class T>
inline void tile_logits(const T* x, index_t rows, const PackedData<T>& pk, double inv_t, T* xc, double* qoff, T* A,
                        T* amax) {
    const index_t n_pad = pk.n_blocks * pk.nb;
    vec_t<T> vmax_buf[kMaxTileM];
    T block_max[kMaxTileM];
    const T direct_c = centre_tile<T>(x, rows, pk, inv_t, xc, qoff);
    for (index_t r = 0; r < rows; ++r) amax[r] = -std::numeric_limits<T>::infinity();
    for (index_t b = 0; b < pk.n_blocks; ++b) {
        block_logits<T>(xc, rows, pk, b, static_cast<T>(inv_t), direct_c, A + b * pk.nb, n_pad, vmax_buf,
                        block_max);
        for (index_t r = 0; r < rows; ++r) amax[r] = smax<T>(amax[r], block_max[r]);
    }
}

// One task's view of the double-KDE scratch (layout sized by dkde_scratch_t/_d): centred queries
// xc (tile x dp), logits A and weights W (tile x n_pad each), a row buffer L (n_pad), a product P
// (tile x dp); qoff and zloc (tile each) in doubles. Rows i0 .. i0 + rows of the queries.
template <class T> struct DkdeTile {
    T *xc, *A, *W, *L, *P;
    double *qoff, *zloc;
    index_t i0, rows;

    DkdeTile(const Scratch<T>& s, const PackedData<T>& pk, index_t tq, index_t tile, index_t m) {
        const index_t n_pad = pk.n_blocks * pk.nb;
        const int tid = thread_id();
        xc = s.t_buf + tid * s.t_stride;
        A = xc + tq * pk.dp;
        W = A + tq * n_pad;
        L = W + tq * n_pad;
        P = L + n_pad;
        qoff = s.d_buf + tid * s.d_stride;
        zloc = qoff + tq;
        i0 = tile * tq;
        rows = (i0 + tq <= m) ? tq : m - i0;
    }
};

template <class T> inline T row_max(const T* v, index_t n) {
    using V = vec_t<T>;
    constexpr int Lanes = lanes_v<T>;
    const index_t n_vec = n - n % Lanes;
    V vm = splat<T>(-std::numeric_limits<T>::infinity());
    for (index_t i = 0; i < n_vec; i += Lanes) vm = vmax<T>(vm, load<T>(v + i));
    T mx = hmax<T>(vm);
    for (index_t i = n_vec; i < n; ++i) mx = smax<T>(mx, v[i]);
    return mx;
}

// max_i (a_i + c_i) over n entries.
template <class T> inline T max_of_sums(const T* a, const T* c, index_t n) {
    using V = vec_t<T>;
    constexpr int Lanes = lanes_v<T>;
    const index_t n_vec = n - n % Lanes;
    V vm = splat<T>(-std::numeric_limits<T>::infinity());
    for (index_t i = 0; i < n_vec; i += Lanes) vm = vmax<T>(vm, load<T>(a + i) + load<T>(c + i));
    T mx = hmax<T>(vm);
    for (index_t i = n_vec; i < n; ++i) mx = smax<T>(mx, a[i] + c[i]);
    return mx;
}

// E_i = exp(a_i + c_i - ref) over n entries, ref >= every a_i + c_i; returns their sum (in double).
template <class T> inline double exp_of_sums(const T* a, const T* c, index_t n, T ref, T* E) {
    using V = vec_t<T>;
    constexpr int Lanes = lanes_v<T>;
    const index_t n_vec = n - n % Lanes;
    const V vref = splat<T>(ref);
    V vs{};
    for (index_t i = 0; i < n_vec; i += Lanes) {
        const V e = vexp<T>(load<T>(a + i) + load<T>(c + i) - vref);
        store<T>(E + i, e);
        vs += e;
    }
    double s = static_cast<double>(hsum<T>(vs));
    for (index_t i = n_vec; i < n; ++i) {
        E[i] = static_cast<T>(std::exp(static_cast<double>(a[i] + c[i] - ref)));
        s += static_cast<double>(E[i]);
    }
    return s;
}

// How far below the reference the largest term of a softmax may fall before terms start to lose
// range (float's exp underflows near -87, double's near -708).
template <class T> constexpr T kMaxGap = sizeof(T) == 4 ? T(30) : T(300);

// The terms E_i = exp(a_i + c_i - ref) of one query and draw and their sum, against a reference
// ref >= max_i (a_i + c_i); returns ref (-inf when every term is zero). The bound amax + cmax of the
// row and draw maxima is used directly, which saves a pass over the data for the exact maximum;
// when it is too loose (the sum below exp(-kMaxGap)) the draw is redone against the exact maximum,
// and `exact` records whether the next draw of this query should start there.
template <class T>
inline T softmax_terms(const T* a, const T* c, index_t n, T bound, bool& exact, T* E, double& sum) {
    static const double min_sum = std::exp(-static_cast<double>(kMaxGap<T>));
    if (!exact) {
        sum = exp_of_sums<T>(a, c, n, bound, E);
        if (sum >= min_sum) return bound;
    }
    const T mx = max_of_sums<T>(a, c, n);
    if (mx == -std::numeric_limits<T>::infinity()) {
        sum = 0.0;
        return mx;
    }
    sum = exp_of_sums<T>(a, c, n, mx, E);
    exact = bound - mx > kMaxGap<T> / 2;
    return mx;
}

// Maximum of each draw's row of C (over the n data columns), in parallel.
template <class T> inline void draw_maxima(const T* C, index_t kc, index_t ldc, index_t n, T* cmax, int n_threads) {
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (index_t j = 0; j < kc; ++j) cmax[j] = row_max<T>(C + j * ldc, n);
}

// C (rows x n, row stride ldc) = scale * Z . B^T for Z (rows x r) and B (n x r) packed uncentred
// (mu = 0, bias 0): a plain product on the logits' register-blocked kernel. The double-KDE gets its
// C matrix (draws x data) and its final weights x data product from here, so the whole estimator runs
// in this library's threads: a multithreaded BLAS called in between leaves its threads spinning on
// the cores the double-KDE loop needs (measured: that loop 20 % slower). Scratch: tile x nb.
template <class T> inline index_t matmul_nt_scratch_t(const PackedData<T>& pk, const Blocking& bl) {
    return bl.tile_m * pk.nb;
}

template <class T>
void matmul_nt(const T* z, index_t kc, const PackedData<T>& pk, T scale, T* C, index_t ldc,
               const Scratch<T>& scratch, const Blocking& bl, int n_threads) {
    const index_t tm = bl.tile_m, nb = pk.nb, r = pk.d;
    const index_t n_tiles = (kc + tm - 1) / tm;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (index_t tile = 0; tile < n_tiles; ++tile) {
        if (should_stop(scratch.stop)) continue;
        T* S = scratch.t_buf + thread_id() * scratch.t_stride;
        vec_t<T> vmax_buf[kMaxTileM];
        T unused_max[kMaxTileM];
        const index_t j0 = tile * tm, rows = smin<index_t>(tm, kc - j0);
        for (index_t b = 0; b < pk.n_blocks; ++b) {
            logits_tile<T>(z + j0 * r, r, rows, r, pk.dt + b * r * nb, nb, scale, pk.bias + b * nb, S, nb, vmax_buf,
                           unused_max);
            const index_t cols = smin<index_t>(nb, pk.n - b * nb);
            for (index_t q = 0; q < rows; ++q)
                for (index_t i = 0; i < cols; ++i) C[(j0 + q) * ldc + b * nb + i] = S[q * nb + i];
        }
    }
}

// The same product for a narrow inner dimension (r up to kNarrowInner, types.hpp: the draws of a
// Gaussian in the span of a few points): per row of Z, r vector multiply-adds against B^T held
// column-major in bt (r x np, np the columns rounded up to kNarrowPad, zero-padded), against the
// packed product's tiles, which are sized for long inner dimensions. Measured on the 2-core build
// machine, float32: 25,000 x 9 x 10 1.6 -> 0.2-0.3 ms; 512 x 3 x 20,000 (output-bound) 4.2 -> 3.5 ms.
template <class T>
void matmul_nt_narrow(const T* z, index_t kc, const T* bt, index_t np, index_t r, index_t n, T scale, T* C,
                      index_t ldc, int n_threads) {
    using V = vec_t<T>;
    constexpr index_t L = lanes_v<T>;
    const V vscale = splat<T>(scale);
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (index_t j = 0; j < kc; ++j) {
        const T* zj = z + j * r;
        T* cj = C + j * ldc;
        index_t i0 = 0;
        for (; i0 + 4 * L <= n; i0 += 4 * L) {  // four independent chains of r multiply-adds
            V a0{}, a1{}, a2{}, a3{};
            for (index_t k = 0; k < r; ++k) {
                const V zk = splat<T>(zj[k]);
                const T* b = bt + k * np + i0;
                a0 += zk * load<T>(b);
                a1 += zk * load<T>(b + L);
                a2 += zk * load<T>(b + 2 * L);
                a3 += zk * load<T>(b + 3 * L);
            }
            store<T>(cj + i0, a0 * vscale);
            store<T>(cj + i0 + L, a1 * vscale);
            store<T>(cj + i0 + 2 * L, a2 * vscale);
            store<T>(cj + i0 + 3 * L, a3 * vscale);
        }
        for (; i0 < n; i0 += L) {
            V acc{};
            for (index_t k = 0; k < r; ++k) acc += splat<T>(zj[k]) * load<T>(bt + k * np + i0);
            acc *= vscale;
            if (i0 + L <= n) {
                store<T>(cj + i0, acc);
            } else {
                T tail[L];
                store<T>(tail, acc);
                for (index_t i = i0; i < n; ++i) cj[i] = tail[i - i0];
            }
        }
    }
}

// Round 1 of the sharded double-KDE: for each query q and draw j, this part of the data's
// log-sum-exp of A_i + C_ji as (max, sum) in true logit units, out_max/out_sum of shape m x kc.
template <class T>
void dkde_normalisers(const T* x, index_t m, const PackedData<T>& pk, double inv_t, const T* C, index_t kc,
                      index_t ldc, double* out_max, double* out_sum, const Scratch<T>& scratch, const Blocking& bl,
                      int n_threads) {
    const index_t n = pk.n, tq = bl.tile_m, n_pad = pk.n_blocks * pk.nb;
    const index_t n_tiles = (m + tq - 1) / tq;
    const T neg_inf = -std::numeric_limits<T>::infinity();
    T* const cmax = scratch.shared;
    draw_maxima<T>(C, kc, ldc, n, cmax, n_threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (index_t tile = 0; tile < n_tiles; ++tile) {
        if (should_stop(scratch.stop)) continue;
        const DkdeTile<T> tl(scratch, pk, tq, tile, m);
        T amax[kMaxTileM];
        bool exact[kMaxTileM] = {};
        tile_logits<T>(x + tl.i0 * pk.d, tl.rows, pk, inv_t, tl.xc, tl.qoff, tl.A, amax);
        for (index_t j = 0; j < kc; ++j) {
            if (j % kFlushEvery == kFlushEvery - 1 && should_stop(scratch.stop)) break;
            for (index_t r = 0; r < tl.rows; ++r) {
                const index_t o = (tl.i0 + r) * kc + j;
                double sum = 0.0;
                const T ref = amax[r] == neg_inf ? neg_inf
                                                 : softmax_terms<T>(tl.A + r * n_pad, C + j * ldc, n, amax[r] + cmax[j],
                                                                    exact[r], tl.L, sum);
                if (ref == neg_inf) {
                    out_max[o] = -std::numeric_limits<double>::infinity();
                    out_sum[o] = 0.0;
                    continue;
                }
                out_sum[o] = sum;
                out_max[o] = static_cast<double>(ref) - tl.qoff[r];
            }
        }
    }
}

// Round 2: given the global log-normalisers Z (m x kc, true units), acc[q, :] += sum_j sum_i
// exp(A_i + C_ji - Z_qj) x_i (uncentred x_i) over this part of the data.
template <class T>
void dkde_weighted_sum(const T* x, index_t m, const PackedData<T>& pk, double inv_t, const T* C, index_t kc,
                       index_t ldc, const double* Z, double* acc, const Scratch<T>& scratch, const Blocking& bl,
                       int n_threads) {
    using V = vec_t<T>;
    constexpr int Lanes = lanes_v<T>;
    const index_t n = pk.n, d = pk.d, dp = pk.dp, nb = pk.nb, tq = bl.tile_m, n_pad = pk.n_blocks * nb;
    const index_t n_vec = n - n % Lanes;
    const index_t n_tiles = (m + tq - 1) / tq;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (index_t tile = 0; tile < n_tiles; ++tile) {
        if (should_stop(scratch.stop)) continue;
        const DkdeTile<T> tl(scratch, pk, tq, tile, m);
        T* const A = tl.A;
        T* const W = tl.W;
        T* const P = tl.P;
        const double* qoff = tl.qoff;
        const index_t i0 = tl.i0, rows = tl.rows;
        T amax[kMaxTileM];
        tile_logits<T>(x + i0 * d, rows, pk, inv_t, tl.xc, tl.qoff, A, amax);
        for (index_t j0 = 0; j0 < kc; j0 += kFlushEvery) {
            if (should_stop(scratch.stop)) break;
            const index_t j1 = smin<index_t>(kc, j0 + kFlushEvery);
            for (index_t e = 0; e < rows * n_pad; ++e) W[e] = T(0);
            for (index_t j = j0; j < j1; ++j)
                for (index_t r = 0; r < rows; ++r) {
                    const double z = Z[(i0 + r) * kc + j];
                    if (!(z > -std::numeric_limits<double>::infinity())) continue;
                    const T* a = A + r * n_pad;
                    const T* c = C + j * ldc;
                    T* w = W + r * n_pad;
                    const V vref = splat<T>(static_cast<T>(z + qoff[r]));
                    for (index_t i = 0; i < n_vec; i += Lanes)
                        store<T>(w + i, load<T>(w + i) + vexp<T>(load<T>(a + i) + load<T>(c + i) - vref));
                    for (index_t i = n_vec; i < n; ++i)
                        w[i] += static_cast<T>(std::exp(static_cast<double>(a[i] + c[i]) - (z + qoff[r])));
                }
            // weighted sum of the centred data, then uncentre with the weights' total
            for (index_t e = 0; e < rows * dp; ++e) P[e] = T(0);
            for (index_t b = 0; b < pk.n_blocks; ++b) {
                if (pk.has_rows)
                    wsum_tile<T>(W + b * nb, n_pad, rows, smin<index_t>(nb, n - b * nb), pk.xb + b * nb * dp, nb, dp, P, dp);
                else
                    wsum_tile_lowdim<T>(W + b * nb, n_pad, rows, nb, pk.dt + b * d * nb, d, P, dp);
            }
            for (index_t r = 0; r < rows; ++r) {
                double wsum = 0.0;
                for (index_t i = 0; i < n; ++i) wsum += static_cast<double>(W[r * n_pad + i]);
                double* out = acc + (i0 + r) * d;
                for (index_t k = 0; k < d; ++k) out[k] += static_cast<double>(P[r * dp + k]) + pk.mu[k] * wsum;
            }
        }
    }
}

// C is kc x n with row stride ldc. wbar is m x n (row stride n), zsum has m entries.
template <class T>
void double_kde_accumulate(const T* x, index_t m, const PackedData<T>& pk, double inv_t, const T* C, index_t kc,
                           index_t ldc, double* wbar, double* zsum, const Scratch<T>& scratch, const Blocking& bl,
                           int n_threads) {
    constexpr int L = lanes_v<T>;
    const index_t nb = pk.nb, n = pk.n, tq = bl.tile_m;
    const index_t n_pad = pk.n_blocks * nb;
    const index_t n_vec = n - n % L;
    const index_t n_tiles = (m + tq - 1) / tq;
    const T neg_inf = -std::numeric_limits<T>::infinity();
    T* const cmax = scratch.shared;
    draw_maxima<T>(C, kc, ldc, n, cmax, n_threads);

#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (index_t tile = 0; tile < n_tiles; ++tile) {
        if (should_stop(scratch.stop)) continue;
        const DkdeTile<T> tl(scratch, pk, tq, tile, m);
        T* const A = tl.A;
        T* const Wacc = tl.W;
        T* const E = tl.L;
        const double* qoff = tl.qoff;
        double* const zloc = tl.zloc;
        const index_t i0 = tl.i0, rows = tl.rows;
        T amax[kMaxTileM];
        bool exact[kMaxTileM] = {};
        tile_logits<T>(x + i0 * pk.d, rows, pk, inv_t, tl.xc, tl.qoff, A, amax);
        for (index_t e = 0; e < rows * n_pad; ++e) Wacc[e] = T(0);
        for (index_t r = 0; r < rows; ++r) zloc[r] = 0.0;

        for (index_t j = 0; j < kc; ++j) {
            if (j > 0 && j % kFlushEvery == 0) {
                flush(Wacc, rows, n_pad, n, wbar + i0 * n);
                if (should_stop(scratch.stop)) break;  // a tile of many draws can take seconds
            }
            for (index_t r = 0; r < rows; ++r) {
                double s = 0.0;
                const T ref = amax[r] == neg_inf ? neg_inf
                                                 : softmax_terms<T>(A + r * n_pad, C + j * ldc, n, amax[r] + cmax[j],
                                                                    exact[r], E, s);
                if (ref == neg_inf) {  // every point of this part has weight zero
                    zloc[r] = -std::numeric_limits<double>::infinity();
                    continue;
                }
                // normalised weights into the running average
                const T f = static_cast<T>(1.0 / s);
                T* w = Wacc + r * n_pad;
                for (index_t i = 0; i < n_vec; i += L) store<T>(w + i, load<T>(w + i) + load<T>(E + i) * f);
                for (index_t i = n_vec; i < n; ++i) w[i] += E[i] * f;
                zloc[r] += static_cast<double>(ref) + std::log(s) - qoff[r];
            }
        }

        flush(Wacc, rows, n_pad, n, wbar + i0 * n);
        for (index_t r = 0; r < rows; ++r) zsum[i0 + r] += zloc[r];
    }
}

}  // namespace LEDKDE_ISA
}  // namespace ledkde

namespace ledkde {
namespace LEDKDE_ISA {

// ---------------------------------------------------------------------------------------------
// The same sums for a small training set (n up to kDkdeSmallN points, types.hpp), vectorised over the draws instead
// of the points: with n = 10 the per-point loops above run in scalar code and one exp per weight,
// while here each vector holds one point's logits for `lanes` draws. Per block of draws the block of
// C is transposed into the task's scratch (n x lanes), then for each query row: the exact maximum
// over the points, exp, the sum, and the normalised weights added to per-lane accumulators that are
// flushed to double every kFlushEvery draws (as the loop above). Tasks are (query tile, range of
// draws), so a handful of queries still fills every thread; each task adds its totals to the output
// rows under a critical section at its end.
template <class T> inline index_t dkde_small_scratch_t(const PackedData<T>& pk, const Blocking& bl) {
    constexpr index_t L = lanes_v<T>;
    const index_t n_pad = pk.n_blocks * pk.nb;
    return bl.tile_m * (pk.dp + n_pad) + 2 * pk.n * L + bl.tile_m * pk.n * L + 2 * bl.tile_m * L;
}
template <class T> inline index_t dkde_small_scratch_d(const PackedData<T>& pk, const Blocking& bl) {
    return 2 * bl.tile_m + bl.tile_m * pk.n;
}

template <class T>
void double_kde_small_n(const T* x, index_t m, const PackedData<T>& pk, double inv_t, const T* C, index_t kc,
                        index_t ldc, double* wbar, double* zsum, const Scratch<T>& scratch, const Blocking& bl,
                        int n_threads) {
    using V = vec_t<T>;
    constexpr index_t L = lanes_v<T>;
    // flush every kFlushEvery draws, and at least every 8 blocks: a product of 8 sums of at most
    // kDkdeSmallN terms each stays inside float's range
    constexpr index_t kBlocksPerFlush = kFlushEvery / L < 8 ? (kFlushEvery / L > 0 ? kFlushEvery / L : 1) : 8;
    const index_t n = pk.n, tq = bl.tile_m, n_pad = pk.n_blocks * pk.nb;
    const index_t n_tiles = (m + tq - 1) / tq;
    const index_t n_blocks = (kc + L - 1) / L;
    // Draw ranges per tile, each of whole flush periods: at least kSmallNTasks tasks in all, a number
    // that does not depend on the threads, so that the sums are the same for any thread count.
    const index_t periods = (n_blocks + kBlocksPerFlush - 1) / kBlocksPerFlush;
    const index_t per_tile = smax<index_t>(1, smin<index_t>(periods, (kSmallNTasks + n_tiles - 1) / n_tiles));
    const index_t blocks_per_task = (periods + per_tile - 1) / per_tile * kBlocksPerFlush;
    const index_t n_tasks = n_tiles * per_tile;
    const T neg_inf = -std::numeric_limits<T>::infinity();
    // Tasks that share a tile leave their sums here, merged in task order after the loop (n_tasks is
    // then small: per_tile > 1 only for fewer than kSmallNTasks tiles). Allocated before the parallel
    // region: nothing throws inside it.
    const index_t part_stride = tq * (n + 1);
    std::vector<double> parts(per_tile > 1 ? static_cast<size_t>(n_tasks * part_stride) : 0);
    std::vector<unsigned char> ran(per_tile > 1 ? static_cast<size_t>(n_tasks) : 0, 0);

#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (index_t task = 0; task < n_tasks; ++task) {
        if (should_stop(scratch.stop)) continue;
        const index_t tile = task / per_tile, part = task % per_tile;
        const index_t b0 = part * blocks_per_task, b1 = smin<index_t>(n_blocks, b0 + blocks_per_task);
        if (b0 >= b1) continue;
        const int tid = thread_id();
        T* const xc = scratch.t_buf + tid * scratch.t_stride;
        T* const A = xc + tq * pk.dp;
        T* const Ct = A + tq * n_pad;       // n x L: this block's C, transposed
        T* const E = Ct + n * L;            // n x L: exp terms of one row
        T* const Wv = E + n * L;            // rows x n x L: weight accumulators
        T* const Zv = Wv + tq * n * L;      // rows x L: sums of the maxima
        T* const Pv = Zv + tq * L;          // rows x L: products of the sums
        double* const qoff = scratch.d_buf + tid * scratch.d_stride;
        double* const zloc = qoff + tq;
        double* const wloc = zloc + tq;     // rows x n
        const index_t i0 = tile * tq, rows = smin<index_t>(tq, m - i0);
        T amax[kMaxTileM];
        tile_logits<T>(x + i0 * pk.d, rows, pk, inv_t, xc, qoff, A, amax);
        for (index_t e = 0; e < rows * n * L; ++e) Wv[e] = T(0);
        for (index_t e = 0; e < rows * L; ++e) Zv[e] = T(0);
        for (index_t e = 0; e < rows * L; ++e) Pv[e] = T(1);
        for (index_t r = 0; r < rows; ++r) zloc[r] = 0.0;
        for (index_t e = 0; e < rows * n; ++e) wloc[e] = 0.0;
        auto flush_rows = [&]() {
            for (index_t r = 0; r < rows; ++r) {
                for (index_t i = 0; i < n; ++i) {
                    wloc[r * n + i] += static_cast<double>(hsum<T>(load<T>(Wv + (r * n + i) * L)));
                    store<T>(Wv + (r * n + i) * L, V{});
                }
                const V p = load<T>(Pv + r * L);
                double logs = 0.0;
                for (index_t l = 0; l < L; ++l) logs += std::log(static_cast<double>(p[l]));
                zloc[r] += static_cast<double>(hsum<T>(load<T>(Zv + r * L))) + logs;
                store<T>(Zv + r * L, V{});
                store<T>(Pv + r * L, splat<T>(T(1)));
            }
        };

        for (index_t b = b0; b < b1; ++b) {
            const index_t j0 = b * L, valid = smin<index_t>(L, kc - j0);
            for (index_t i = 0; i < n; ++i)
                for (index_t l = 0; l < L; ++l) Ct[i * L + l] = l < valid ? C[(j0 + l) * ldc + i] : T(0);
            V mask = V{};
            for (index_t l = 0; l < valid; ++l) mask[l] = T(1);
            for (index_t r = 0; r < rows; ++r) {
                if (amax[r] == neg_inf) continue;  // no point with positive weight (zsum -inf below)
                const T* a = A + r * n_pad;
                V mx = splat<T>(a[0]) + load<T>(Ct);
                for (index_t i = 1; i < n; ++i) mx = vmax<T>(mx, splat<T>(a[i]) + load<T>(Ct + i * L));
                V s = V{};
                for (index_t i = 0; i < n; ++i) {
                    const V e = vexp<T>(splat<T>(a[i]) + load<T>(Ct + i * L) - mx);
                    store<T>(E + i * L, e);
                    s += e;
                }
                const V f = mask / s;  // s >= 1 (the maximum's term)
                T* w = Wv + r * n * L;
                for (index_t i = 0; i < n; ++i) store<T>(w + i * L, load<T>(w + i * L) + load<T>(E + i * L) * f);
                store<T>(Zv + r * L, load<T>(Zv + r * L) + mx * mask);
                // padded lanes multiply by 1
                store<T>(Pv + r * L, load<T>(Pv + r * L) * (s * mask + (splat<T>(T(1)) - mask)));
            }
            if ((b - b0 + 1) % kBlocksPerFlush == 0 || b + 1 == b1) flush_rows();
        }
        const double n_draws = static_cast<double>(smin<index_t>(kc, b1 * L) - b0 * L);
        if (per_tile > 1) {  // merged below, in task order
            double* const part = parts.data() + task * part_stride;
            for (index_t r = 0; r < rows; ++r) {
                part[r * (n + 1)] = amax[r] == neg_inf ? -std::numeric_limits<double>::infinity()
                                                       : zloc[r] - n_draws * qoff[r];
                for (index_t i = 0; i < n; ++i) part[r * (n + 1) + 1 + i] = wloc[r * n + i];
            }
            ran[task] = 1;
            continue;
        }
        for (index_t r = 0; r < rows; ++r) {  // this task alone owns these rows
            if (amax[r] == neg_inf) {
                zsum[i0 + r] = -std::numeric_limits<double>::infinity();
                continue;
            }
            zsum[i0 + r] += zloc[r] - n_draws * qoff[r];
            for (index_t i = 0; i < n; ++i) wbar[(i0 + r) * n + i] += wloc[r * n + i];
        }
    }
    for (index_t task = 0; task < (per_tile > 1 ? n_tasks : 0); ++task) {
        if (!ran[task]) continue;  // an empty draw range, or an interrupted call
        const index_t i0 = (task / per_tile) * tq, rows = smin<index_t>(tq, m - i0);
        const double* const part = parts.data() + task * part_stride;
        for (index_t r = 0; r < rows; ++r) {
            zsum[i0 + r] += part[r * (n + 1)];  // -inf stays -inf
            for (index_t i = 0; i < n; ++i) wbar[(i0 + r) * n + i] += part[r * (n + 1) + 1 + i];
        }
    }
}

}  // namespace LEDKDE_ISA
}  // namespace ledkde
