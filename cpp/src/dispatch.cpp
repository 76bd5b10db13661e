#include "dispatch.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>

#include "kernel_table.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ledkde {
namespace {

struct IsaEntry {
    const char* name;
    const KernelTable<float>& (*f32)();
    const KernelTable<double>& (*f64)();
    bool (*supported)();
};

bool always() { return true; }
#if defined(LEDKDE_HAVE_AVX2)
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif
#if defined(LEDKDE_HAVE_AVX512)
bool cpu_has_avx512() {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
}
#endif

const std::vector<IsaEntry>& entries() {
    static const std::vector<IsaEntry> list = {
#if defined(LEDKDE_HAVE_AVX512)
        {"avx512", &avx512::table_f32, &avx512::table_f64, &cpu_has_avx512},
#endif
#if defined(LEDKDE_HAVE_AVX2)
        {"avx2", &avx2::table_f32, &avx2::table_f64, &cpu_has_avx2},
#endif
        {"generic", &generic::table_f32, &generic::table_f64, &always},
    };
    return list;
}

const IsaEntry* best_supported() {
    for (const auto& e : entries())
        if (e.supported()) return &e;
    return &entries().back();
}

std::atomic<const IsaEntry*> g_active{nullptr};

const IsaEntry& active() {
    const IsaEntry* e = g_active.load();
    if (!e) {
        e = best_supported();
        g_active.store(e);
    }
    return *e;
}

template <class T> const KernelTable<T>& table();
template <> const KernelTable<float>& table<float>() { return active().f32(); }
template <> const KernelTable<double>& table<double>() { return active().f64(); }

int resolve_threads(int n_threads, index_t n_tasks) {
    int nt = n_threads > 0 ? n_threads : max_threads();
    if (n_tasks < nt) nt = static_cast<int>(std::max<index_t>(n_tasks, 1));
    return nt;
}

// Buffers kept per calling thread between calls: re-packing the data of every call into fresh
// allocations would page-fault through the whole copy each time (milliseconds per 10^5 points). They
// keep the largest size used so far (at most about twice a data slab of the Python driver).
// Slots: 0 packed dt, 1 packed rows, 2 bias, 3 T scratch, 6 log weights; 4 mu and 5 double scratch
// (always double, distinct from the T slots even when T is double).
template <class T> std::vector<T>& pooled(int slot) {
    thread_local std::vector<T> pool[7];
    return pool[slot];
}

template <class V> typename V::value_type* sized(V& v, index_t n) {
    if (static_cast<index_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
    return v.data();
}

// Unweighted mean of the data (pooled): any centre is exact in real arithmetic; the mean is the one
// that keeps |x_i - mu| and hence the rounding of the logits smallest.
template <class T> const double* data_centre(const T* data, index_t n, index_t d) {
    double* mu = sized(pooled<double>(4), d);
    std::fill(mu, mu + d, 0.0);
    for (index_t j = 0; j < n; ++j)
        for (index_t k = 0; k < d; ++k) mu[k] += static_cast<double>(data[j * d + k]);
    for (index_t k = 0; k < d; ++k) mu[k] /= static_cast<double>(n);
    return mu;
}

// The packed copy of (part of) the data, centred on `mu`, for the duration of one call.
template <class T> struct PackedBuffers {
    PackedData<T> pk;

    PackedBuffers(const KernelTable<T>& K, const T* data, index_t n, index_t d, const double* log_w, double t,
                  index_t nb, int n_threads, const double* mu) {
        pk.n = n;
        pk.d = d;
        pk.nb = nb;
        K.plan(pk);
        pk.dt = sized(pooled<T>(0), pk.n_blocks * d * nb);
        pk.xb = pk.has_rows ? sized(pooled<T>(1), pk.n_blocks * nb * pk.dp) : nullptr;
        pk.bias = sized(pooled<T>(2), pk.n_blocks * nb);
        pk.log_w = sized(pooled<T>(6), pk.n_blocks * nb);
        pk.mu = mu;
        // sqrt(1/2t) without forming 1/t, which overflows for subnormal t; capped at T's largest value
        // (float at t < 1e-77), where it still sends every distance above about 1e-38 to weight zero
        pk.direct_c = static_cast<T>(std::min(std::sqrt(0.5) / std::sqrt(t),
                                              static_cast<double>(std::numeric_limits<T>::max())));
        // packing runs one task per panel of at most 32 points
        K.pack(data, log_w, 1.0 / t, pk, resolve_threads(n_threads, pk.n_blocks * nb / 32));
    }
    PackedBuffers(const KernelTable<T>& K, const T* data, index_t n, index_t d, const double* log_w, double t,
                  index_t nb, int n_threads)
        : PackedBuffers(K, data, n, d, log_w, t, nb, n_threads, data_centre(data, n, d)) {}
};

// Bytes of packed data per chunk of lse_accumulate: every query tile passes over a chunk while it
// is still in the last-level cache, so the data comes from DRAM once per call rather than once per
// tile (at N = 10^5, d = 64 this is the difference between 72 % and 90 % of the GEMM roofline).
constexpr index_t kChunkBytes = index_t(6) << 20;
// Each chunk also moves every tile's double state (tile_m x d) in and out. Once that no longer fits
// in a core's L2 it comes from L3 at every chunk, and chunks of at least kMinChunkPoints keep that
// traffic small (at d = 3072 the 256-point chunks the cache rule gives were 13 % slower).
constexpr index_t kL2Bytes = index_t(1) << 20;
constexpr index_t kMinChunkPoints = 2048;

template <class T> index_t chunk_points(index_t d, const Blocking& bl) {
    const index_t per_point = static_cast<index_t>(sizeof(T)) * (2 * d + 1);
    const index_t by_cache = kChunkBytes / per_point / bl.block_n * bl.block_n;
    const bool state_spills = bl.tile_m * d * index_t(sizeof(double)) > kL2Bytes;
    return std::max<index_t>(state_spills ? kMinChunkPoints : bl.block_n, by_cache);
}

// Rows of the micro-kernel: the two functions below round the tiles they shrink up to a multiple of it.
constexpr index_t kTileRows = 6;
inline index_t whole_micro_rows(index_t rows) { return (rows + kTileRows - 1) / kTileRows * kTileRows; }

// Shrinks the query tile so that the tiles split evenly over the threads (a last odd tile would
// leave the other threads idle for a whole tile); tiles of 24 rows and more stay a multiple of the
// micro-kernel's 6 rows.
inline index_t balanced_tile(index_t m, index_t tile_m, int n_threads) {
    const index_t n_tiles = (m + tile_m - 1) / tile_m;
    if (n_threads <= 1 || n_tiles <= 1 || n_tiles % n_threads == 0) return tile_m;
    const index_t even = (n_tiles + n_threads - 1) / n_threads * n_threads;
    const index_t tm = (m + even - 1) / even;
    return std::min(tm >= 4 * kTileRows ? whole_micro_rows(tm) : tm, tile_m);
}

// The query tile for m queries on n_threads threads (0: all): the requested one, or, when it would
// leave threads without a tile (a few queries, e.g. a sampler's 64 samples against tiles of 96),
// smaller tiles, down to the micro-kernel's 6 rows, so that each thread has one. A query's sums do
// not depend on the tile it is in, so neither do the results.
inline index_t spread_tile(index_t m, index_t tile_m, int n_threads) {
    const index_t nt = n_threads > 0 ? n_threads : max_threads();
    if ((m + tile_m - 1) / tile_m >= nt) return tile_m;
    const index_t per_thread = (m + nt - 1) / nt;
    return std::min(tile_m, std::max(kTileRows, whole_micro_rows(per_thread)));
}

// The row tile of a product with few rows (at most 4 tiles of tile_m per thread): the multiple of the
// micro-kernel's rows, at most tile_m, whose tiles, handed out in order, finish first on nt threads;
// a tile costs its rows plus one micro-kernel pass of setup. 64 rows on 2 threads: 36 + 28 instead
// of 48 + 16 (64 x 500 x 784 float32: 0.94 -> 0.78 ms). With more rows the requested tile stays.
inline index_t product_tile(index_t kc, index_t tile_m, int nt) {
    if (nt <= 1 || kc > 4 * nt * tile_m) return tile_m;
    index_t best = tile_m, best_span = std::numeric_limits<index_t>::max();
    std::vector<index_t> load(static_cast<size_t>(nt));
    for (index_t tm = kTileRows; tm <= tile_m; tm += kTileRows) {
        std::fill(load.begin(), load.end(), 0);
        for (index_t j0 = 0, k = 0; j0 < kc; j0 += tm, ++k) load[k % nt] += std::min(tm, kc - j0) + kTileRows;
        const index_t span = *std::max_element(load.begin(), load.end());
        if (span <= best_span) {  // ties: the larger tile
            best = tm;
            best_span = span;
        }
    }
    return best;
}

// Interruption state of the calling thread (InterruptScope) and the bindings' hook.
using Clock = std::chrono::steady_clock;
constexpr auto kPollEvery = std::chrono::milliseconds(20);
bool (*g_interrupt_hook)() = nullptr;
thread_local std::atomic<bool>* tl_stop = nullptr;
thread_local bool tl_may_poll = false;
thread_local Clock::time_point tl_last_poll;

// Polls between the chunks of a call (outside its parallel regions); true once interrupted.
bool stop_requested() {
    poll_interrupt(tl_stop);
    return tl_stop && tl_stop->load();
}

template <class T> struct ScratchBuffers {
    Scratch<T> s;
    ScratchBuffers(int n_threads, index_t t_stride, index_t d_stride, index_t shared = 0) {
        s.stop = tl_stop;
        s.t_buf = sized(pooled<T>(3), n_threads * t_stride + shared);
        s.shared = s.t_buf + n_threads * t_stride;
        s.d_buf = sized(pooled<double>(5), std::max<index_t>(1, n_threads * d_stride));
        s.t_stride = t_stride;
        s.d_stride = d_stride;
    }
};

}  // namespace

void poll_interrupt(std::atomic<bool>* stop) {
    // only the thread that opened the scope polls (in a parallel region: thread 0, the caller)
    if (!stop || stop != tl_stop || !tl_may_poll || !g_interrupt_hook) return;
    const Clock::time_point now = Clock::now();
    if (now - tl_last_poll < kPollEvery) return;
    tl_last_poll = now;
    if (g_interrupt_hook()) stop->store(true);
}

void set_interrupt_hook(bool (*hook)()) { g_interrupt_hook = hook; }

InterruptScope::InterruptScope(bool may_poll) : outer_stop_(tl_stop), outer_may_poll_(tl_may_poll) {
    tl_stop = &stop_;
    tl_may_poll = may_poll;
    tl_last_poll = Clock::now();  // calls shorter than one period never take the GIL
}

InterruptScope::~InterruptScope() {
    tl_stop = outer_stop_;
    tl_may_poll = outer_may_poll_;
}

std::vector<std::string> compiled_isas() {
    std::vector<std::string> out;
    for (const auto& e : entries()) out.emplace_back(e.name);
    return out;
}

std::string active_isa() { return active().name; }

void select_isa(const std::string& name) {
    if (name == "auto") {
        g_active.store(best_supported());
        return;
    }
    for (const auto& e : entries()) {
        if (name != e.name) continue;
        if (!e.supported()) throw std::invalid_argument("isa '" + name + "' is not supported by this CPU");
        g_active.store(&e);
        return;
    }
    throw std::invalid_argument("isa '" + name + "' is not compiled into this build");
}

bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

template <class T>
void lse_accumulate(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                    LseState state, int n_threads, Blocking bl) {
    if (m == 0) return;
    const KernelTable<T>& K = table<T>();
    const double* mu = data_centre(data, n, d);
    // Chunks from the requested tile, before balancing: the chunk boundaries (and so the order of the
    // sums) must not depend on the thread count.
    const index_t chunk = chunk_points<T>(d, bl);
    bl.tile_m = spread_tile(m, bl.tile_m, n_threads);
    const int nt = resolve_threads(n_threads, (m + bl.tile_m - 1) / bl.tile_m);
    bl.tile_m = balanced_tile(m, bl.tile_m, nt);
    for (index_t start = 0; start < n; start += chunk) {
        if (stop_requested()) return;
        const index_t rows = std::min(chunk, n - start);
        PackedBuffers<T> packed(K, data + start * d, rows, d, log_w ? log_w + start : nullptr, t, bl.block_n,
                                n_threads, mu);
        ScratchBuffers<T> scratch(nt, K.lse_scratch_t(packed.pk, bl), K.lse_scratch_d(d, bl));
        K.lse_accumulate(x, m, packed.pk, 1.0 / t, state, scratch.s, bl, nt);
    }
}

// Packs the data and sizes the double-KDE scratch for m queries, then runs
// kernel(table, packed data, scratch, threads) -- the setup the three double-KDE entry points share.
template <class T, class Kernel>
void with_dkde_setup(index_t m, const T* data, index_t n, index_t d, const double* log_w, double t, index_t kc,
                     int n_threads, Blocking bl, Kernel&& kernel) {
    const KernelTable<T>& K = table<T>();
    PackedBuffers<T> packed(K, data, n, d, log_w, t, bl.block_n, n_threads);
    const int nt = resolve_threads(n_threads, (m + bl.tile_m - 1) / bl.tile_m);
    bl.tile_m = balanced_tile(m, bl.tile_m, nt);
    ScratchBuffers<T> scratch(nt, K.dkde_scratch_t(packed.pk, bl), K.dkde_scratch_d(bl), kc);
    kernel(K, packed.pk, scratch.s, nt, bl);
}

// The same for the small-N kernel (double_kde_small_n), whose tiles hold `tile_m` queries.
template <class T, class Kernel>
void with_small_n_setup(index_t tile_m, const T* data, index_t n, index_t d, const double* log_w, double t,
                        int n_threads, Blocking bl, Kernel&& kernel) {
    const KernelTable<T>& K = table<T>();
    PackedBuffers<T> packed(K, data, n, d, log_w, t, bl.block_n, n_threads);
    const int nt = n_threads > 0 ? n_threads : max_threads();
    bl.tile_m = tile_m;
    ScratchBuffers<T> scratch(nt, K.dkde_small_scratch_t(packed.pk, bl), K.dkde_small_scratch_d(packed.pk, bl));
    kernel(K, packed.pk, scratch.s, nt, bl);
}

template <class T>
void double_kde_accumulate(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w,
                           double t, const T* C, index_t kc, double* wbar, double* zsum, int n_threads,
                           Blocking bl) {
    if (m == 0 || kc == 0) return;
    if (n <= kDkdeSmallN) {  // vectorised over the draws; tasks split the draws too, so m may be small
        with_small_n_setup<T>(std::min<index_t>(bl.tile_m, m), data, n, d, log_w, t, n_threads, bl,
                              [&](const KernelTable<T>& K, const PackedData<T>& pk, const Scratch<T>& s, int nt,
                                  const Blocking& tuned) {
                                  K.double_kde_small_n(x, m, pk, 1.0 / t, C, kc, n, wbar, zsum, s, tuned, nt);
                              });
        return;
    }
    with_dkde_setup<T>(m, data, n, d, log_w, t, kc, n_threads, bl, [&](const KernelTable<T>& K, const PackedData<T>& pk,
                                                                   const Scratch<T>& s, int nt, const Blocking& tuned) {
        K.double_kde_accumulate(x, m, pk, 1.0 / t, C, kc, n, wbar, zsum, s, tuned, nt);
    });
}

template <class T>
void double_kde_per_query(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                          const T* C, index_t kc, double* wbar, double* zsum, int n_threads, Blocking bl) {
    if (m == 0 || kc == 0) return;
    // Each query has its own draws (C is m x kc x n): one packing of the data for all of them, then the
    // kernel of double_kde_accumulate one query at a time (the small-N kernel splits a query's draws
    // over the threads).
    const auto each_query = [&](auto kernel) {
        return [&, kernel](const KernelTable<T>&, const PackedData<T>& pk, const Scratch<T>& s, int nt,
                           const Blocking& tuned) {
            for (index_t q = 0; q < m && !(s.stop != nullptr && s.stop->load()); ++q)
                kernel(x + q * d, 1, pk, 1.0 / t, C + q * kc * n, kc, n, wbar + q * n, zsum + q, s, tuned, nt);
        };
    };
    const KernelTable<T>& K = table<T>();
    if (n <= kDkdeSmallN)
        with_small_n_setup<T>(1, data, n, d, log_w, t, n_threads, bl, each_query(K.double_kde_small_n));
    else
        with_dkde_setup<T>(1, data, n, d, log_w, t, kc, n_threads, bl, each_query(K.double_kde_accumulate));
}

template <class T>
void dkde_normalisers(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                      const T* C, index_t kc, double* out_max, double* out_sum, int n_threads, Blocking bl) {
    if (m == 0 || kc == 0) return;
    with_dkde_setup<T>(m, data, n, d, log_w, t, kc, n_threads, bl, [&](const KernelTable<T>& K, const PackedData<T>& pk,
                                                                   const Scratch<T>& s, int nt, const Blocking& tuned) {
        K.dkde_normalisers(x, m, pk, 1.0 / t, C, kc, n, out_max, out_sum, s, tuned, nt);
    });
}

template <class T>
void dkde_weighted_sum(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                       const T* C, index_t kc, const double* Z, double* acc, int n_threads, Blocking bl) {
    if (m == 0 || kc == 0) return;
    with_dkde_setup<T>(m, data, n, d, log_w, t, kc, n_threads, bl, [&](const KernelTable<T>& K, const PackedData<T>& pk,
                                                                   const Scratch<T>& s, int nt, const Blocking& tuned) {
        K.dkde_weighted_sum(x, m, pk, 1.0 / t, C, kc, n, Z, acc, s, tuned, nt);
    });
}

#define LEDKDE_INSTANTIATE_ROUNDS(T)                                                                          \
    template void dkde_normalisers<T>(const T*, index_t, const T*, index_t, index_t, const double*, double,   \
                                      const T*, index_t, double*, double*, int, Blocking);                   \
    template void dkde_weighted_sum<T>(const T*, index_t, const T*, index_t, index_t, const double*, double,  \
                                       const T*, index_t, const double*, double*, int, Blocking);
LEDKDE_INSTANTIATE_ROUNDS(float)
LEDKDE_INSTANTIATE_ROUNDS(double)

template <class T>
void matmul_nt(const T* z, index_t kc, const T* basis, index_t n, index_t r, double scale, T* C, int n_threads,
               Blocking bl) {
    if (kc == 0) return;
    const KernelTable<T>& K = table<T>();
    if (r <= kNarrowInner) {
        // B^T column-major, zero-padded, in the pooled buffer of the packed path (not used here): a
        // fresh allocation would page-fault through it on every call (2e6 x 5: 48 -> 66 ms at 4 rows)
        const index_t np = (n + kNarrowPad - 1) / kNarrowPad * kNarrowPad;
        T* bt = sized(pooled<T>(0), r * np);
        const int nt_copy = resolve_threads(n_threads, np * r / kNarrowOutputsPerThread);
#pragma omp parallel for schedule(static) num_threads(nt_copy)
        for (index_t i = 0; i < np; ++i)
            for (index_t k = 0; k < r; ++k) bt[k * np + i] = i < n ? basis[i * r + k] : T(0);
        const int nt = resolve_threads(n_threads, kc * np / kNarrowOutputsPerThread);
        K.matmul_nt_narrow(z, kc, bt, np, r, n, static_cast<T>(scale), C, n, nt);
        return;
    }
    double* zero_centre = sized(pooled<double>(4), r);
    std::fill(zero_centre, zero_centre + r, 0.0);
    // t = inf (1/t = 0) makes every bias 0: the packed basis then gives the plain product
    PackedBuffers<T> packed(K, basis, n, r, nullptr, std::numeric_limits<double>::infinity(), bl.block_n, n_threads,
                            zero_centre);
    bl.tile_m = product_tile(kc, bl.tile_m, n_threads > 0 ? n_threads : max_threads());
    const int nt = resolve_threads(n_threads, (kc + bl.tile_m - 1) / bl.tile_m);
    ScratchBuffers<T> scratch(nt, K.matmul_nt_scratch_t(packed.pk, bl), 0);
    K.matmul_nt(z, kc, packed.pk, static_cast<T>(scale), C, n, scratch.s, bl, nt);
}

template void matmul_nt<float>(const float*, index_t, const float*, index_t, index_t, double, float*, int, Blocking);
template void matmul_nt<double>(const double*, index_t, const double*, index_t, index_t, double, double*, int,
                                Blocking);

template <class T>
void knn_select(const T* x, index_t m, const T* data, index_t n, index_t d, index_t k, index_t* out_idx, int n_threads,
                Blocking bl) {
    if (m == 0) return;
    const KernelTable<T>& K = table<T>();
    // t = 1/2, no weights: the shifted logits are |x - mu|^2 - |x - x_i|^2 (knn.hpp)
    PackedBuffers<T> packed(K, data, n, d, nullptr, 0.5, bl.block_n, n_threads);
    const int nt = resolve_threads(n_threads, (m + bl.tile_m - 1) / bl.tile_m);
    ScratchBuffers<T> scratch(nt, K.knn_scratch_t(packed.pk, bl), 0);
    std::vector<T> top_vals(static_cast<size_t>(nt * bl.tile_m * k));
    K.knn_select(x, m, packed.pk, k, out_idx, top_vals.data(), scratch.s, bl, nt);
}

template void knn_select<float>(const float*, index_t, const float*, index_t, index_t, index_t, index_t*, int,
                                Blocking);
template void knn_select<double>(const double*, index_t, const double*, index_t, index_t, index_t, index_t*, int,
                                 Blocking);
template void lse_accumulate<float>(const float*, index_t, const float*, index_t, index_t, const double*, double,
                                    LseState, int, Blocking);
template void lse_accumulate<double>(const double*, index_t, const double*, index_t, index_t, const double*,
                                     double, LseState, int, Blocking);
template void double_kde_accumulate<float>(const float*, index_t, const float*, index_t, index_t, const double*,
                                           double, const float*, index_t, double*, double*, int, Blocking);
template void double_kde_accumulate<double>(const double*, index_t, const double*, index_t, index_t,
                                            const double*, double, const double*, index_t, double*, double*, int,
                                            Blocking);
template void double_kde_per_query<float>(const float*, index_t, const float*, index_t, index_t, const double*,
                                          double, const float*, index_t, double*, double*, int, Blocking);
template void double_kde_per_query<double>(const double*, index_t, const double*, index_t, index_t, const double*,
                                           double, const double*, index_t, double*, double*, int, Blocking);

}  // namespace ledkde
