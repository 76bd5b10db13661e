// Portable SIMD primitives on GCC/Clang vector extensions.
//
// The vector width comes from the translation unit's target flags (SSE2, AVX2 or AVX-512), so one
// source compiles to several instruction sets; cpp/src/isa_*.cpp pick the width and a namespace.
// Everything here is `inline` inside that per-ISA namespace, so copies built with different flags
// never meet at link time.
#pragma once

#include <cstdint>
#include <cstring>

#ifndef LEDKDE_ISA
#define LEDKDE_ISA generic
#endif

#if defined(__AVX512F__)
#define LEDKDE_VEC_BYTES 64
#elif defined(__AVX__)
#define LEDKDE_VEC_BYTES 32
#else
#define LEDKDE_VEC_BYTES 16
#endif

namespace ledkde {
namespace LEDKDE_ISA {

using index_t = std::int64_t;

template <class T> struct simd_traits;

template <> struct simd_traits<float> {
    typedef float vec __attribute__((vector_size(LEDKDE_VEC_BYTES)));
    typedef std::int32_t ivec __attribute__((vector_size(LEDKDE_VEC_BYTES)));
    using bits_t = std::int32_t;
    static constexpr int lanes = LEDKDE_VEC_BYTES / 4;
};

template <> struct simd_traits<double> {
    typedef double vec __attribute__((vector_size(LEDKDE_VEC_BYTES)));
    typedef std::int64_t ivec __attribute__((vector_size(LEDKDE_VEC_BYTES)));
    using bits_t = std::int64_t;
    static constexpr int lanes = LEDKDE_VEC_BYTES / 8;
};

template <class T> using vec_t = typename simd_traits<T>::vec;
template <class T> using ivec_t = typename simd_traits<T>::ivec;
template <class T> constexpr int lanes_v = simd_traits<T>::lanes;

template <class T> inline vec_t<T> load(const T* p) {
    vec_t<T> v;
    std::memcpy(&v, p, sizeof(v));  // unaligned load; compiles to one vmovu
    return v;
}

template <class T> inline void store(T* p, vec_t<T> v) { std::memcpy(p, &v, sizeof(v)); }

template <class T> inline vec_t<T> splat(T s) { return vec_t<T>{} + s; }

template <class T> inline T hsum(vec_t<T> v) {
    T s = 0;
    for (int l = 0; l < lanes_v<T>; ++l) s += v[l];
    return s;
}

template <class T> inline T hmax(vec_t<T> v) {
    T s = v[0];
    for (int l = 1; l < lanes_v<T>; ++l) s = v[l] > s ? v[l] : s;
    return s;
}

template <class T> inline vec_t<T> vmax(vec_t<T> a, vec_t<T> b) { return a > b ? a : b; }

template <class T> inline T smax(T a, T b) { return a > b ? a : b; }
template <class T> inline T smin(T a, T b) { return a < b ? a : b; }

// exp(x) for x <= 0, vectorised: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Taylor polynomial
// (degree 7 for float: ~1 ulp; degree 13 for double: < 2 ulp), then scaling by 2^n built in the
// exponent bits. Arguments below the normal range (including -inf) give exactly 0, which is what a
// log-sum-exp needs: those terms are below the rounding of the leading term.
template <class T> struct exp_consts;
template <> struct exp_consts<float> {
    static constexpr float lo = -87.0f, hi = 88.0f;
    static constexpr float log2e = 1.44269504088896341f;
    static constexpr float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187045e-06f;
    static constexpr float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    static constexpr int mant_bits = 23, bias = 127;
};
template <> struct exp_consts<double> {
    static constexpr double lo = -708.0, hi = 709.0;
    static constexpr double log2e = 1.4426950408889634074;
    static constexpr double ln2_hi = 0.693147180369123816490, ln2_lo = 1.90821492927058770002e-10;
    static constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52
    static constexpr int mant_bits = 52, bias = 1023;
};

// sum_{j=K..N} r^(j-K) / j! by Horner's rule, coefficients fixed at compile time; exp_taylor<T, N>
// is the Taylor polynomial 1 + r + ... + r^N/N! (N FMAs).
constexpr double inverse_factorial(int k) { return k <= 1 ? 1.0 : inverse_factorial(k - 1) / k; }

template <class T, int K, int N> inline vec_t<T> taylor_tail(vec_t<T> r) {
    constexpr T c = static_cast<T>(inverse_factorial(K));
    if constexpr (K == N)
        return splat<T>(c);
    else
        return taylor_tail<T, K + 1, N>(r) * r + c;
}

template <class T, int N> inline vec_t<T> exp_taylor(vec_t<T> r) { return taylor_tail<T, 0, N>(r); }

#if LEDKDE_VEC_BYTES == 64
// With AVX-512, exp goes through a 16-entry table of 2^(j/16) held in registers (one vpermps, or
// vpermt2pd over two registers): x = (16 n + j) ln2/16 + r with |r| <= ln2/32, and
// exp(x) = 2^n 2^(j/16) p(r). The polynomial is then short (Taylor degree 3 for float: error
// r^4/4! < 1e-8; degree 7 for double: < 2e-18), which moves most of the work off the FMA pipes that
// the surrounding products need. The table entries are the correctly rounded values.
template <class T> struct exp_table;
template <> struct exp_table<float> {
    static constexpr float v[16] = {1.0f, 1.0442737f, 1.0905077f, 1.1387886f, 1.1892071f, 1.2418578f, 1.2968396f, 1.3542556f, 1.4142135f, 1.4768262f, 1.5422108f, 1.6104903f, 1.6817929f, 1.7562522f, 1.8340081f, 1.9152066f};
    static inline vec_t<float> poly(vec_t<float> r) { return exp_taylor<float, 3>(r); }
    static inline vec_t<float> lookup(ivec_t<float> j) { return __builtin_shuffle(load<float>(v), j); }
};
template <> struct exp_table<double> {
    static constexpr double v[16] = {1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916, 1.189207115002721, 1.241857812073484, 1.2968395546510096, 1.3542555469368927, 1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543, 1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474};
    static inline vec_t<double> poly(vec_t<double> r) { return exp_taylor<double, 7>(r); }
    static inline vec_t<double> lookup(ivec_t<double> j) {
        return __builtin_shuffle(load<double>(v), load<double>(v + 8), j);
    }
};

template <class T> inline vec_t<T> vexp(vec_t<T> x) {
    using C = exp_consts<T>;
    using V = vec_t<T>;
    using I = ivec_t<T>;
    using B = typename simd_traits<T>::bits_t;
    const V lo = splat<T>(C::lo);
    const auto underflow = x < lo;
    x = x < lo ? lo : x;
    V n = x * (T(16) * C::log2e) + C::magic;  // low mantissa bits: round(16 x log2e) = 16 e + j
    I k;
    std::memcpy(&k, &n, sizeof(k));
    B magic_bits;
    const T magic = C::magic;
    std::memcpy(&magic_bits, &magic, sizeof(magic_bits));
    k = k - magic_bits;  // the integer itself, two's complement
    n = n - C::magic;
    V r = x - n * (C::ln2_hi / 16);
    r = r - n * (C::ln2_lo / 16);
    // 2^(j/16) from the table, then 2^e added straight into its exponent field
    const V t = exp_table<T>::lookup(k & 15);
    I tb;
    std::memcpy(&tb, &t, sizeof(tb));
    tb = tb + ((k >> 4) << C::mant_bits);
    V scale;
    std::memcpy(&scale, &tb, sizeof(scale));
    const V y = exp_table<T>::poly(r) * scale;
    return underflow ? V{} : y;
}
#else
// Arguments must be <= hi (about 88 for float, 709 for double): every caller passes a logit minus a
// maximum, <= 0 up to rounding, so no upper clamp is spent on the hot path.
template <class T> inline vec_t<T> vexp(vec_t<T> x) {
    using C = exp_consts<T>;
    using V = vec_t<T>;
    using I = ivec_t<T>;
    const V lo = splat<T>(C::lo);
    const auto underflow = x < lo;
    x = x < lo ? lo : x;
    V n = x * C::log2e + C::magic;  // low mantissa bits of n now hold round(x * log2e)
    I bits;
    std::memcpy(&bits, &n, sizeof(bits));
    n = n - C::magic;
    V r = x - n * C::ln2_hi;
    r = r - n * C::ln2_lo;
    // Shifting the magic-number sum left by the mantissa width keeps only round(x log2e) mod 2^k,
    // i.e. the two's complement exponent, already in place; adding the bias gives 2^n.
    using B = typename simd_traits<T>::bits_t;
    I e = (bits << C::mant_bits) + (I{} + (static_cast<B>(C::bias) << C::mant_bits));
    V scale;
    std::memcpy(&scale, &e, sizeof(scale));
    V y = exp_taylor<T, sizeof(T) == 4 ? 7 : 13>(r) * scale;
    return underflow ? V{} : y;
}
#endif

}  // namespace LEDKDE_ISA
}  // namespace ledkde
