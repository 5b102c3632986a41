// Prism CUDA kernels for weights kept in ggml block formats (appended to llama.cu by KernelModule;
// uses its ld, warp_sum, mix32 and PDL helpers). Block layouts: ggml's published format (the
// block_q* structs of ggml-common.h), restated in io.prism.runtime.model.GgmlQuants:
//   Q8_0  32 values / 34 bytes:  f16 d | int8 q[32]                                  x = d q
//   Q4_K 256 values / 144 bytes: f16 d | f16 dmin | u8 scales[12] | u8 qs[128]      x = (d sc_j) q - dmin m_j
//   Q6_K 256 values / 210 bytes: u8 ql[128] | u8 qh[64] | int8 sc[16] | f16 d        x = (d sc_k) (q - 32)
// Each dequantised weight is computed with the same float operations as the host reference
// (__fmul_rn / __fsub_rn: never contracted into an FMA), so it is bit-identical to the host's.
//
// dequant_<type>_<out>: the blocks as a dense matrix in bf16 or float32 (steps of many tokens).
// qgemv_<type>_<x>: Y[t, r] (+)= sum_c W[r, c] X[t, c] for t < T <= QG_MAX_T; W rows of whole blocks
// (cols a multiple of 256 for the K types, 32 for Q8_0); X [T, cols] bf16 or float32; Y float32
// with row stride ldy (so q, k, v can land in one qkv row). One warp per output row, QG_ROWS rows
// per block of 32 * QG_ROWS threads: every lane dequantises 8 values of a 256-value span once and
// uses them for all T tokens.
#define QG_ROWS 4
#define QG_MAX_T 8

__device__ __forceinline__ float h2f(unsigned int h) {
  unsigned int s = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    float v = (float)m * 5.9604644775390625e-8f;  // subnormal: m * 2^-24
    return s ? -v : v;
  }
  if (e == 31) return __uint_as_float(s | 0x7f800000u | (m << 13));
  return __uint_as_float(s | ((e + 112) << 23) | (m << 13));
}

__device__ __forceinline__ void load8(const float* p, float* o) {
  float4 a = ((const float4*)p)[0], b = ((const float4*)p)[1];
  o[0] = a.x; o[1] = a.y; o[2] = a.z; o[3] = a.w; o[4] = b.x; o[5] = b.y; o[6] = b.z; o[7] = b.w;
}
__device__ __forceinline__ void load8(const bf16_t* p, float* o) {
  uint4 u = *(const uint4*)p;
  o[0] = __uint_as_float(u.x << 16); o[1] = __uint_as_float(u.x & 0xffff0000u);
  o[2] = __uint_as_float(u.y << 16); o[3] = __uint_as_float(u.y & 0xffff0000u);
  o[4] = __uint_as_float(u.z << 16); o[5] = __uint_as_float(u.z & 0xffff0000u);
  o[6] = __uint_as_float(u.w << 16); o[7] = __uint_as_float(u.w & 0xffff0000u);
}

// acc[t] += sum_k w[k] * X[t, base + k]
template <typename X>
__device__ __forceinline__ void qg_dot(const float* w, const X* x, int cols, int base, int T, float* acc) {
#pragma unroll
  for (int t = 0; t < QG_MAX_T; t++) {
    if (t < T) {
      float xv[8];
      load8(x + (long long)t * cols + base, xv);
      float a = acc[t];
#pragma unroll
      for (int k = 0; k < 8; k++) a += w[k] * xv[k];
      acc[t] = a;
    }
  }
}

__device__ __forceinline__ void qg_store(const float* acc, float* y, int row, int T, long long ldy, int accumulate) {
#pragma unroll
  for (int t = 0; t < QG_MAX_T; t++) {
    if (t < T) {
      float v = warp_sum(acc[t]);
      if ((threadIdx.x & 31) == 0) {
        float* o = y + (long long)t * ldy + row;
        *o = accumulate ? *o + v : v;
      }
    }
  }
}

// ---- block decoders: the 8 values a lane owns in one block (lane < 32 for the 256-value K types,
// part = 8 * (0..3) for Q8_0's 32-value blocks), returned in w[8]; the result is their offset among
// the block's values.
__device__ __forceinline__ int q4k_lane(const unsigned char* blk, int lane, float* w) {
  int j = lane >> 2, part = (lane & 3) * 8;  // sub-block j (32 values), values [part, part + 8) of it
  int c = j >> 1, shift = (j & 1) * 4;
  float d = h2f(blk[0] | (blk[1] << 8)), dmin = h2f(blk[2] | (blk[3] << 8));
  const unsigned char* sc = blk + 4;
  int s, m;
  if (j < 4) {
    s = sc[j] & 63;
    m = sc[j + 4] & 63;
  } else {
    s = (sc[j + 4] & 15) | ((sc[j - 4] >> 6) << 4);
    m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
  }
  float d1 = __fmul_rn(d, (float)s), m1 = __fmul_rn(dmin, (float)m);
  uint2 qv = *(const uint2*)(blk + 16 + 32 * c + part);  // 8 bytes: blocks and rows are 8-byte aligned (144 = 18 * 8)
#pragma unroll
  for (int k = 0; k < 4; k++) {
    w[k] = __fsub_rn(__fmul_rn(d1, (float)((qv.x >> (8 * k + shift)) & 15u)), m1);
    w[4 + k] = __fsub_rn(__fmul_rn(d1, (float)((qv.y >> (8 * k + shift)) & 15u)), m1);
  }
  return 32 * j + part;
}
__device__ __forceinline__ int q6k_lane(const unsigned char* blk, int lane, float* w) {
  int n = lane >> 4, r = (lane >> 2) & 3, part = (lane & 3) * 8;  // values 128n + 32r + [part, part + 8)
  int is = 8 * n + 2 * r + (part >> 4);
  int qlOff = 64 * n + 32 * (r & 1) + part, loShift = 4 * (r >> 1), qhOff = 128 + 32 * n + part, hiShift = 2 * r;
  float d = h2f(blk[208] | (blk[209] << 8));  // 210-byte blocks: only 2-byte alignment, so byte loads
  float d1 = __fmul_rn(d, (float)(signed char)blk[192 + is]);
#pragma unroll
  for (int k = 0; k < 8; k++) {
    int lo = (blk[qlOff + k] >> loShift) & 15, hi = (blk[qhOff + k] >> hiShift) & 3;
    w[k] = __fmul_rn(d1, (float)((lo | (hi << 4)) - 32));
  }
  return 128 * n + 32 * r + part;
}
__device__ __forceinline__ int q8_0_part(const unsigned char* blk, int part, float* w) {
  float d = h2f(blk[0] | (blk[1] << 8));
#pragma unroll
  for (int k = 0; k < 8; k++) w[k] = __fmul_rn(d, (float)(signed char)blk[2 + part + k]);
  return part;
}

template <typename X>
__device__ void qgemv_q4k(const unsigned char* W, const X* x, float* y, int rows, int cols, int T, long long ldy, int accumulate) {
  PDL_ENTRY();
  int lane = threadIdx.x & 31, row = blockIdx.x * QG_ROWS + (threadIdx.x >> 5);
  if (row >= rows) return;
  int nb = cols >> 8;
  const unsigned char* wr = W + (long long)row * nb * 144;
  float acc[QG_MAX_T];
#pragma unroll
  for (int t = 0; t < QG_MAX_T; t++) acc[t] = 0.f;
  for (int b = 0; b < nb; b++) {
    float w[8];
    int off = q4k_lane(wr + b * 144, lane, w);
    qg_dot(w, x, cols, b * 256 + off, T, acc);
  }
  qg_store(acc, y, row, T, ldy, accumulate);
}

template <typename X>
__device__ void qgemv_q6k(const unsigned char* W, const X* x, float* y, int rows, int cols, int T, long long ldy, int accumulate) {
  PDL_ENTRY();
  int lane = threadIdx.x & 31, row = blockIdx.x * QG_ROWS + (threadIdx.x >> 5);
  if (row >= rows) return;
  int nb = cols >> 8;
  const unsigned char* wr = W + (long long)row * nb * 210;
  float acc[QG_MAX_T];
#pragma unroll
  for (int t = 0; t < QG_MAX_T; t++) acc[t] = 0.f;
  for (int b = 0; b < nb; b++) {
    float w[8];
    int off = q6k_lane(wr + b * 210, lane, w);
    qg_dot(w, x, cols, b * 256 + off, T, acc);
  }
  qg_store(acc, y, row, T, ldy, accumulate);
}

template <typename X>
__device__ void qgemv_q8_0(const unsigned char* W, const X* x, float* y, int rows, int cols, int T, long long ldy, int accumulate) {
  PDL_ENTRY();
  int lane = threadIdx.x & 31, row = blockIdx.x * QG_ROWS + (threadIdx.x >> 5);
  if (row >= rows) return;
  int nb = cols >> 5;
  const unsigned char* wr = W + (long long)row * nb * 34;
  float acc[QG_MAX_T];
#pragma unroll
  for (int t = 0; t < QG_MAX_T; t++) acc[t] = 0.f;
  for (int b = lane >> 2; b < nb; b += 8) {  // 8 blocks per warp pass, 4 lanes per block
    float w[8];
    int off = q8_0_part(wr + b * 34, (lane & 3) * 8, w);
    qg_dot(w, x, cols, b * 32 + off, T, acc);
  }
  qg_store(acc, y, row, T, ldy, accumulate);
}

// ---- dequantisation into a dense matrix (for steps of many tokens: dequantise once, then one
// cuBLAS GEMM): out[i] = value i of the blocks, in the precision's element type; 32 threads per
// 256-value block (4 per Q8_0 block), each writing its 8 values.
template <typename O>
__device__ void dequant_q4k(const unsigned char* W, O* out, long long nBlocks) {
  PDL_ENTRY();
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < nBlocks * 32; i += (long long)gridDim.x * blockDim.x) {
    long long b = i >> 5;
    float w[8];
    int off = q4k_lane(W + b * 144, (int)(i & 31), w);
#pragma unroll
    for (int k = 0; k < 8; k++) st(out + b * 256 + off + k, w[k]);
  }
}
template <typename O>
__device__ void dequant_q6k(const unsigned char* W, O* out, long long nBlocks) {
  PDL_ENTRY();
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < nBlocks * 32; i += (long long)gridDim.x * blockDim.x) {
    long long b = i >> 5;
    float w[8];
    int off = q6k_lane(W + b * 210, (int)(i & 31), w);
#pragma unroll
    for (int k = 0; k < 8; k++) st(out + b * 256 + off + k, w[k]);
  }
}
template <typename O>
__device__ void dequant_q8_0(const unsigned char* W, O* out, long long nBlocks) {
  PDL_ENTRY();
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < nBlocks * 4; i += (long long)gridDim.x * blockDim.x) {
    long long b = i >> 2;
    float w[8];
    int off = q8_0_part(W + b * 34, (int)(i & 3) * 8, w);
#pragma unroll
    for (int k = 0; k < 8; k++) st(out + b * 32 + off + k, w[k]);
  }
}

#define QGEMV(type, xs, X)                                                                                          \
  extern "C" __global__ void __launch_bounds__(32 * QG_ROWS) qgemv_##type##_##xs(                                 \
      const unsigned char* W, const X* x, float* y, int rows, int cols, int T, long long ldy, int accumulate) {   \
    qgemv_##type<X>(W, x, y, rows, cols, T, ldy, accumulate);                                                     \
  }
QGEMV(q4k, bf16, bf16_t)
QGEMV(q4k, f32, float)
QGEMV(q6k, bf16, bf16_t)
QGEMV(q6k, f32, float)
QGEMV(q8_0, bf16, bf16_t)
QGEMV(q8_0, f32, float)
#define DEQUANT(type, os, O)                                                                                  \
  extern "C" __global__ void dequant_##type##_##os(const unsigned char* W, O* out, long long nBlocks) {        \
    dequant_##type<O>(W, out, nBlocks);                                                                        \
  }
DEQUANT(q4k, bf16, bf16_t)
DEQUANT(q4k, f32, float)
DEQUANT(q6k, bf16, bf16_t)
DEQUANT(q6k, f32, float)
DEQUANT(q8_0, bf16, bf16_t)
DEQUANT(q8_0, f32, float)

// ---- random blocks for random-weight models kept quantized: every byte from a hash of (seed,
// block, byte), then the f16 scale fields (at h0Off, and h1Off unless -1) set to h0 / h1, so every
// value is finite and of the size the caller chose. One thread per block.
extern "C" __global__ void fill_qblocks(unsigned char* p, long long nBlocks, int blockBytes, unsigned long long seed,
                                        int h0Off, int h0, int h1Off, int h1) {
  for (long long b = blockIdx.x * (long long)blockDim.x + threadIdx.x; b < nBlocks; b += (long long)gridDim.x * blockDim.x) {
    unsigned char* q = p + b * blockBytes;
    unsigned int z = 0;
    for (int i = 0; i < blockBytes; i++) {
      if ((i & 3) == 0) z = mix32(seed * 0x9e3779b97f4a7c15ULL + (unsigned long long)b * 977ULL + (unsigned long long)i);
      q[i] = (unsigned char)(z >> (8 * (i & 3)));
    }
    q[h0Off] = (unsigned char)(h0 & 255);
    q[h0Off + 1] = (unsigned char)(h0 >> 8);
    if (h1Off >= 0) {
      q[h1Off] = (unsigned char)(h1 & 255);
      q[h1Off + 1] = (unsigned char)(h1 >> 8);
    }
  }
}
