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
// with row stride ldy (so q, k, v can land in one qkv row). Blocks of 32 * QG_ROWS threads.
// Q4_K / Q6_K: one warp per QG_R adjacent output rows (QG_ROWS * QG_R rows per block); the lanes
// read whole 16-byte pieces of the blocks (coalesced: a warp pass covers 4 Q4_K blocks = 576
// contiguous bytes of a row, or 8 Q6_K blocks = 1680 bytes), dequantise in registers with the
// host's float operations (bytes -> floats through the 2^23 bit trick, exact), and use every
// dequantised weight for all T tokens; each activation load serves the QG_R rows. Every lane's
// work is independent of the others' until the final warp reduction.
// Q8_0: one warp per output row (QG_ROWS rows per block).
#define QG_ROWS 4
#define QG_R 2
#define QG_MAX_T 8
#ifndef QG_STORE
#define QG_STORE qg_store
#endif

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

// ---- helpers of the Q4_K / Q6_K GEMVs
#ifdef __CUDA_ARCH__
__device__ __forceinline__ float h2f_hw(unsigned int h) {  // exact, like h2f (fp16 -> fp32 loses nothing)
  float f;
  unsigned short u = (unsigned short)h;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(u));
  return f;
}
#else
#define h2f_hw h2f
#endif
// byte i (0..3) of v as the float 2^23 + byte (the byte lands in the mantissa's low bits)
__device__ __forceinline__ float qg_b2f(unsigned int v, int i) {
  return __uint_as_float(__byte_perm(v, 0x4B000000u, (unsigned)i | 0x7440u));
}
// 16 bytes at p, which is only 2-byte aligned: five aligned 4-byte loads (never past p + 18) and a funnel shift
__device__ __forceinline__ uint4 qg_ld16_a2(const unsigned char* p) {
  const unsigned int* q = (const unsigned int*)((unsigned long long)p & ~3ull);
  unsigned int sh = (unsigned int)((unsigned long long)p & 2ull) * 8u;
  unsigned int a = __ldg(q), b = __ldg(q + 1), c = __ldg(q + 2), d = __ldg(q + 3), e = __ldg(q + 4);
  uint4 r;
  r.x = __funnelshift_r(a, b, sh); r.y = __funnelshift_r(b, c, sh); r.z = __funnelshift_r(c, d, sh); r.w = __funnelshift_r(d, e, sh);
  return r;
}
__device__ __forceinline__ unsigned int qg_word(uint4 v, int k) { return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w; }

// The activations of a column tile, staged in shared memory by the whole block: row t (token) of
// the tile at t * tcBytes, in 16-byte chunks stored at chunk c ^ ((c >> 3) & 7) (XOR swizzle: the
// lanes of one load instruction, which read 16-byte chunks of up to 4 blocks, hit every bank group
// evenly instead of 2 of the 8). Tiles are QG_TILE_BYTES: the whole row for one token, 2048
// columns of bf16 for 8.
#define QG_TILE_BYTES 32768
__device__ __forceinline__ int qg_sw(int c) { return c ^ ((c >> 3) & 7); }
__device__ __forceinline__ void qg_xs8(const unsigned char* xs, int tcBytes, int t, int col, const bf16_t*, float* o) {
  uint4 u = *(const uint4*)(xs + t * tcBytes + qg_sw(col >> 3) * 16);
  o[0] = __uint_as_float(u.x << 16); o[1] = __uint_as_float(u.x & 0xffff0000u);
  o[2] = __uint_as_float(u.y << 16); o[3] = __uint_as_float(u.y & 0xffff0000u);
  o[4] = __uint_as_float(u.z << 16); o[5] = __uint_as_float(u.z & 0xffff0000u);
  o[6] = __uint_as_float(u.w << 16); o[7] = __uint_as_float(u.w & 0xffff0000u);
}
__device__ __forceinline__ void qg_xs8(const unsigned char* xs, int tcBytes, int t, int col, const float*, float* o) {
  float4 a = *(const float4*)(xs + t * tcBytes + qg_sw(col >> 2) * 16), b = *(const float4*)(xs + t * tcBytes + qg_sw((col >> 2) + 1) * 16);
  o[0] = a.x; o[1] = a.y; o[2] = a.z; o[3] = a.w; o[4] = b.x; o[5] = b.y; o[6] = b.z; o[7] = b.w;
}
// Columns per tile for T tokens of X: a multiple of 256
template <typename X>
__device__ __forceinline__ int qg_tile_cols(int T, int tileBytes) { return (tileBytes / (T * (int)sizeof(X))) & ~255; }
// one-token kernels: half the tile (8192 bf16 columns), so that smem does not limit the warps per SM
#define QG_TILE_BYTES_T1 16384
// Stages X[t, c0 .. c0 + tc) for t < T into the tile (every thread of the block takes a share; the
// CPU emulation runs one thread at a time, so there each thread stages the whole tile itself)
template <typename X>
__device__ __forceinline__ void qg_stage(unsigned char* xs, int tcBytes, const X* x, int cols, int c0, int tc, int T) {
  int per = 16 / (int)sizeof(X), chunks = tc / per, n = T * chunks;
#ifdef __CUDA_ARCH__
  int i0 = threadIdx.x, step = blockDim.x;
#else
  int i0 = 0, step = 1;
#endif
  for (int i = i0; i < n; i += step) {
    int t = i / chunks, c = i - t * chunks;
    *(uint4*)(xs + t * tcBytes + qg_sw(c) * 16) = *(const uint4*)(x + (long long)t * cols + c0 + c * per);
  }
}

// acc[r][t] += sum_k w[r][k] * X[t, col + k] for the QG_R rows (col relative to the tile): each
// activation load serves every row
template <typename X, int TT>
__device__ __forceinline__ void qg_dot8(const float (*w)[8], const unsigned char* xs, int tcBytes, int col, int T, float (*acc)[QG_MAX_T]) {
#pragma unroll
  for (int t = 0; t < TT; t++) {
    if (TT == 1 || t < T) {
      float xv[8];
      qg_xs8(xs, tcBytes, t, col, (const X*)0, xv);
#pragma unroll
      for (int r = 0; r < QG_R; r++) {
        float a = acc[r][t];
#pragma unroll
        for (int k = 0; k < 8; k++) a += w[r][k] * xv[k];
        acc[r][t] = a;
      }
    }
  }
}

// Q4_K, lane = 8 * (block of the pass) + piece: piece p (0..7) is qs bytes [16p, 16p + 16): the low
// nibbles are values [16h, 16h + 16) of sub-block j0 = 2 (p / 2), the high nibbles the same values of
// sub-block j0 + 1 (h = p % 2). The 16-byte header (d, dmin, scales) is one load shared by 8 lanes.
template <typename X, int TT = QG_MAX_T>  // TT: tokens the code is unrolled for (T <= TT)
__device__ void qgemv_q4k(const unsigned char* W, const X* x, float* y, int rows, int cols, int T, long long ldy, int accumulate) {
  __shared__ __align__(16) unsigned char xs[TT == 1 ? QG_TILE_BYTES_T1 : QG_TILE_BYTES];
  PDL_ENTRY();
  int lane = threadIdx.x & 31, row0 = (blockIdx.x * QG_ROWS + (threadIdx.x >> 5)) * QG_R;
  bool active = row0 < rows;  // inactive warps still stage and meet the block's barriers
  int nb = cols >> 8;
  long long rowBytes = (long long)nb * 144;
  const unsigned char* wr[QG_R];
#pragma unroll
  for (int r = 0; r < QG_R; r++) wr[r] = W + (long long)max(0, min(row0 + r, rows - 1)) * rowBytes;
  int piece = lane & 7, j0 = (piece >> 1) * 2, h = piece & 1, k0 = j0 & 3, hi = j0 >= 4;
  float acc[QG_R][QG_MAX_T];
#pragma unroll
  for (int r = 0; r < QG_R; r++)
#pragma unroll
    for (int t = 0; t < QG_MAX_T; t++) acc[r][t] = 0.f;
  int tcMax = qg_tile_cols<X>(T, TT == 1 ? QG_TILE_BYTES_T1 : QG_TILE_BYTES), tcBytes = tcMax * (int)sizeof(X);
  for (int c0 = 0; c0 < cols; c0 += tcMax) {
    int tc = min(tcMax, cols - c0), bEnd = (c0 + tc) >> 8;
    int b = (c0 >> 8) + (((lane >> 3) - (c0 >> 8)) & 3);  // lane's blocks: b = lane / 8 mod 4, whatever the tiles
    uint4 hd[QG_R], qv[QG_R];
    if (active && b < bEnd) {  // the first pass's weights are requested before the tile is staged
#pragma unroll
      for (int r = 0; r < QG_R; r++) {
        hd[r] = __ldg((const uint4*)(wr[r] + b * 144));
        qv[r] = __ldg((const uint4*)(wr[r] + b * 144 + 16 + 16 * piece));
      }
    }
    __syncthreads();
    qg_stage(xs, tcBytes, x, cols, c0, tc, T);
    __syncthreads();
    if (!active) continue;
    for (; b < bEnd; b += 4) {
      uint4 hdn[QG_R], qvn[QG_R];
      if (b + 4 < bEnd) {  // the next pass's pieces are in flight while this one is computed
#pragma unroll
        for (int r = 0; r < QG_R; r++) {
          hdn[r] = __ldg((const uint4*)(wr[r] + (b + 4) * 144));
          qvn[r] = __ldg((const uint4*)(wr[r] + (b + 4) * 144 + 16 + 16 * piece));
        }
      }
      float d1[QG_R][2], m1[QG_R][2];
#pragma unroll
      for (int r = 0; r < QG_R; r++) {
        float d = h2f_hw(hd[r].x & 0xffffu), dmin = h2f_hw(hd[r].x >> 16);
#pragma unroll
        for (int s = 0; s < 2; s++) {  // sub-blocks j0 + s: scales byte j, j + 4 (j < 4) or j - 4, j, j + 4 (j >= 4)
          int k = k0 + s;
          unsigned int yk = hd[r].y >> (8 * k), zk = hd[r].z >> (8 * k), wk = hd[r].w >> (8 * k);
          int sc = hi ? (int)((wk & 15u) | (((yk >> 6) & 3u) << 4)) : (int)(yk & 63u);
          int mn = hi ? (int)(((wk >> 4) & 15u) | (((zk >> 6) & 3u) << 4)) : (int)(zk & 63u);
          d1[r][s] = __fmul_rn(d, (float)sc);
          m1[r][s] = __fmul_rn(dmin, (float)mn);
        }
      }
      int colA = b * 256 - c0 + 32 * j0 + 16 * h;
#pragma unroll
      for (int half = 0; half < 2; half++) {  // qs words 2 half, 2 half + 1: 8 values of each sub-block
#pragma unroll
        for (int s = 0; s < 2; s++) {
          float w[QG_R][8];
#pragma unroll
          for (int r = 0; r < QG_R; r++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
              unsigned int v = qg_word(qv[r], 2 * half + e);
              v = (s ? (v >> 4) : v) & 0x0f0f0f0fu;
#pragma unroll
              for (int i = 0; i < 4; i++)
                w[r][4 * e + i] = __fsub_rn(__fmul_rn(d1[r][s], __fsub_rn(qg_b2f(v, i), 8388608.f)), m1[r][s]);
            }
          }
          qg_dot8<X, TT>(w, xs, tcBytes, colA + 32 * s + 8 * half, T, acc);
        }
      }
      if (b + 4 < bEnd) {
#pragma unroll
        for (int r = 0; r < QG_R; r++) { hd[r] = hdn[r]; qv[r] = qvn[r]; }
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int r = 0; r < QG_R; r++)
    if (row0 + r < rows) QG_STORE(acc[r], y, row0 + r, T, ldy, accumulate);
}

// Q6_K, lane = 4 * (block of the pass) + 2 n + h: values 128 n + 32 r + [16h, 16h + 16) for r = 0..3,
// i.e. ql bytes [64n + 16h, +16) (r = 0 low nibbles, r = 2 high), [64n + 32 + 16h, +16) (r = 1, 3) and
// qh bytes [32n + 16h, +16) (bits 2r, 2r + 1), scales sc[8n + 2r + h], d. 210-byte blocks are only
// 2-byte aligned: 16-byte pieces through qg_ld16_a2.
template <typename X, int TT = QG_MAX_T>  // TT: tokens the code is unrolled for (T <= TT)
__device__ void qgemv_q6k(const unsigned char* W, const X* x, float* y, int rows, int cols, int T, long long ldy, int accumulate) {
  __shared__ __align__(16) unsigned char xs[TT == 1 ? QG_TILE_BYTES_T1 : QG_TILE_BYTES];
  PDL_ENTRY();
  int lane = threadIdx.x & 31, row0 = (blockIdx.x * QG_ROWS + (threadIdx.x >> 5)) * QG_R;
  bool active = row0 < rows;  // inactive warps still stage and meet the block's barriers
  int nb = cols >> 8;
  long long rowBytes = (long long)nb * 210;
  const unsigned char* wr[QG_R];
#pragma unroll
  for (int r = 0; r < QG_R; r++) wr[r] = W + (long long)max(0, min(row0 + r, rows - 1)) * rowBytes;
  int n = (lane >> 1) & 1, h = lane & 1;
  float acc[QG_R][QG_MAX_T];
#pragma unroll
  for (int r = 0; r < QG_R; r++)
#pragma unroll
    for (int t = 0; t < QG_MAX_T; t++) acc[r][t] = 0.f;
  int tcMax = qg_tile_cols<X>(T, TT == 1 ? QG_TILE_BYTES_T1 : QG_TILE_BYTES), tcBytes = tcMax * (int)sizeof(X);
  for (int c0 = 0; c0 < cols; c0 += tcMax) {
  int tc = min(tcMax, cols - c0), bEnd = (c0 + tc) >> 8;
  __syncthreads();
  qg_stage(xs, tcBytes, x, cols, c0, tc, T);
  __syncthreads();
  if (!active) continue;
  for (int b = (c0 >> 8) + (((lane >> 2) - (c0 >> 8)) & 7); b < bEnd; b += 8) {  // b = lane / 4 mod 8, whatever the tiles
    uint4 qa[QG_R], qb[QG_R], qh[QG_R];
    float d1[QG_R][4];
#pragma unroll
    for (int r = 0; r < QG_R; r++) {
      const unsigned char* blk = wr[r] + b * 210;
      qa[r] = qg_ld16_a2(blk + 64 * n + 16 * h);
      qb[r] = qg_ld16_a2(blk + 64 * n + 32 + 16 * h);
      qh[r] = qg_ld16_a2(blk + 128 + 32 * n + 16 * h);
      const unsigned int* sq = (const unsigned int*)((unsigned long long)(blk + 192 + 8 * n) & ~3ull);
      unsigned int sh = (unsigned int)((unsigned long long)(blk + 192) & 2ull) * 8u;
      unsigned int s0 = __ldg(sq), s1 = __ldg(sq + 1), s2 = __ldg(sq + 2);
      unsigned int sc0 = __funnelshift_r(s0, s1, sh), sc1 = __funnelshift_r(s1, s2, sh);  // sc[8n .. 8n + 8)
      float d = h2f_hw(__ldg((const unsigned short*)(blk + 208)));
#pragma unroll
      for (int q = 0; q < 4; q++) {
        unsigned int word = q < 2 ? sc0 : sc1;
        int sbyte = (int)(signed char)((word >> (8 * ((2 * q + h) & 3))) & 255u);
        d1[r][q] = __fmul_rn(d, (float)sbyte);
      }
    }
    int col = b * 256 - c0 + 128 * n + 16 * h;
#pragma unroll
    for (int half = 0; half < 2; half++) {
#pragma unroll
      for (int q = 0; q < 4; q++) {
        float w[QG_R][8];
#pragma unroll
        for (int r = 0; r < QG_R; r++) {
#pragma unroll
          for (int e = 0; e < 2; e++) {
            unsigned int lo = qg_word((q & 1) ? qb[r] : qa[r], 2 * half + e), hb = qg_word(qh[r], 2 * half + e);
            unsigned int v = (((q >> 1) ? (lo >> 4) : lo) & 0x0f0f0f0fu) | (((hb >> (2 * q)) << 4) & 0x30303030u);
#pragma unroll
            for (int i = 0; i < 4; i++) w[r][4 * e + i] = __fmul_rn(d1[r][q], __fsub_rn(qg_b2f(v, i), 8388640.f));  // (q - 32)
          }
        }
        qg_dot8<X, TT>(w, xs, tcBytes, col + 32 * q + 8 * half, T, acc);
      }
    }
  }
  }
  if (!active) return;
#pragma unroll
  for (int r = 0; r < QG_R; r++)
    if (row0 + r < rows) QG_STORE(acc[r], y, row0 + r, T, ldy, accumulate);
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
  QG_STORE(acc, y, row, T, ldy, accumulate);
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
  extern "C" __global__ void __launch_bounds__(32 * QG_ROWS, 5) qgemv_##type##_##xs(                                 \
      const unsigned char* W, const X* x, float* y, int rows, int cols, int T, long long ldy, int accumulate) {   \
    qgemv_##type<X>(W, x, y, rows, cols, T, ldy, accumulate);                                                     \
  }
QGEMV(q4k, bf16, bf16_t)
QGEMV(q4k, f32, float)
QGEMV(q6k, bf16, bf16_t)
QGEMV(q6k, f32, float)
// single-token steps (batch-1 decode): the same kernels unrolled for one token (fewer registers, more warps per SM)
#define QGEMV1(type, xs, X)                                                                                         \
  extern "C" __global__ void __launch_bounds__(32 * QG_ROWS, 8) qgemv_##type##_##xs##_t1(                            \
      const unsigned char* W, const X* x, float* y, int rows, int cols, int T, long long ldy, int accumulate) {   \
    qgemv_##type<X, 1>(W, x, y, rows, cols, T, ldy, accumulate);                                                  \
  }
QGEMV1(q4k, bf16, bf16_t)
QGEMV1(q4k, f32, float)
QGEMV1(q6k, bf16, bf16_t)
QGEMV1(q6k, f32, float)
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
