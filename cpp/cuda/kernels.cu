// CUDA kernels for the empirical softmax state and the shared-sample double-KDE.
//
// One thread block per query: threads stride over the data, block reductions give the maximum and
// the normaliser, and the weighted sum is accumulated per coordinate in shared memory. Sums are kept
// in double. Logits use explicit differences |x - x_i|^2, so no centring is needed.
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_kernels.hpp"

namespace ledkde_cuda {
namespace {

constexpr int kThreads = 256;

void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess) throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(err));
}

template <class T> struct DeviceBuffer {
    T* ptr = nullptr;
    explicit DeviceBuffer(size_t count) {
        if (count) check(cudaMalloc(&ptr, count * sizeof(T)), "cudaMalloc");
    }
    ~DeviceBuffer() {
        if (ptr) cudaFree(ptr);
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    void upload(const T* host, size_t count) {
        if (count) check(cudaMemcpy(ptr, host, count * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy to device");
    }
    void download(T* host, size_t count) const {
        if (count) check(cudaMemcpy(host, ptr, count * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy to host");
    }
};

__device__ double block_reduce_max(double v, double* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] = fmax(shared[threadIdx.x], shared[threadIdx.x + s]);
        __syncthreads();
    }
    const double out = shared[0];
    __syncthreads();
    return out;
}

__device__ double block_reduce_sum(double v, double* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
        __syncthreads();
    }
    const double out = shared[0];
    __syncthreads();
    return out;
}

template <class T>
__device__ double logit(const T* x, const T* data, index_t i, index_t d, const double* log_w, double inv_2t) {
    double s = 0.0;
    for (index_t k = 0; k < d; ++k) {
        const double diff = static_cast<double>(x[k]) - static_cast<double>(data[i * d + k]);
        s += diff * diff;
    }
    return (log_w ? log_w[i] : 0.0) - s * inv_2t;
}

// Block q: state of query q. Dynamic shared memory: kThreads doubles for reductions, d for acc.
template <class T>
__global__ void lse_kernel(const T* x, const T* data, index_t n, index_t d, const double* log_w, double inv_2t,
                           double* out_max, double* out_sum, double* out_acc) {
    extern __shared__ double shared[];
    double* red = shared;
    double* acc = shared + blockDim.x;
    const index_t q = blockIdx.x;
    const T* xq = x + q * d;
    double local_max = -INFINITY;
    for (index_t i = threadIdx.x; i < n; i += blockDim.x) local_max = fmax(local_max, logit(xq, data, i, d, log_w, inv_2t));
    const double mx = block_reduce_max(local_max, red);
    if (out_acc)
        for (index_t k = threadIdx.x; k < d; k += blockDim.x) acc[k] = 0.0;
    __syncthreads();
    double local_sum = 0.0;
    if (mx > -INFINITY) {
        for (index_t i = threadIdx.x; i < n; i += blockDim.x) {
            const double w = exp(logit(xq, data, i, d, log_w, inv_2t) - mx);
            local_sum += w;
            if (out_acc && w > 0.0)
                for (index_t k = 0; k < d; ++k) atomicAdd(&acc[k], w * static_cast<double>(data[i * d + k]));
        }
    }
    const double total = block_reduce_sum(local_sum, red);
    if (threadIdx.x == 0) {
        out_max[q] = mx;
        out_sum[q] = total;
    }
    if (out_acc)
        for (index_t k = threadIdx.x; k < d; k += blockDim.x) out_acc[q * d + k] = acc[k];
}

// Block q: query q against every draw j; wbar row q (n doubles) accumulates the averaged weights.
// Dynamic shared memory: kThreads doubles. `a` (m x n) holds the logits of the queries.
template <class T>
__global__ void double_kde_kernel(const T* x, const T* data, index_t n, index_t d, const double* log_w,
                                  double inv_2t, const T* C, index_t kc, double* a, double* wbar, double* zsum) {
    extern __shared__ double red[];
    const index_t q = blockIdx.x;
    const T* xq = x + q * d;
    double* aq = a + q * n;
    for (index_t i = threadIdx.x; i < n; i += blockDim.x) aq[i] = logit(xq, data, i, d, log_w, inv_2t);
    __syncthreads();
    double z = 0.0;
    for (index_t j = 0; j < kc; ++j) {
        const T* c = C + j * n;
        double local_max = -INFINITY;
        for (index_t i = threadIdx.x; i < n; i += blockDim.x) local_max = fmax(local_max, aq[i] + static_cast<double>(c[i]));
        const double mx = block_reduce_max(local_max, red);
        if (!(mx > -INFINITY)) {
            z = -INFINITY;
            continue;
        }
        double local_sum = 0.0;
        for (index_t i = threadIdx.x; i < n; i += blockDim.x) local_sum += exp(aq[i] + static_cast<double>(c[i]) - mx);
        const double s = block_reduce_sum(local_sum, red);
        for (index_t i = threadIdx.x; i < n; i += blockDim.x)
            wbar[q * n + i] += exp(aq[i] + static_cast<double>(c[i]) - mx) / s;
        z += mx + log(s);
    }
    if (threadIdx.x == 0) zsum[q] += z;
}

}  // namespace

int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky error of a machine without a driver
        return 0;
    }
    return count;
}

std::string device_name(int device) {
    cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    return prop.name;
}

template <class T>
void lse_state(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
               double* out_max, double* out_sum, double* out_acc) {
    if (m == 0) return;
    const size_t shared = (kThreads + (out_acc ? d : 0)) * sizeof(double);
    if (shared > 48 * 1024) throw std::invalid_argument("the CUDA backend supports d <= 5888");
    DeviceBuffer<T> dx(m * d), dd(n * d);
    DeviceBuffer<double> dw(log_w ? n : 0), dmax(m), dsum(m), dacc(out_acc ? m * d : 0);
    dx.upload(x, m * d);
    dd.upload(data, n * d);
    if (log_w) dw.upload(log_w, n);
    lse_kernel<T><<<static_cast<unsigned>(m), kThreads, shared>>>(dx.ptr, dd.ptr, n, d, log_w ? dw.ptr : nullptr,
                                                                  0.5 / t, dmax.ptr, dsum.ptr, out_acc ? dacc.ptr : nullptr);
    check(cudaGetLastError(), "lse_kernel launch");
    check(cudaDeviceSynchronize(), "lse_kernel");
    dmax.download(out_max, m);
    dsum.download(out_sum, m);
    if (out_acc) dacc.download(out_acc, m * d);
}

template <class T>
void double_kde(const T* x, index_t m, const T* data, index_t n, index_t d, const double* log_w, double t,
                const T* C, index_t kc, double* wbar, double* zsum) {
    if (m == 0 || kc == 0) return;
    DeviceBuffer<T> dx(m * d), dd(n * d), dc(kc * n);
    DeviceBuffer<double> dw(log_w ? n : 0), da(m * n), dwbar(m * n), dz(m);
    dx.upload(x, m * d);
    dd.upload(data, n * d);
    dc.upload(C, kc * n);
    if (log_w) dw.upload(log_w, n);
    dwbar.upload(wbar, m * n);
    dz.upload(zsum, m);
    double_kde_kernel<T><<<static_cast<unsigned>(m), kThreads, kThreads * sizeof(double)>>>(
        dx.ptr, dd.ptr, n, d, log_w ? dw.ptr : nullptr, 0.5 / t, dc.ptr, kc, da.ptr, dwbar.ptr, dz.ptr);
    check(cudaGetLastError(), "double_kde_kernel launch");
    check(cudaDeviceSynchronize(), "double_kde_kernel");
    dwbar.download(wbar, m * n);
    dz.download(zsum, m);
}

template void lse_state<float>(const float*, index_t, const float*, index_t, index_t, const double*, double, double*,
                               double*, double*);
template void lse_state<double>(const double*, index_t, const double*, index_t, index_t, const double*, double,
                                double*, double*, double*);
template void double_kde<float>(const float*, index_t, const float*, index_t, index_t, const double*, double,
                                const float*, index_t, double*, double*);
template void double_kde<double>(const double*, index_t, const double*, index_t, index_t, const double*, double,
                                 const double*, index_t, double*, double*);

}  // namespace ledkde_cuda
