// Packs training data into the blocked layouts of types.hpp.
#pragma once

#include <cmath>
#include <limits>

#include "microkernels.hpp"
#include "simd.hpp"
#include "types.hpp"

namespace ledkde {
namespace LEDKDE_ISA {

// out[k] = x[k] - mu[k] rounded to T for k < d; returns sum_k out[k]^2 in double. Eight partial sums
// in a fixed order: the loop vectorises and the result does not depend on the caller.
template <class T> inline double centre_row(const T* x, const double* mu, index_t d, T* out) {
    double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    index_t k = 0;
    for (; k + 8 <= d; k += 8)
        for (int u = 0; u < 8; ++u) {
            const T c = static_cast<T>(static_cast<double>(x[k + u]) - mu[k + u]);
            out[k + u] = c;
            part[u] += static_cast<double>(c) * static_cast<double>(c);
        }
    for (; k < d; ++k) {
        const T c = static_cast<T>(static_cast<double>(x[k]) - mu[k]);
        out[k] = c;
        part[k % 8] += static_cast<double>(c) * static_cast<double>(c);
    }
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// Centres point x into row jb of the block's chunked row-major copy (wsum_chunk_width), zero padded
// to dp; x null writes a padding row of zeros. Returns |x - mu|^2 (the chunks' sums added in order).
template <class T>
inline double centre_into_chunks(const T* x, const double* mu, index_t d, index_t dp, T* block, index_t nb,
                                 index_t jb) {
    constexpr index_t L = lanes_v<T>;
    const index_t nv = dp / L;
    double norm2 = 0.0;
    for (index_t v = 0; v < nv;) {
        const index_t width = wsum_chunk_width(nv, v) * L, k0 = v * L;
        T* out = block + k0 * nb + jb * width;
        const index_t len = x ? smax<index_t>(0, smin<index_t>(width, d - k0)) : 0;
        if (len > 0) norm2 += centre_row<T>(x + k0, mu + k0, len, out);
        for (index_t k = len; k < width; ++k) out[k] = T(0);
        v += width / L;
    }
    return norm2;
}

// `log_w` may be null (unit weights). Runs in parallel over panels of kPanel points (a chunk of
// high-dimensional data may be a single block): each point is centred into the chunked row-major
// copy (or only measured, when there is none), then the panel's transposed d x kPanel copy is
// written, so both layouts are written contiguously. Also records max_i |x_i - mu|^2.
template <class T>
void pack_data(const T* data, const double* log_w, double inv_t, PackedData<T>& pk, int n_threads) {
    constexpr index_t P = kPanel<T>;
    const index_t d = pk.d, dp = pk.dp, nb = pk.nb, n = pk.n;
    const index_t n_panels = pk.n_blocks * nb / P;
    const T neg_inf = -std::numeric_limits<T>::infinity();
    double max_norm2 = 0.0;
#pragma omp parallel for schedule(static) num_threads(n_threads) reduction(max : max_norm2)
    for (index_t panel_id = 0; panel_id < n_panels; ++panel_id) {
        const index_t j0 = panel_id * P;
        T* block = pk.has_rows ? pk.xb + (j0 / nb) * nb * dp : nullptr;
        for (index_t jj = 0; jj < P; ++jj) {
            const index_t j = j0 + jj;
            double norm2 = 0.0;
            if (j < n && block) {
                norm2 = centre_into_chunks<T>(data + j * d, pk.mu, d, dp, block, nb, j % nb);
            } else if (j < n) {
                T row[lanes_v<T>];  // without a row-major copy d <= lanes / 2
                norm2 = centre_row<T>(data + j * d, pk.mu, d, row);
            } else if (block) {  // padding: zero coordinates, weight exactly zero
                centre_into_chunks<T>(nullptr, pk.mu, d, dp, block, nb, j % nb);
            }
            const double lw = log_w ? log_w[j < n ? j : 0] : 0.0;
            // norm2 = 0 leaves the bias at log w even where 1/t overflows (0 * inf would be NaN)
            pk.bias[j] = j < n ? static_cast<T>(norm2 > 0.0 ? lw - 0.5 * norm2 * inv_t : lw) : neg_inf;
            pk.log_w[j] = j < n ? static_cast<T>(lw) : neg_inf;
            max_norm2 = norm2 > max_norm2 ? norm2 : max_norm2;
        }
        // panels of consecutive points are consecutive; the same rounding as the centred rows. Rows are
        // read in order (a panel, d x P, stays in L1 while its columns are written).
        T* panel = pk.dt + j0 * d;
        const double* mu = pk.mu;
        for (index_t jj = 0; jj < P; ++jj) {
            const T* row = data + (j0 + jj) * d;
            if (j0 + jj < n)
                for (index_t k = 0; k < d; ++k) panel[k * P + jj] = static_cast<T>(static_cast<double>(row[k]) - mu[k]);
            else
                for (index_t k = 0; k < d; ++k) panel[k * P + jj] = T(0);
        }
    }
    pk.max_norm2 = max_norm2;
}

// Centres one tile of queries into `xc` (rows x dp, zero padded); returns 0.5 |xc|^2 / t per row in
// `qoff`, the row constant that the packed logits leave out, and the largest |xc|^2 of the tile.
template <class T>
inline double centre_queries(const T* x, index_t rows, index_t d, index_t dp, const double* mu, double inv_t,
                             T* xc, double* qoff) {
    double max_norm2 = 0.0;
    for (index_t r = 0; r < rows; ++r) {
        const double norm2 = centre_row<T>(x + r * d, mu, d, xc + r * dp);
        qoff[r] = norm2 > 0.0 ? 0.5 * norm2 * inv_t : 0.0;
        max_norm2 = norm2 > max_norm2 ? norm2 : max_norm2;
        for (index_t k = d; k < dp; ++k) xc[r * dp + k] = T(0);
    }
    return max_norm2;
}

// How the logits of a tile are formed. The expansion 2 xc.x_ic - |x_ic|^2 (one GEMM-like product)
// carries a rounding error of about eps * (|xc|^2 + |x_ic|^2) / 2t in each logit: nothing at usual t,
// but at tiny t, or with coordinates huge next to sqrt(t), it swamps the differences between logits
// (kde_log_density at a training point with t = 1e-20 was off by thousands) and overflows to
// inf - inf. There the logits are formed from differences, -|(xc - x_ic) c|^2 + log w_i with
// c = sqrt(1/2t): accurate relative to each distance, and a distance too large for T gives -inf, a
// weight of zero. Returns c for the direct form, 0 for the expansion. The bound tolerated is that of
// float32's usual accuracy in float, and 1e-6 in a logit in double (reached only when |x - mu|^2 / t
// exceeds about 4e9; the direct form costs about twice the expansion).
template <class T> constexpr double kMaxExpansionError = sizeof(T) == 4 ? 1.0 / 32 : 1.0 / (1 << 20);

template <class T> inline T direct_scale(double tile_max_norm2, const PackedData<T>& pk, double inv_t) {
    const double bound = std::numeric_limits<T>::epsilon() * 0.5 * (tile_max_norm2 + pk.max_norm2) * inv_t;
    return bound <= kMaxExpansionError<T> ? T(0) : pk.direct_c;  // a NaN bound (0 * inf) takes the direct form
}

// Centres a tile of queries (centre_queries) and chooses its logits' form (direct_scale): returns c,
// and with the direct form the row constants qoff are zero (direct logits are true logits).
template <class T>
inline T centre_tile(const T* x, index_t rows, const PackedData<T>& pk, double inv_t, T* xc, double* qoff) {
    const double max_norm2 = centre_queries<T>(x, rows, pk.d, pk.dp, pk.mu, inv_t, xc, qoff);
    const T c = direct_scale<T>(max_norm2, pk, inv_t);
    if (c > T(0))
        for (index_t r = 0; r < rows; ++r) qoff[r] = 0.0;
    return c;
}

// Shifted logits of `rows` centred queries against block b: S = xc.dt / t + bias, i.e. the true
// logits plus each row's qoff; with direct_c > 0 the true logits from differences. Row maxima into
// row_max.
template <class T>
inline void block_logits(const T* xc, index_t rows, const PackedData<T>& pk, index_t b, T inv_t, T direct_c, T* S,
                         index_t lds, vec_t<T>* vmax_buf, T* row_max) {
    const T* dt = pk.dt + b * pk.d * pk.nb;
    if (direct_c > T(0))
        logits_tile<T, true>(xc, pk.dp, rows, pk.d, dt, pk.nb, T(-1), pk.log_w + b * pk.nb, S, lds, vmax_buf, row_max,
                             direct_c);
    else
        logits_tile<T>(xc, pk.dp, rows, pk.d, dt, pk.nb, inv_t, pk.bias + b * pk.nb, S, lds, vmax_buf, row_max);
}

}  // namespace LEDKDE_ISA
}  // namespace ledkde
