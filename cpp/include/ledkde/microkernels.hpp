// Register-blocked micro-kernels for the two products of the streaming softmax:
//   logits:        S (rows x nb)  = Xc (rows x d) . Dt (d x nb)     -- Dt is a packed, transposed block
//   weighted sum:  P (rows x dp) += W (rows x nb) . Xb (nb x dp)     -- Xb is the same block, row-major
// Both keep a rows x (2 or 3 vectors) accumulator tile in registers and stream the packed block, so
// the dot products run at GEMM speed without calling a BLAS from inside the OpenMP region.
#pragma once

#include <limits>

#include "simd.hpp"

namespace ledkde {
namespace LEDKDE_ISA {

// The transposed data block is stored as panels of kPanel<T> columns, each d x kPanel contiguous,
// so the logits kernel streams memory linearly.
template <class T> constexpr index_t kPanel = 2 * lanes_v<T>;

// S[r, 0:kPanel] = (sum_k A[r, k] * B[k, 0:kPanel]) * scale + bias[0:kPanel] for r < R, B one packed
// panel; the running lane-wise maximum of each row is kept in vmax_rows[r]. With Direct, the sum is
// of squared scaled differences instead, sum_k ((A[r, k] - B[k, :]) * c)^2 (three operations per term
// instead of one FMA; see direct_scale in packing.hpp for when that is needed).
template <class T, int R, bool Direct>
inline void logits_rows(const T* A, index_t lda, index_t d, const T* B, T scale, const T* bias, T* S, index_t lds,
                        vec_t<T>* vmax_rows, T c) {
    using V = vec_t<T>;
    constexpr int L = lanes_v<T>;
    V acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = V{};
    for (index_t k = 0; k < d; ++k, B += 2 * L) {
        const V b0 = load<T>(B), b1 = load<T>(B + L);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const T a = A[r * lda + k];
            if constexpr (Direct) {
                const V e0 = (a - b0) * c, e1 = (a - b1) * c;
                acc0[r] += e0 * e0;
                acc1[r] += e1 * e1;
            } else {
                acc0[r] += a * b0;
                acc1[r] += a * b1;
            }
        }
    }
    const V bias0 = load<T>(bias), bias1 = load<T>(bias + L);
    for (int r = 0; r < R; ++r) {
        const V s0 = acc0[r] * scale + bias0, s1 = acc1[r] * scale + bias1;
        store<T>(S + r * lds, s0);
        store<T>(S + r * lds + L, s1);
        vmax_rows[r] = vmax<T>(vmax_rows[r], vmax<T>(s0, s1));
    }
}

// S (rows x nb) = A (rows x d) . Bt * scale + bias, with Bt a packed block, and each row's maximum in
// row_max (with Direct: the scaled squared distances of logits_rows instead of the product). Panels
// outer, rows inner: one panel (d x kPanel) stays in cache while every row group of the tile passes
// over it. vmax_buf holds `rows` vectors of scratch.
template <class T, bool Direct = false>
inline void logits_tile(const T* A, index_t lda, index_t rows, index_t d, const T* Bt, index_t nb, T scale,
                        const T* bias, T* S, index_t lds, vec_t<T>* vmax_buf, T* row_max, T c = T(0)) {
    constexpr int R = 6;
    const T neg_inf = -std::numeric_limits<T>::infinity();
    for (index_t r = 0; r < rows; ++r) vmax_buf[r] = splat<T>(neg_inf);
    for (index_t j = 0; j < nb; j += kPanel<T>) {
        const T* B = Bt + j * d;
        const T* bj = bias + j;
        T* Sj = S + j;
        index_t r = 0;
        for (; r + R <= rows; r += R)
            logits_rows<T, R, Direct>(A + r * lda, lda, d, B, scale, bj, Sj + r * lds, lds, vmax_buf + r, c);
        const T* Ar = A + r * lda;
        T* Sr = Sj + r * lds;
        switch (rows - r) {
            case 5: logits_rows<T, 5, Direct>(Ar, lda, d, B, scale, bj, Sr, lds, vmax_buf + r, c); break;
            case 4: logits_rows<T, 4, Direct>(Ar, lda, d, B, scale, bj, Sr, lds, vmax_buf + r, c); break;
            case 3: logits_rows<T, 3, Direct>(Ar, lda, d, B, scale, bj, Sr, lds, vmax_buf + r, c); break;
            case 2: logits_rows<T, 2, Direct>(Ar, lda, d, B, scale, bj, Sr, lds, vmax_buf + r, c); break;
            case 1: logits_rows<T, 1, Direct>(Ar, lda, d, B, scale, bj, Sr, lds, vmax_buf + r, c); break;
            default: break;
        }
    }
    for (index_t r = 0; r < rows; ++r) row_max[r] = hmax<T>(vmax_buf[r]);
}

// Vector registers the weighted sum may fill with accumulators: 24 of AVX-512's 32, 12 of the 16
// of AVX2 and SSE (the rest hold the data vectors and the broadcast weight).
#if LEDKDE_VEC_BYTES == 64
constexpr int kWsumAccumulators = 24;
#else
constexpr int kWsumAccumulators = 12;
#endif
constexpr int kWsumChunk = kWsumAccumulators >= 24 ? 4 : 3;

// The weighted sum runs over column chunks of the data: kWsumChunk vectors wide, the last one or two
// taking the remainder so that no chunk of a single vector (one load per broadcast) is left where it
// can be avoided. Width, in vectors, of the chunk that starts at vector v of nv. The packed row-major
// copy of each data block is stored in these chunks (nb x width each, one after the other), so the
// kernel streams every chunk contiguously.
inline index_t wsum_chunk_width(index_t nv, index_t v) {
    const index_t left = nv - v;
    if (left > kWsumChunk + 1 || left == kWsumChunk) return kWsumChunk;
    if (left == kWsumChunk + 1) return 2;  // split as two chunks, neither of one vector
    return left;
}

// P[r, 0:C*L] += sum_j W[r, j] * X[j, 0:C*L] for r < R, j < nvalid; X one chunk (row stride C*L).
template <class T, int R, int C>
inline void wsum_rows_cols(const T* W, index_t ldw, index_t nvalid, const T* X, T* P, index_t ldp) {
    using V = vec_t<T>;
    constexpr int L = lanes_v<T>;
    V acc[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) acc[r][c] = load<T>(P + r * ldp + c * L);
    const T* b = X;
    for (index_t j = 0; j < nvalid; ++j, b += C * L) {
        V bv[C];
        for (int c = 0; c < C; ++c) bv[c] = load<T>(b + c * L);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const T w = W[r * ldw + j];
            for (int c = 0; c < C; ++c) acc[r][c] += w * bv[c];
        }
    }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) store<T>(P + r * ldp + c * L, acc[r][c]);
}

// Rows R down to 1: the remainder of a tile's rows after its full groups of R.
template <class T, int C, int R>
inline void wsum_row_tail(index_t rows, const T* W, index_t ldw, index_t nvalid, const T* X, T* P, index_t ldp) {
    if constexpr (R > 0) {
        if (rows == R)
            wsum_rows_cols<T, R, C>(W, ldw, nvalid, X, P, ldp);
        else
            wsum_row_tail<T, C, R - 1>(rows, W, ldw, nvalid, X, P, ldp);
    }
}

// One column chunk of P for every row of the tile, in groups of as many rows as the accumulator
// registers allow.
template <class T, int C>
inline void wsum_column_chunk(const T* W, index_t ldw, index_t rows, index_t nvalid, const T* X, T* P, index_t ldp) {
    constexpr int R = kWsumAccumulators / C;
    index_t r = 0;
    for (; r + R <= rows; r += R) wsum_rows_cols<T, R, C>(W + r * ldw, ldw, nvalid, X, P + r * ldp, ldp);
    wsum_row_tail<T, C, R - 1>(rows - r, W + r * ldw, ldw, nvalid, X, P + r * ldp, ldp);
}

// P (rows x dp) += W (rows x nvalid) . Xb (nvalid x dp), Xb one block of nb points in chunks (see
// wsum_chunk_width). Chunks outer, so one chunk stays in cache for every row group of the tile.
template <class T>
inline void wsum_tile(const T* W, index_t ldw, index_t rows, index_t nvalid, const T* Xb, index_t nb, index_t dp,
                      T* P, index_t ldp) {
    constexpr int L = lanes_v<T>;
    const index_t nv = dp / L;
    for (index_t v = 0; v < nv;) {
        const index_t w = wsum_chunk_width(nv, v);
        const T* X = Xb + v * L * nb;
        T* Pc = P + v * L;
        switch (w) {
            case 4: wsum_column_chunk<T, 4>(W, ldw, rows, nvalid, X, Pc, ldp); break;
            case 3: wsum_column_chunk<T, 3>(W, ldw, rows, nvalid, X, Pc, ldp); break;
            case 2: wsum_column_chunk<T, 2>(W, ldw, rows, nvalid, X, Pc, ldp); break;
            default: wsum_column_chunk<T, 1>(W, ldw, rows, nvalid, X, Pc, ldp); break;
        }
        v += w;
    }
}

// Low-dimensional variant: P[r, k] += sum_j W[r, j] * Bt[k, j] from the packed transposed block,
// vectorised along the data index j, which keeps every lane busy when d is below one vector.
template <class T>
inline void wsum_tile_lowdim(const T* W, index_t ldw, index_t rows, index_t nb, const T* Bt, index_t d, T* P,
                             index_t ldp) {
    using V = vec_t<T>;
    constexpr int L = lanes_v<T>;
    for (index_t r = 0; r < rows; ++r) {
        const T* w = W + r * ldw;
        for (index_t k = 0; k < d; ++k) {
            V acc0{}, acc1{};
            for (index_t j = 0; j < nb; j += 2 * L) {
                const T* b = Bt + j * d + k * 2 * L;
                acc0 += load<T>(w + j) * load<T>(b);
                acc1 += load<T>(w + j + L) * load<T>(b + L);
            }
            P[r * ldp + k] += hsum<T>(acc0 + acc1);
        }
    }
}

}  // namespace LEDKDE_ISA
}  // namespace ledkde
