// Packs training data into the blocked layouts of types.hpp.
#pragma once

#include <cmath>
#include <limits>

#include "microkernels.hpp"
#include "simd.hpp"
#include "types.hpp"

namespace ledkde {
namespace LEDKDE_ISA {

// `log_w` may be null (unit weights). Runs in parallel over blocks.
template <class T>
void pack_data(const T* data, const double* log_w, double inv_t, PackedData<T>& pk, int n_threads) {
    const index_t d = pk.d, dp = pk.dp, nb = pk.nb, n = pk.n;
    const double* mu = pk.mu;
    const T neg_inf = -std::numeric_limits<T>::infinity();
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (index_t b = 0; b < pk.n_blocks; ++b) {
        T* dt = pk.dt + b * d * nb;
        T* xb = pk.has_rows ? pk.xb + b * nb * dp : nullptr;
        T* bias = pk.bias + b * nb;
        for (index_t jj = 0; jj < nb; ++jj) {
            const index_t j = b * nb + jj;
            if (j >= n) {
                for (index_t k = 0; k < d; ++k) dt[panel_index<T>(k, jj, d)] = T(0);
                if (xb) for (index_t k = 0; k < dp; ++k) xb[jj * dp + k] = T(0);
                bias[jj] = neg_inf;
                continue;
            }
            double norm2 = 0.0;
            for (index_t k = 0; k < d; ++k) {
                const T c = static_cast<T>(static_cast<double>(data[j * d + k]) - mu[k]);
                norm2 += static_cast<double>(c) * static_cast<double>(c);
                dt[panel_index<T>(k, jj, d)] = c;
                if (xb) xb[jj * dp + k] = c;
            }
            if (xb) for (index_t k = d; k < dp; ++k) xb[jj * dp + k] = T(0);
            const double lw = log_w ? log_w[j] : 0.0;
            bias[jj] = static_cast<T>(lw - 0.5 * norm2 * inv_t);
        }
    }
}

// Centres one tile of queries into `xc` (rows x dp, zero padded); returns 0.5 |xc|^2 / t per row in
// `qoff`, the row constant that the packed logits leave out.
template <class T>
inline void centre_queries(const T* x, index_t rows, index_t d, index_t dp, const double* mu, double inv_t,
                           T* xc, double* qoff) {
    for (index_t r = 0; r < rows; ++r) {
        double q2 = 0.0;
        for (index_t k = 0; k < d; ++k) {
            const T c = static_cast<T>(static_cast<double>(x[r * d + k]) - mu[k]);
            xc[r * dp + k] = c;
            q2 += static_cast<double>(c) * static_cast<double>(c);
        }
        for (index_t k = d; k < dp; ++k) xc[r * dp + k] = T(0);
        qoff[r] = 0.5 * q2 * inv_t;
    }
}

// Shifted logits of `rows` centred queries against block b: S = xc.dt / t + bias, i.e. the true
// logits plus each row's qoff; row maxima into row_max.
template <class T>
inline void block_logits(const T* xc, index_t rows, const PackedData<T>& pk, index_t b, T inv_t, T* S,
                         index_t lds, vec_t<T>* vmax_buf, T* row_max) {
    logits_tile<T>(xc, pk.dp, rows, pk.d, pk.dt + b * pk.d * pk.nb, pk.nb, inv_t, pk.bias + b * pk.nb, S, lds,
                   vmax_buf, row_max);
}

}  // namespace LEDKDE_ISA
}  // namespace ledkde
