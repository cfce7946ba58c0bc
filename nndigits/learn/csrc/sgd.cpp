// The book's mini-batch SGD step (eq. 20-21), many mini-batches per call, in plain C++ loops.
//
// Why: at m = 10 a step is ~0.5 M multiply-adds in tiny matrices, and an eager torch step spends
// most of its time dispatching its ~15 operations.  Here a whole chunk of mini-batches runs
// without returning to Python, and each step is the reference step -- backprop_steps in
// nndigits/learn/engines.py -- line for line, in the same order of operations per step:
//
//   here (steps() below)                                  engines.backprop_steps
//   forward      a^{l+1} = sigma(a^l (w^l)^T + b^l)       forward_activations(x, weights, biases)   (eq. 3-4)
//   output error e = a^L - y                              torch.sub(a, y, out=error)
//                delta^L = e * (1 - a^L) * a^L            delta = sigmoid_backward(error, a)
//   for l = L-1 .. 0:
//     delta^{l-1} = (delta^l w^l) * (1 - a^l) * a^l       previous = sigmoid_backward(delta @ w, activations[l])
//                   taken *before* w^l moves
//     w^l += (-eta/m) * (delta^l)^T a^{l-1}               w.addmm_(delta.t(), activations[l], alpha=step)  (eq. 20)
//     b^l += (-eta/m) * (delta^l)^T 1                     biases[l].addmv_(delta.t(), ones[m], alpha=step) (eq. 21)
//
// Only the order of the additions inside each matrix product differs from torch's BLAS, which is
// rounding: in float64 the engines agree to ~1e-14 after hundreds of steps.  Tensors arrive as raw
// pointers (the Python side, nndigits/learn/native.py, checks dtype, device, layout and shapes), so
// this file needs no torch headers: only pybind11's, which keeps the first-use build short.  The inner loops use GCC vector extensions: 32-byte
// vectors of floats or doubles, lowered to AVX2/FMA with -march=native, to SSE or scalar code
// elsewhere.  No -ffast-math: NaN and infinity must survive so that a diverging run is reported.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace {

template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(32)));
  static constexpr int N = 32 / sizeof(T);
};

template <typename T>
inline typename Vec<T>::type load(const T* p) {
  typename Vec<T>::type v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
inline void store(T* p, typename Vec<T>::type v) {
  std::memcpy(p, &v, sizeof v);
}

template <typename T>
inline T hsum(typename Vec<T>::type v) {
  T s = 0;
  for (int i = 0; i < Vec<T>::N; ++i) s += v[i];
  return s;
}

template <typename T>
inline T sigmoid(T z) {
  return T(1) / (T(1) + std::exp(-z));
}

// out[j, i] = sigma(b[i] + sum_k a[j, k] w[i, k]) for the JB examples from j0 and the IB outputs from i0:
// JB * IB independent sums in registers, each load of a or w used IB or JB times.
template <typename T, int JB, int IB>
inline void forward_block(const T* a, const T* w, const T* b, T* out, int64_t n_in, int64_t n_out, int64_t j0,
                          int64_t i0) {
  using V = typename Vec<T>::type;
  constexpr int N = Vec<T>::N;
  const int64_t k_vec = n_in / N * N;
  V s[JB][IB] = {};
  for (int64_t k = 0; k < k_vec; k += N) {
    V x[JB];
    for (int q = 0; q < JB; ++q) x[q] = load(a + (j0 + q) * n_in + k);
    for (int r = 0; r < IB; ++r) {
      V wr = load(w + (i0 + r) * n_in + k);
      for (int q = 0; q < JB; ++q) s[q][r] += x[q] * wr;
    }
  }
  for (int q = 0; q < JB; ++q) {
    const T* aj = a + (j0 + q) * n_in;
    for (int r = 0; r < IB; ++r) {
      const T* wi = w + (i0 + r) * n_in;
      T t = hsum<T>(s[q][r]);
      for (int64_t k = k_vec; k < n_in; ++k) t += aj[k] * wi[k];
      out[(j0 + q) * n_out + i0 + r] = sigmoid(b[i0 + r] + t);
    }
  }
}

// All outputs for the JB examples from j0, IB outputs at a time.
template <typename T, int JB, int IB>
inline void forward_rows(const T* a, const T* w, const T* b, T* out, int64_t n_in, int64_t n_out, int64_t j0) {
  int64_t i = 0;
  for (; i + IB <= n_out; i += IB) forward_block<T, JB, IB>(a, w, b, out, n_in, n_out, j0, i);
  for (; i < n_out; ++i) forward_block<T, JB, 1>(a, w, b, out, n_in, n_out, j0, i);
}

// Five examples by two outputs per block where the mini-batch allows (ten sums in registers, each weight
// vector loaded once per five examples: the weights stream from L2 twice per step at m = 10, not five
// times), then pairs, then single examples.
template <typename T>
void forward_layer(const T* a, const T* w, const T* b, T* out, int64_t m, int64_t n_in, int64_t n_out) {
  int64_t j = 0;
  for (; j + 5 <= m; j += 5) forward_rows<T, 5, 2>(a, w, b, out, n_in, n_out, j);
  for (; j + 2 <= m; j += 2) forward_rows<T, 2, 4>(a, w, b, out, n_in, n_out, j);
  for (; j < m; ++j) forward_rows<T, 1, 4>(a, w, b, out, n_in, n_out, j);
}

// delta_prev[j, k] = (sum_i delta[j, i] w[i, k]) * (1 - a[j, k]) * a[j, k]: the error one layer back,
// written like sigmoid_backward(delta @ w, a).
template <typename T>
void backward_delta(const T* delta, const T* w, const T* a, T* delta_prev, int64_t m, int64_t n_in, int64_t n_out) {
  using V = typename Vec<T>::type;
  constexpr int N = Vec<T>::N;
  const int64_t k_vec = n_in / N * N;
  const V one = V{} + T(1);
  for (int64_t j = 0; j < m; ++j) {
    const T* dj = delta + j * n_out;
    const T* aj = a + j * n_in;
    T* pj = delta_prev + j * n_in;
    for (int64_t k = 0; k < k_vec; k += N) {
      V s = {};
      for (int64_t i = 0; i < n_out; ++i) s += dj[i] * load(w + i * n_in + k);
      V ak = load(aj + k);
      store(pj + k, s * (one - ak) * ak);
    }
    for (int64_t k = k_vec; k < n_in; ++k) {
      T s = 0;
      for (int64_t i = 0; i < n_out; ++i) s += dj[i] * w[i * n_in + k];
      pj[k] = s * (T(1) - aj[k]) * aj[k];
    }
  }
}

// w[i, k] += step * sum_j delta[j, i] a[j, k] for the IB rows from i0 (eq. 20): IB independent sums over
// the mini-batch in registers, each load of a[j, k..k+N) used IB times.
template <typename T, int IB>
inline void update_rows(const T* delta, const T* a, T* w, T step, int64_t m, int64_t n_in, int64_t n_out,
                        int64_t i0) {
  using V = typename Vec<T>::type;
  constexpr int N = Vec<T>::N;
  const int64_t k_vec = n_in / N * N;
  for (int64_t k = 0; k < k_vec; k += N) {
    V s[IB] = {};
    for (int64_t j = 0; j < m; ++j) {
      V x = load(a + j * n_in + k);
      const T* dj = delta + j * n_out + i0;
      for (int r = 0; r < IB; ++r) s[r] += dj[r] * x;
    }
    for (int r = 0; r < IB; ++r) {
      T* wr = w + (i0 + r) * n_in + k;
      store(wr, load(wr) + step * s[r]);
    }
  }
  for (int64_t k = k_vec; k < n_in; ++k) {
    for (int r = 0; r < IB; ++r) {
      T s = 0;
      for (int64_t j = 0; j < m; ++j) s += delta[j * n_out + i0 + r] * a[j * n_in + k];
      w[(i0 + r) * n_in + k] += step * s;
    }
  }
}

// w += step * delta^T a and b += step * delta^T 1   (eq. 20-21): backprop_steps' w.addmm_ and biases[l].addmv_.
template <typename T>
void update_layer(const T* delta, const T* a, T* w, T* b, T step, int64_t m, int64_t n_in, int64_t n_out) {
  int64_t i = 0;
  for (; i + 8 <= n_out; i += 8) update_rows<T, 8>(delta, a, w, step, m, n_in, n_out, i);
  for (; i + 4 <= n_out; i += 4) update_rows<T, 4>(delta, a, w, step, m, n_in, n_out, i);
  for (; i < n_out; ++i) update_rows<T, 1>(delta, a, w, step, m, n_in, n_out, i);
  for (int64_t i2 = 0; i2 < n_out; ++i2) {
    T s = 0;
    for (int64_t j = 0; j < m; ++j) s += delta[j * n_out + i2];
    b[i2] += step * s;
  }
}

// Rows start .. start + rows of the chunk, as the steps read them: row r is src[index[start + r]] (or
// src[start + r] without an index), in T.  Copied into a small buffer that stays in cache for the step,
// unless they are already contiguous rows of T.  This is the per-mini-batch gather x[index] -- done here,
// m rows at a time, so the chunk is never copied out of the training set as a whole.
template <typename T, typename S>
const T* rows_of(const S* src, const int64_t* index, int64_t start, int64_t rows, int64_t width, std::vector<T>& buf) {
  if (!index && std::is_same<T, S>::value) return reinterpret_cast<const T*>(src + start * width);
  for (int64_t r = 0; r < rows; ++r) {
    const S* row = src + (index ? index[start + r] : start + r) * width;
    T* out = buf.data() + r * width;
    if (std::is_same<T, S>::value)
      std::memcpy(out, row, width * sizeof(T));
    else
      for (int64_t k = 0; k < width; ++k) out[k] = static_cast<T>(row[k]);
  }
  return buf.data();
}

// Ask for the next mini-batch's rows while this one is computed (they are scattered over the training set).
template <typename S>
inline void prefetch_rows(const S* src, const int64_t* index, int64_t start, int64_t rows, int64_t width) {
  if (!index) return;
  for (int64_t r = 0; r < rows; ++r) {
    const char* row = reinterpret_cast<const char*>(src + index[start + r] * width);
    for (int64_t byte = 0; byte < width * int64_t(sizeof(S)); byte += 64) __builtin_prefetch(row + byte);
  }
}

// SGD steps over n rows in mini-batches of m (the last one may be shorter), in order: row r is x[index[r]]
// (x[r] without an index), its target y[index[r]]; errors[r] = a - y of row r, just before its update.
template <typename T, typename S>
void steps(const std::vector<int64_t>& sizes, const std::vector<uintptr_t>& weights,
           const std::vector<uintptr_t>& biases, const S* x, const S* y, const int64_t* index, T* errors, int64_t n,
           int64_t m, double eta) {
  const size_t layers = sizes.size() - 1;
  const int64_t n_in = sizes[0], n_out = sizes.back();
  std::vector<std::vector<T>> act(layers + 1), delta(layers + 1);
  for (size_t l = 1; l <= layers; ++l) {
    act[l].resize(m * sizes[l]);
    delta[l].resize(m * sizes[l]);
  }
  std::vector<T> x_buf(m * n_in), y_buf(m * n_out);
  for (int64_t start = 0; start < n; start += m) {
    const int64_t rows = std::min(m, n - start);
    const T* a0 = rows_of<T, S>(x, index, start, rows, n_in, x_buf);
    const T* yb = rows_of<T, S>(y, index, start, rows, n_out, y_buf);
    if (start + m < n) prefetch_rows(x, index, start + m, std::min(m, n - start - m), n_in);
    for (size_t l = 0; l < layers; ++l) {
      const T* in = l ? act[l].data() : a0;
      forward_layer(in, reinterpret_cast<const T*>(weights[l]), reinterpret_cast<const T*>(biases[l]),
                    act[l + 1].data(), rows, sizes[l], sizes[l + 1]);
    }
    const T* a = act[layers].data();
    T* eb = errors + start * n_out;
    T* d = delta[layers].data();
    for (int64_t q = 0; q < rows * n_out; ++q) {
      eb[q] = a[q] - yb[q];                    // dC_x/da = a - y, the quadratic cost: torch.sub(a, y, out=error)
      d[q] = eb[q] * (T(1) - a[q]) * a[q];     // delta^L = (a - y) * sigma'(z^L): sigmoid_backward(error, a)
    }
    const T step = static_cast<T>(-eta / static_cast<double>(rows));
    for (size_t l = layers; l-- > 0;) {
      T* w = reinterpret_cast<T*>(weights[l]);
      T* b = reinterpret_cast<T*>(biases[l]);
      const T* in = l ? act[l].data() : a0;
      if (l) backward_delta(delta[l + 1].data(), w, in, delta[l].data(), rows, sizes[l], sizes[l + 1]);
      update_layer(delta[l + 1].data(), in, w, b, step, rows, sizes[l], sizes[l + 1]);
    }
  }
}

void check_index(const int64_t* index, int64_t n, int64_t x_rows) {
  for (int64_t r = 0; r < n; ++r)
    if (index[r] < 0 || index[r] >= x_rows)
      throw std::out_of_range("sgd_steps: row index " + std::to_string(index[r]) + " is not a row of x (" +
                              std::to_string(x_rows) + " rows)");
}

void sgd_steps(const std::vector<int64_t>& sizes, const std::vector<uintptr_t>& weights,
               const std::vector<uintptr_t>& biases, uintptr_t x, uintptr_t y, int64_t x_rows, uintptr_t index,
               uintptr_t errors, int64_t n, int64_t m, double eta, bool is_double, bool data_is_double) {
  if (sizes.size() < 2 || weights.size() != sizes.size() - 1 || biases.size() != weights.size() || m < 1)
    throw std::invalid_argument("sgd_steps: inconsistent sizes");
  const int64_t* rows = reinterpret_cast<const int64_t*>(index);
  if (rows) check_index(rows, n, x_rows);
  else if (n > x_rows) throw std::out_of_range("sgd_steps: more rows than x has");
  pybind11::gil_scoped_release release;  // pure arithmetic on memory Python keeps alive during the call
  auto run = [&](auto t, auto s) {
    using T = decltype(t);
    using S = decltype(s);
    steps<T, S>(sizes, weights, biases, reinterpret_cast<const S*>(x), reinterpret_cast<const S*>(y), rows,
                reinterpret_cast<T*>(errors), n, m, eta);
  };
  if (is_double)
    data_is_double ? run(double(), double()) : run(double(), float());
  else
    data_is_double ? run(float(), double()) : run(float(), float());
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.doc() = "nndigits: the book's SGD steps (eq. 20-21) over a chunk of mini-batches";
  module.def("sgd_steps", &sgd_steps, "SGD steps over the rows of x in mini-batches of m, in place");
}
