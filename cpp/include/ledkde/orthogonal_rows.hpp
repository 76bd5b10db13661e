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

// The lane loops below are this file's cost for wide blocks: compiled for AVX-512 and AVX2 too, the
// best chosen when the module loads (function multiversioning through an ifunc: GCC and Clang on
// x86-64 Linux; the build's baseline, SSE2, elsewhere). 256-row blocks: 49 -> 32 ms for 512 rows.
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__NVCC__)
#define LEDKDE_MULTIVERSION __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define LEDKDE_MULTIVERSION
#endif

// Blocks handled at once by orthogonalise_lanes: 8 (one AVX-512 vector of doubles) for wide blocks;
// 32 for narrow ones (r <= kNarrowBlock), whose dot products, chains of r dependent additions, are
// too short to hide their latency with one vector (25,000 x 9, one thread: 0.70 -> 0.52 ms). At
// r = 32 the 32-lane buffer (270 KB) made it 8 % slower: 16 is the limit.
constexpr index_t kLanes = 8;
constexpr index_t kNarrowLanes = 32;
constexpr index_t kNarrowBlock = 16;

// How many of a block's `size` entries lie inside z when `left` entries of z remain from its start.
inline index_t entries_inside(index_t left, index_t size) { return left <= 0 ? 0 : (left < size ? left : size); }

// In place on kLanes blocks of r Gaussian rows of length r, interleaved (w[(row * r + col) * kLanes
// + lane]) so that every operation runs across independent blocks: Gram-Schmidt's dot products are
// chains of dependent additions, too short (r terms) to keep the floating-point units busy one block
// at a time. Gram-Schmidt in row order, two passes (which keeps the rows orthogonal to rounding), then
// each row rescaled to its original length; w has r x kLanes more slots for those lengths. A zero row
// (padding) stays zero and leaves the rows before it unchanged.
//
// Why every output row is exactly N(0, I_r): Gram-Schmidt on Gaussian rows gives the directions of a
// Haar-random orthogonal matrix (a QR factorisation with a positive diagonal), and the direction it
// finds for row k depends only on the directions of rows 1..k, which are independent of the rows'
// lengths. So each output row is a uniform direction times an independent chi_r length.
template <index_t kLanes>
LEDKDE_MULTIVERSION inline void orthogonalise_lanes(double* w, index_t r) {
    double length[kLanes], dot[kLanes];
    for (index_t k = 0; k < r; ++k) {
        double* v = w + k * r * kLanes;
        for (index_t l = 0; l < kLanes; ++l) length[l] = 0.0;
        for (index_t c = 0; c < r; ++c)
            for (index_t l = 0; l < kLanes; ++l) length[l] += v[c * kLanes + l] * v[c * kLanes + l];
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
            // a padding row, or one inside the span of the rows before it (probability zero), stays zero
            dot[l] = dot[l] > 0.0 ? 1.0 / std::sqrt(dot[l]) : 0.0;
            length[l] = std::sqrt(length[l]);
        }
        for (index_t c = 0; c < r; ++c)
            for (index_t l = 0; l < kLanes; ++l) v[c * kLanes + l] *= dot[l];
        // the lengths are restored once every row of the blocks is orthonormal (w's last r x kLanes slots)
        for (index_t l = 0; l < kLanes; ++l) w[r * r * kLanes + k * kLanes + l] = length[l];
    }
    for (index_t k = 0; k < r; ++k)
        for (index_t c = 0; c < r; ++c)
            for (index_t l = 0; l < kLanes; ++l)
                w[(k * r + c) * kLanes + l] *= w[r * r * kLanes + k * kLanes + l];
}

// Every block of r consecutive rows of z (n x r; the last block shorter when r does not divide n, its
// missing rows padded with zeros), kLanes blocks at a time.
template <index_t kLanes> inline void orthogonal_rows_by(double* z, index_t n, index_t r, int n_threads) {
    const index_t blocks = (n + r - 1) / r;
    const index_t groups = (blocks + kLanes - 1) / kLanes;  // of kLanes blocks (the last one padded)
#if defined(_OPENMP)
    // a block costs about 2 r^3 flops: threads only pay off with many of them
    const bool parallel = blocks * r * r * r > (index_t{1} << 19);
#pragma omp parallel num_threads(n_threads > 0 ? n_threads : omp_get_max_threads()) if (parallel)
#endif
    {
        std::vector<double> w(static_cast<size_t>((r + 1) * r * kLanes));
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
        for (index_t g = 0; g < groups; ++g) {
            for (index_t l = 0; l < kLanes; ++l) {  // rows beyond n, and blocks beyond the last: zeros
                const index_t first = (g * kLanes + l) * r * r, valid = entries_inside(n * r - first, r * r);
                for (index_t e = 0; e < r * r; ++e) w[e * kLanes + l] = e < valid ? z[first + e] : 0.0;
            }
            orthogonalise_lanes<kLanes>(w.data(), r);
            for (index_t l = 0; l < kLanes; ++l) {
                const index_t first = (g * kLanes + l) * r * r, valid = entries_inside(n * r - first, r * r);
                for (index_t e = 0; e < valid; ++e) z[first + e] = w[e * kLanes + l];
            }
        }
    }
}

inline void orthogonal_rows(double* z, index_t n, index_t r, int n_threads) {
    if (n == 0 || r == 0) return;
    if (r <= kNarrowBlock)
        orthogonal_rows_by<kNarrowLanes>(z, n, r, n_threads);
    else
        orthogonal_rows_by<kLanes>(z, n, r, n_threads);
}

}  // namespace ledkde
