// Argument checks shared by the bindings. The Python layer validates user input first; these guard
// the private module against misuse and raise ValueError (std::invalid_argument) or TypeError.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

#include "ledkde/types.hpp"

namespace ledkde_bind {

namespace py = pybind11;
using ledkde::index_t;

template <class T> using carray = py::array_t<T, py::array::c_style>;

inline void require(bool ok, const std::string& message) {
    if (!ok) throw std::invalid_argument(message);
}

template <class A> void require_ndim(const A& a, int ndim, const char* name) {
    require(a.ndim() == ndim, std::string(name) + " must have " + std::to_string(ndim) + " dimension(s)");
}

template <class A> void require_writeable(const A& a, const char* name) {
    require(a.writeable(), std::string(name) + " must be writeable");
}

// Queries x (m x d) against data (n x d, at least one point); returns {m, d, n}.
template <class T> std::array<index_t, 3> check_points(const carray<T>& x, const carray<T>& data) {
    require_ndim(x, 2, "x");
    require_ndim(data, 2, "data");
    require(data.shape(1) == x.shape(1), "x and data must have the same number of columns");
    require(data.shape(0) >= 1, "data must contain at least one point");
    return {x.shape(0), x.shape(1), data.shape(0)};
}

// C (kc x n) of the double-KDE for the points of check_points; returns kc.
template <class T> index_t check_c_matrix(const carray<T>& c_matrix, index_t n) {
    require_ndim(c_matrix, 2, "c_matrix");
    require(c_matrix.shape(1) == n, "c_matrix must have one column per data point");
    return c_matrix.shape(0);
}

inline void require_t(double t) { require(std::isfinite(t) && t > 0.0, "t must be finite and > 0"); }

inline ledkde::Blocking make_blocking(index_t tile_m, index_t block_n) {
    require(tile_m >= 1 && tile_m <= ledkde::kMaxTileM,
            "tile_m must be >= 1 and <= " + std::to_string(ledkde::kMaxTileM));
    require(block_n >= 32 && block_n % 32 == 0, "block_n must be a positive multiple of 32");
    ledkde::Blocking bl;
    bl.tile_m = tile_m;
    bl.block_n = block_n;
    return bl;
}

inline int check_threads(int n_threads) {
    require(n_threads >= 0, "n_threads must be >= 0 (0 means all available threads)");
    return n_threads;
}

// Optional per-point log weights: None or a float64 vector of length n.
inline const double* log_weights_ptr(const py::object& log_w, index_t n) {
    if (log_w.is_none()) return nullptr;
    auto arr = log_w.cast<carray<double>>();
    require(arr.ndim() == 1 && arr.shape(0) == n, "log_weights must be a float64 vector with one entry per point");
    return arr.data();
}

}  // namespace ledkde_bind
