// Runs the dequantising GEMVs of quant.cu on the CPU, one simulated thread at a time, for
// QuantKernelEmulationTest: CUDA built-ins are stubbed, warp_sum is replaced by summing the lanes'
// partial sums afterwards (emu_store: qg_store with the shuffle taken out), and the results are
// compared with the Java reference written by the test (the kernels store through QG_STORE, defined
// here as emu_store). Not part of the product.
// The dequantisation kernels run the same way (every simulated thread of a grid-stride loop) and
// must give the Java reference's floats bit for bit.
// Usage: qgemv_emu DIR   (DIR holds <TYPE>.w blocks, .x inputs, .y expected sums, .d expected
// dequantised values, and dims.txt)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
typedef unsigned short bf16_t;
struct Dim3 { unsigned x, y, z; };
static Dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __device__
#define __global__
#define __forceinline__ inline
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __syncthreads() do {} while (0)
#define __launch_bounds__(...)
#define PDL_ENTRY() do {} while (0)
struct uint2 { unsigned x, y; };
struct uint4 { unsigned x, y, z, w; };
struct float4 { float x, y, z, w; };
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float warp_sum(float v) { return v; }
template <typename P> inline P __ldg(const P* p) { return *p; }
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  unsigned long long v = ((unsigned long long)y << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; i++) r |= (unsigned)((v >> (8 * ((s >> (4 * i)) & 7))) & 255u) << (8 * i);
  return r;
}
inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned sh) {
  return (unsigned)((((unsigned long long)hi << 32) | lo) >> (sh & 31));
}
using std::min;
using std::max;
inline void st(float* p, float v) { *p = v; }
inline void st(bf16_t* p, float v) {
  unsigned u;
  std::memcpy(&u, &v, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  *p = (bf16_t)(u >> 16);
}
inline unsigned int mix32(unsigned long long x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; return (unsigned)x; }
static std::vector<double> g_y;
void emu_store(const float* acc, float*, int row, int T, long long ldy, int) {
  for (int t = 0; t < T; t++) g_y[t * ldy + row] += acc[t];
}
#define QG_STORE emu_store
#include "quant_emu.cu"

static std::vector<char> slurp(const std::string& f) {
  std::ifstream in(f, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), {});
}

// TT = 1: the one-token kernels (qgemv_*_t1), T must be 1; otherwise the generic ones
template <typename X, int TT = QG_MAX_T>
static void run(int k, const unsigned char* W, const X* x, int rows, int cols, int T) {
  std::vector<float> y(T * rows);
  g_y.assign(T * rows, 0.0);
  blockDim.x = 128;
  int perBlock = k == 2 ? QG_ROWS : QG_ROWS * QG_R;  // Q4_K / Q6_K: QG_R rows per warp
  for (unsigned b = 0; b < (unsigned)(rows + perBlock - 1) / perBlock; b++) {
    blockIdx.x = b;
    for (unsigned th = 0; th < 128; th++) {
      threadIdx.x = th;
      if (k == 0) qgemv_q4k<X, TT>(W, x, y.data(), rows, cols, T, rows, 0);
      else if (k == 1) qgemv_q6k<X, TT>(W, x, y.data(), rows, cols, T, rows, 0);
      else qgemv_q8_0<X>(W, x, y.data(), rows, cols, T, rows, 0);
    }
  }
}

int main(int argc, char** argv) {
  std::string dir = argv[1];
  int rows, cols, T;
  std::ifstream dims(dir + "/dims.txt");
  dims >> rows >> cols >> T;
  const char* names[] = {"Q4_K", "Q6_K", "Q8_0"};
  int bad = 0;
  for (int k = 0; k < 3; k++) {
    std::string base = dir + "/" + names[k];
    std::vector<char> w = slurp(base + ".w"), xb = slurp(base + ".x"), yb = slurp(base + ".y");
    const unsigned char* W = (const unsigned char*)w.data();
    const float* x = (const float*)xb.data();
    const double* want = (const double*)yb.data();
    run<float>(k, W, x, rows, cols, T);
    double worst = 0;
    for (int i = 0; i < T * rows; i++) worst = std::fmax(worst, std::fabs(g_y[i] - want[i]) / (std::fabs(want[i]) + 1e-3));
    std::vector<double> yf = g_y;
    // the one-token kernels (Q4_K / Q6_K) on token 0 alone: the generic kernels' sums exactly
    double d1 = 0;
    if (k < 2) {
      run<float, 1>(k, W, x, rows, cols, 1);
      for (int i = 0; i < rows; i++) d1 = std::fmax(d1, std::fabs(g_y[i] - yf[i]));
    }
    // bf16 activations: the same values as bf16 words must give the float path's sums exactly
    std::vector<bf16_t> xh(T * cols);
    std::vector<float> xr(T * cols);
    for (int i = 0; i < T * cols; i++) {
      unsigned u;
      std::memcpy(&u, &x[i], 4);
      xh[i] = (bf16_t)(u >> 16);  // truncation: exactly representable either way
      xr[i] = __uint_as_float(((unsigned)xh[i]) << 16);
    }
    run<float>(k, W, xr.data(), rows, cols, T);
    yf = g_y;
    run<bf16_t>(k, W, xh.data(), rows, cols, T);
    double d = 0;
    for (int i = 0; i < T * rows; i++) d = std::fmax(d, std::fabs(yf[i] - g_y[i]));
    // dense dequantisation: one simulated grid of 4 blocks of 256 threads, grid-stride
    std::vector<char> db = slurp(base + ".d");
    const float* deq = (const float*)db.data();
    long long n = (long long)rows * cols, nBlocks = n / (k == 2 ? 32 : 256);
    std::vector<float> out(n, -1.f);
    blockDim.x = 256;
    gridDim.x = 4;
    for (unsigned b = 0; b < gridDim.x; b++) {
      blockIdx.x = b;
      for (unsigned th = 0; th < 256; th++) {
        threadIdx.x = th;
        if (k == 0) dequant_q4k<float>(W, out.data(), nBlocks);
        else if (k == 1) dequant_q6k<float>(W, out.data(), nBlocks);
        else dequant_q8_0<float>(W, out.data(), nBlocks);
      }
    }
    long long diff = 0;
    for (long long i = 0; i < n; i++) if (std::memcmp(&out[i], &deq[i], 4) != 0) diff++;
    std::printf("%s float32 x: max rel diff to the Java reference %.3g; bf16 x vs float32 x: max abs diff %.3g; one-token kernel vs generic: max abs diff %.3g; dequantised values differing: %lld of %lld\n",
                names[k], worst, d, d1, diff, n);
    if (worst > 1e-4 || d != 0 || d1 != 0 || diff != 0) bad++;
  }
  return bad;
}
