// Host entry points of the CUDA kernels (cpp/cuda/kernels.cu); no CUDA or Python headers here, so
// the pybind11 bindings compile with the host compiler. Errors throw std::runtime_error carrying the
// CUDA message.
#pragma once

#include <cstdint>
#include <string>

namespace ledkde_cuda {

using index_t = std::int64_t;

int device_count();
std::string device_name(int device);

// Streaming log-sum-exp state of m queries over n data points (true logit units, see
// cpp/include/ledkde/types.hpp): out_max, out_sum (m) and out_acc (m x d, may be null).
template <class T>
void lse_state(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
               double* out_max, double* out_sum, double* out_acc);

// Shared-sample double-KDE: wbar (m x n) += sum_j softmax_i(A_i + C_ji), zsum (m) += sum_j LSE_i(...).
template <class T>
void double_kde(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                const T* C, index_t kc, double* wbar, double* zsum);

}  // namespace ledkde_cuda
