// Exact k-nearest-neighbour selection by the same blocked logits product as the softmax kernels:
// packed with t = 1/2 and unit weights, the shifted logit of point i is
//   S_i = 2 (x - mu).(x_i - mu) - |x_i - mu|^2 = |x - mu|^2 - |x - x_i|^2,
// so the k largest S are the k nearest points. Each query keeps a sorted top-k list; a block whose
// row maximum cannot enter the list is skipped without a scan.
#pragma once

#include <limits>

#include "empirical.hpp"
#include "packing.hpp"
#include "simd.hpp"
#include "types.hpp"

namespace ledkde {
namespace LEDKDE_ISA {

template <class T> inline index_t knn_scratch_t(const PackedData<T>& pk, const Blocking& bl) {
    return bl.tile_m * (pk.dp + pk.nb);
}

// Inserts (value, index) into a list sorted by decreasing value (ties: smaller index first).
template <class T> inline void topk_insert(T* vals, index_t* idx, index_t k, T v, index_t i) {
    index_t pos = k - 1;
    while (pos > 0 && (vals[pos - 1] < v || (vals[pos - 1] == v && idx[pos - 1] > i))) {
        vals[pos] = vals[pos - 1];
        idx[pos] = idx[pos - 1];
        --pos;
    }
    vals[pos] = v;
    idx[pos] = i;
}

// out_idx (m x k): indices of the k nearest points of each query, nearest first. `pk` must be packed
// with inv_t = 2 and no log weights. `top_vals` has n_threads * tile_m * k entries of scratch.
template <class T>
void knn_select(const T* x, index_t m, const PackedData<T>& pk, index_t k, index_t* out_idx, T* top_vals,
                const Scratch<T>& scratch, const Blocking& bl, int n_threads) {
    const index_t d = pk.d, dp = pk.dp, nb = pk.nb, tm = bl.tile_m;
    const index_t n_tiles = (m + tm - 1) / tm;
    const T neg_inf = -std::numeric_limits<T>::infinity();

#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (index_t tile = 0; tile < n_tiles; ++tile) {
        if (should_stop(scratch.stop)) continue;
        const int tid = thread_id();
        T* xc = scratch.t_buf + tid * scratch.t_stride;
        T* S = xc + tm * dp;
        T* vals = top_vals + static_cast<index_t>(tid) * tm * k;
        double qoff[kMaxTileM];
        vec_t<T> vmax_buf[kMaxTileM];
        T bmax[kMaxTileM];
        const index_t i0 = tile * tm;
        const index_t rows = (i0 + tm <= m) ? tm : m - i0;
        centre_queries<T>(x + i0 * d, rows, d, dp, pk.mu, 0.5, xc, qoff);
        for (index_t e = 0; e < rows * k; ++e) {
            vals[e] = neg_inf;
            out_idx[i0 * k + e] = -1;
        }
        for (index_t b = 0; b < pk.n_blocks; ++b) {
            block_logits<T>(xc, rows, pk, b, T(2), T(0), S, nb, vmax_buf, bmax);
            const index_t valid = smin<index_t>(nb, pk.n - b * nb);
            for (index_t r = 0; r < rows; ++r) {
                T* v = vals + r * k;
                index_t* id = out_idx + (i0 + r) * k;
                if (bmax[r] < v[k - 1]) continue;  // nothing in this block can enter the list
                const T* s = S + r * nb;
                for (index_t j = 0; j < valid; ++j)
                    if (s[j] > v[k - 1] || (s[j] == v[k - 1] && id[k - 1] < 0)) topk_insert<T>(v, id, k, s[j], b * nb + j);
            }
        }
    }
}

}  // namespace LEDKDE_ISA
}  // namespace ledkde
