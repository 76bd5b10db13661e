// Gaussian kernel draws made in the core (python/ledkde_fast/_kernel_plan.py): a counter-seeded
// xoshiro256++ stream per block of rows and Doornik's ZIGNOR ziggurat, so that the draws of one seed
// are the same whatever the number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ledkde/types.hpp"

namespace ledkde {

// SplitMix64 (Steele, Lea, Flood 2014): seeds the block generators from (seed, block).
inline uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// xoshiro256++ (Blackman and Vigna 2019).
class Xoshiro256pp {
public:
    Xoshiro256pp(uint64_t seed, uint64_t stream) {
        uint64_t sm = seed ^ (stream * 0xD1B54A32D192ED03ULL);
        for (auto& word : s_) word = splitmix64(sm);
    }
    uint64_t next() {
        const uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    // uniform on (0, 1): 53 random bits, never 0 (the tail takes its logarithm)
    double open_unit() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

// The ziggurat of N(0, 1) with 128 blocks (Doornik 2005, "An improved ziggurat method to generate
// normal random samples"): x[i] are the block edges, ratio[i] = x[i+1] / x[i].
class Ziggurat {
public:
    static constexpr int kBlocks = 128;
    static constexpr double kTail = 3.442619855899;          // start of the right tail
    static constexpr double kArea = 9.91256303526217e-3;     // area of each block

    Ziggurat() {
        double f = std::exp(-0.5 * kTail * kTail);
        x_[0] = kArea / f;  // the base block (with the tail) has the same area
        x_[1] = kTail;
        x_[kBlocks] = 0.0;
        for (int i = 2; i < kBlocks; ++i) {
            x_[i] = std::sqrt(-2.0 * std::log(kArea / x_[i - 1] + f));
            f = std::exp(-0.5 * x_[i] * x_[i]);
        }
        for (int i = 0; i < kBlocks; ++i) ratio_[i] = x_[i + 1] / x_[i];
    }

    double operator()(Xoshiro256pp& rng) const {
        for (;;) {
            const uint64_t bits = rng.next();
            const int i = static_cast<int>(bits & 0x7F);                        // block: 7 low bits
            const double u = 2.0 * (static_cast<double>(bits >> 11) * 0x1.0p-53) - 1.0;  // 53 high bits
            if (std::fabs(u) < ratio_[i]) return u * x_[i];  // inside the rectangle: the common case
            if (i == 0) return tail(rng, u < 0.0);
            const double x = u * x_[i];  // in a wedge: accept under the density
            const double f0 = std::exp(-0.5 * (x_[i] * x_[i] - x * x));
            const double f1 = std::exp(-0.5 * (x_[i + 1] * x_[i + 1] - x * x));
            if (f1 + rng.open_unit() * (f0 - f1) < 1.0) return x;
        }
    }

private:
    // Marsaglia's tail method beyond kTail.
    static double tail(Xoshiro256pp& rng, bool negative) {
        double x, y;
        do {
            x = std::log(rng.open_unit()) / kTail;
            y = std::log(rng.open_unit());
        } while (-2.0 * y < x * x);
        return negative ? x - kTail : kTail - x;
    }

    double x_[kBlocks + 1];
    double ratio_[kBlocks];
};

inline const Ziggurat& ziggurat() {
    static const Ziggurat table;
    return table;
}

// Rows of the stream: `rows_per_block` rows per generator (block b uses stream b), so the output is
// the same for any number of threads.
constexpr index_t kNormalBlockRows = 256;

inline void normal_rows(uint64_t seed, double* z, index_t n, index_t r, int n_threads) {
    if (n == 0 || r == 0) return;
    const Ziggurat& zig = ziggurat();
    const index_t blocks = (n + kNormalBlockRows - 1) / kNormalBlockRows;
#if defined(_OPENMP)
    const bool parallel = n * r > (index_t{1} << 15);
#pragma omp parallel for schedule(static) num_threads(n_threads > 0 ? n_threads : omp_get_max_threads()) if (parallel)
#endif
    for (index_t b = 0; b < blocks; ++b) {
        Xoshiro256pp rng(seed, static_cast<uint64_t>(b));
        const index_t end = std::min(n, (b + 1) * kNormalBlockRows) * r;
        for (index_t e = b * kNormalBlockRows * r; e < end; ++e) z[e] = zig(rng);
    }
}

}  // namespace ledkde
