// Orthogonal kernel draws (python/ledkde_fast/_kernel_plan.py, "orthogonal"): Gaussian rows made
// mutually orthogonal in blocks, each keeping its own length.
#pragma once

#include <cmath>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ledkde/types.hpp"

namespace ledkde {

// In place on one block of `rows` <= r Gaussian rows of length r (row-major): Gram-Schmidt in row
// order, two passes (which keeps the rows orthogonal to rounding), then each row rescaled to its
// original length. `length` is scratch for `rows` values.
//
// Why every output row is exactly N(0, I_r): Gram-Schmidt on Gaussian rows gives the directions of a
// Haar-random orthogonal matrix (a QR factorisation with a positive diagonal), and the direction it
// finds for row k depends only on the directions of rows 1..k, which are independent of the rows'
// lengths. So each output row is a uniform direction times an independent chi_r length.
inline void orthogonalise_block(double* z, index_t rows, index_t r, double* length) {
    for (index_t k = 0; k < rows; ++k) {
        double* v = z + k * r;
        double length2 = 0.0;
        for (index_t c = 0; c < r; ++c) length2 += v[c] * v[c];
        length[k] = std::sqrt(length2);
        for (int pass = 0; pass < 2; ++pass) {
            for (index_t j = 0; j < k; ++j) {
                const double* q = z + j * r;  // of unit length already
                double dot = 0.0;
                for (index_t c = 0; c < r; ++c) dot += q[c] * v[c];
                for (index_t c = 0; c < r; ++c) v[c] -= dot * q[c];
            }
        }
        double norm2 = 0.0;
        for (index_t c = 0; c < r; ++c) norm2 += v[c] * v[c];
        // a row inside the span of the previous ones has probability zero: it stays (numerically) zero
        const double inv = norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 0.0;
        for (index_t c = 0; c < r; ++c) v[c] *= inv;
    }
    for (index_t k = 0; k < rows; ++k)
        for (index_t c = 0; c < r; ++c) z[k * r + c] *= length[k];
}

// kLanes whole blocks at once, interleaved (w[(row * r + col) * kLanes + lane]) so that every
// operation runs across independent blocks: Gram-Schmidt's dot products are chains of dependent
// additions, too short (r terms) to keep the floating-point units busy one block at a time.
constexpr index_t kLanes = 8;

inline void orthogonalise_lanes(double* w, index_t r) {
    double length[kLanes], dot[kLanes];
    for (index_t k = 0; k < r; ++k) {
        double* v = w + k * r * kLanes;
        double* len = length;
        for (index_t l = 0; l < kLanes; ++l) len[l] = 0.0;
        for (index_t c = 0; c < r; ++c)
            for (index_t l = 0; l < kLanes; ++l) len[l] += v[c * kLanes + l] * v[c * kLanes + l];
        for (int pass = 0; pass < 2; ++pass) {
            for (index_t j = 0; j < k; ++j) {
                const double* q = w + j * r * kLanes;  // unit rows until the end
                for (index_t l = 0; l < kLanes; ++l) dot[l] = 0.0;
                for (index_t c = 0; c < r; ++c)
                    for (index_t l = 0; l < kLanes; ++l) dot[l] += q[c * kLanes + l] * v[c * kLanes + l];
                for (index_t c = 0; c < r; ++c)
                    for (index_t l = 0; l < kLanes; ++l) v[c * kLanes + l] -= dot[l] * q[c * kLanes + l];
            }
        }
        for (index_t l = 0; l < kLanes; ++l) dot[l] = 0.0;
        for (index_t c = 0; c < r; ++c)
            for (index_t l = 0; l < kLanes; ++l) dot[l] += v[c * kLanes + l] * v[c * kLanes + l];
        for (index_t l = 0; l < kLanes; ++l) {
            dot[l] = dot[l] > 0.0 ? 1.0 / std::sqrt(dot[l]) : 0.0;  // as in orthogonalise_block
            len[l] = std::sqrt(len[l]);
        }
        for (index_t c = 0; c < r; ++c)
            for (index_t l = 0; l < kLanes; ++l) v[c * kLanes + l] *= dot[l];
        // the lengths are restored once every row of the blocks is orthonormal (w's last r x kLanes slots)
        for (index_t l = 0; l < kLanes; ++l) w[r * r * kLanes + k * kLanes + l] = len[l];
    }
    for (index_t k = 0; k < r; ++k)
        for (index_t c = 0; c < r; ++c)
            for (index_t l = 0; l < kLanes; ++l)
                w[(k * r + c) * kLanes + l] *= w[r * r * kLanes + k * kLanes + l];
}

// Every block of r consecutive rows of z (n x r; the last block shorter when r does not divide n).
inline void orthogonal_rows(double* z, index_t n, index_t r, int n_threads) {
    if (n == 0 || r == 0) return;
    const index_t full = n / r;                          // whole blocks
    const index_t groups = (full + kLanes - 1) / kLanes;  // of kLanes blocks (the last one padded)
#if defined(_OPENMP)
    // a block costs about 2 r^3 flops: threads only pay off with many of them
    const bool parallel = full * r * r * r > (index_t{1} << 19);
#pragma omp parallel num_threads(n_threads > 0 ? n_threads : omp_get_max_threads()) if (parallel)
#endif
    {
        std::vector<double> w(static_cast<size_t>((r + 1) * r * kLanes));
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
        for (index_t g = 0; g < groups; ++g) {
            const index_t first = g * kLanes, lanes = first + kLanes <= full ? kLanes : full - first;
            for (index_t l = 0; l < kLanes; ++l)  // padding lanes: zero rows (skipped below)
                for (index_t e = 0; e < r * r; ++e)
                    w[e * kLanes + l] = l < lanes ? z[(first + l) * r * r + e] : 0.0;
            orthogonalise_lanes(w.data(), r);
            for (index_t l = 0; l < lanes; ++l)
                for (index_t e = 0; e < r * r; ++e) z[(first + l) * r * r + e] = w[e * kLanes + l];
        }
    }
    if (full * r < n) {
        std::vector<double> length(static_cast<size_t>(r));
        orthogonalise_block(z + full * r * r, n - full * r, r, length.data());
    }
}

}  // namespace ledkde
