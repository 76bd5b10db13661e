// The per-instruction-set kernel entry points, as a table of plain function pointers. Each
// cpp/src/isa_*.cpp fills one table from the header-only core compiled with its own flags; the
// dispatcher picks a table at run time from what the CPU supports.
#pragma once

#include "ledkde/types.hpp"

namespace ledkde {

template <class T> struct KernelTable {
    const char* isa;
    // Fills dp and has_rows of a PackedData whose n, d, nb are set.
    void (*plan)(PackedData<T>& pk);
    void (*pack)(const T* data, const double* log_w, double inv_t, PackedData<T>& pk, int n_threads);
    index_t (*lse_scratch_t)(const PackedData<T>& pk, const Blocking& bl);
    index_t (*lse_scratch_d)(index_t d, const Blocking& bl);
    void (*lse_accumulate)(const T* x, index_t m, const PackedData<T>& pk, double inv_t, LseState st,
                           const Scratch<T>& scratch, const Blocking& bl, int n_threads);
    index_t (*dkde_scratch_t)(const PackedData<T>& pk, const Blocking& bl);
    index_t (*dkde_scratch_d)(const Blocking& bl);
    void (*double_kde_accumulate)(const T* x, index_t m, const PackedData<T>& pk, double inv_t, const T* C,
                                  index_t kc, index_t ldc, double* wbar, double* zsum, const Scratch<T>& scratch,
                                  const Blocking& bl, int n_threads);
    index_t (*dkde_small_scratch_t)(const PackedData<T>& pk, const Blocking& bl);
    index_t (*dkde_small_scratch_d)(const PackedData<T>& pk, const Blocking& bl);
    void (*double_kde_small_n)(const T* x, index_t m, const PackedData<T>& pk, double inv_t, const T* C, index_t kc,
                               index_t ldc, double* wbar, double* zsum, const Scratch<T>& scratch,
                               const Blocking& bl, int n_threads);
    void (*dkde_normalisers)(const T* x, index_t m, const PackedData<T>& pk, double inv_t, const T* C, index_t kc,
                             index_t ldc, double* out_max, double* out_sum, const Scratch<T>& scratch,
                             const Blocking& bl, int n_threads);
    void (*dkde_weighted_sum)(const T* x, index_t m, const PackedData<T>& pk, double inv_t, const T* C, index_t kc,
                              index_t ldc, const double* Z, double* acc, const Scratch<T>& scratch,
                              const Blocking& bl, int n_threads);
    index_t (*matmul_nt_scratch_t)(const PackedData<T>& pk, const Blocking& bl);
    void (*matmul_nt)(const T* z, index_t kc, const PackedData<T>& pk, T scale, T* C, index_t ldc,
                        const Scratch<T>& scratch, const Blocking& bl, int n_threads);
    void (*matmul_nt_narrow)(const T* z, index_t kc, const T* bt, index_t np, index_t r, index_t n, T scale, T* C,
                             index_t ldc, int n_threads);
    index_t (*knn_scratch_t)(const PackedData<T>& pk, const Blocking& bl);
    void (*knn_select)(const T* x, index_t m, const PackedData<T>& pk, index_t k, index_t* out_idx, T* top_vals,
                       const Scratch<T>& scratch, const Blocking& bl, int n_threads);
};

#define LEDKDE_DECLARE_TABLES(ns)                        \
    namespace ns {                                       \
    const KernelTable<float>& table_f32();               \
    const KernelTable<double>& table_f64();              \
    }

LEDKDE_DECLARE_TABLES(generic)
LEDKDE_DECLARE_TABLES(avx2)
LEDKDE_DECLARE_TABLES(avx512)

}  // namespace ledkde
