// Prism CUDA kernels for the Llama-family forward pass. Compiled at run time by NVRTC (no host
// headers, no cuda_bf16.h: bf16 is handled as raw 16-bit words), once per process, for the
// device's architecture (io.prism.cuda.KernelModule).
//
// Conventions
//   - The residual stream x and every GEMM output are float32; GEMM inputs (norm output, attention
//     output, SwiGLU output) and weights are "W" = bf16 (suffix _bf16) or float32 (suffix _f32).
//   - KV cache elements are "KV" = bf16 or float32; the cache is paged (io.prism.runtime.memory.KvCache):
//     per layer one K range and one V range; token slot s of block b lives at byte
//       (b / blocksPerPage) * pageBytes + (b % blocksPerPage) * blockSize * kvDim * eb + s * kvDim * eb
//     of each range, [kvDim] contiguous elements (heads major, then head dimension).
//   - RoPE rotates adjacent pairs (2i, 2i+1) inside each head (llama2.c convention); Hugging Face
//     checkpoints are permuted to this order at load.
typedef unsigned short bf16_t;
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

__device__ __forceinline__ float ld(const float* p) { return *p; }
__device__ __forceinline__ float ld(const bf16_t* p) { return __uint_as_float(((unsigned int)*p) << 16); }
__device__ __forceinline__ bf16_t f2bf(float f) {
  unsigned int u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t)((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return (bf16_t)(u >> 16);
}
__device__ __forceinline__ void st(float* p, float v) { *p = v; }
__device__ __forceinline__ void st(bf16_t* p, float v) { *p = f2bf(v); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// ---- embedding: x[t, :] = table[tokens[t], :] ------------------------------------------------
template <typename W>
__device__ void embed(const W* table, const int* tokens, float* x, int dim) {
  int t = blockIdx.x;
  const W* row = table + (long long)tokens[t] * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) x[(long long)t * dim + i] = ld(row + i);
}
extern "C" __global__ void embed_bf16(const bf16_t* table, const int* tokens, float* x, int dim) { embed(table, tokens, x, dim); }
extern "C" __global__ void embed_f32(const float* table, const int* tokens, float* x, int dim) { embed(table, tokens, x, dim); }

// ---- RMSNorm: out[r] = x[rows ? rows[r] : r] * rsqrt(mean(x^2) + eps) * w ------------------------
template <typename O>
__device__ void rmsnorm(const float* x, const float* w, O* out, const int* rows, int dim, float eps) {
  __shared__ float partial[32];
  __shared__ float scale;
  int r = blockIdx.x;
  const float* xr = x + (long long)(rows ? rows[r] : r) * dim;
  float ss = 0.f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = warp_sum(ss);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = ss;
  __syncthreads();
  if (warp == 0) {
    int nw = (blockDim.x + 31) >> 5;
    float v = lane < nw ? partial[lane] : 0.f;
    v = warp_sum(v);
    if (lane == 0) scale = 1.0f / sqrtf(v / dim + eps);
  }
  __syncthreads();
  float s = scale;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) st(out + (long long)r * dim + i, w[i] * (s * xr[i]));
}
extern "C" __global__ void rmsnorm_bf16(const float* x, const float* w, bf16_t* out, const int* rows, int dim, float eps) { rmsnorm(x, w, out, rows, dim, eps); }
extern "C" __global__ void rmsnorm_f32(const float* x, const float* w, float* out, const int* rows, int dim, float eps) { rmsnorm(x, w, out, rows, dim, eps); }

// ---- RoPE on q and k (in place in the float32 qkv rows), then K and V into their cache slots ---
// qkv row t: [q (nHeads*headDim) | k (kvDim) | v (kvDim)]; kvOff[t] is the byte offset of token t's
// slot inside every layer's K and V range (-1: padding row, nothing written).
template <typename KV>
__device__ void rope_kv(float* qkv, const int* pos, const long long* kvOff, const float* invFreq,
                        char* kBase, char* vBase, int nHeads, int nKv, int headDim) {
  int t = blockIdx.x;
  int dim = nHeads * headDim, kvDim = nKv * headDim, stride = dim + 2 * kvDim;
  float* row = qkv + (long long)t * stride;
  int p = pos[t];
  int half = headDim / 2;
  int pairs = (nHeads + nKv) * half;
  for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
    int head = i / half, j = i % half;
    float s, c;
    sincosf((float)p * invFreq[j], &s, &c);
    float* v = row + head * headDim + 2 * j;  // k heads follow q heads contiguously
    float a = v[0], b = v[1];
    v[0] = a * c - b * s;
    v[1] = a * s + b * c;
  }
  __syncthreads();
  long long off = kvOff[t];
  if (off < 0) return;
  KV* kd = (KV*)(kBase + off);
  KV* vd = (KV*)(vBase + off);
  for (int i = threadIdx.x; i < kvDim; i += blockDim.x) {
    st(kd + i, row[dim + i]);
    st(vd + i, row[dim + kvDim + i]);
  }
}
extern "C" __global__ void rope_kv_bf16(float* qkv, const int* pos, const long long* kvOff, const float* invFreq,
                                        char* kBase, char* vBase, int nHeads, int nKv, int headDim) {
  rope_kv<bf16_t>(qkv, pos, kvOff, invFreq, kBase, vBase, nHeads, nKv, headDim);
}
extern "C" __global__ void rope_kv_f32(float* qkv, const int* pos, const long long* kvOff, const float* invFreq,
                                       char* kBase, char* vBase, int nHeads, int nKv, int headDim) {
  rope_kv<float>(qkv, pos, kvOff, invFreq, kBase, vBase, nHeads, nKv, headDim);
}

// ---- paged attention, split over the key range (flash-decoding style), partial results --------
// grid (T, nHeads / hpb, splits), block ATT_THREADS. Token t attends causally over key positions
// [0, pos[t]]; split z takes keys [z*chunk, min((z+1)*chunk, pos+1)). The hpb (<= MAX_HPB) query
// heads that share one KV head (grouped-query attention) are handled by one block, so K and V are
// read once for all of them. Keys go in tiles of ATT_THREADS:
//   1. scores: thread i takes key tile+i, reads its K row with 16-byte loads and dots it with the
//      hpb scaled query rows (shared memory, broadcast);
//   2. softmax: warp h takes head h: tile max, running max and correction, exp, tile sum;
//   3. P V: thread d takes head dimension d and accumulates sum_j p[h][j] * V[key j][d] for its
//      heads (coalesced V rows).
// Writes for each (t, head, split): m (running max), l (sum of exp) and acc[headDim] (unnormalised).
// Requires headDim % (16 / sizeof(KV)) == 0 and headDim <= ATT_THREADS.
#define ATT_THREADS 128
#define MAX_HPB 4
#define ATT_MIN_KEYS 64
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ void unpack16(uint4 r, const bf16_t*, float* f) {
  unsigned int w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
  for (int i = 0; i < 4; i++) {
    f[2 * i] = __uint_as_float(w[i] << 16);
    f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}
__device__ __forceinline__ void unpack16(uint4 r, const float*, float* f) {
  f[0] = __uint_as_float(r.x); f[1] = __uint_as_float(r.y); f[2] = __uint_as_float(r.z); f[3] = __uint_as_float(r.w);
}
template <typename KV>
__device__ void attn_partial(const float* qkv, const int* pos, const int* tableStart, const int* tables,
                             const char* kBase, const char* vBase, float* part, int nHeads, int nKv,
                             int headDim, int hpb, int blockSize, int blocksPerPage, long long pageBytes,
                             float scale, int splits) {
  const int VEC = 16 / sizeof(KV);
  __shared__ __align__(16) float sq[MAX_HPB][ATT_THREADS];
  __shared__ float sp[MAX_HPB][ATT_THREADS];
  __shared__ long long soff[ATT_THREADS];
  __shared__ float sm[MAX_HPB], sl[MAX_HPB], scorr[MAX_HPB];
  int t = blockIdx.x, hg = blockIdx.y, z = blockIdx.z, tid = threadIdx.x;
  int lane = tid & 31, warp = tid >> 5;
  int dim = nHeads * headDim, kvDim = nKv * headDim;
  int h0 = hg * hpb;
  int kvh = h0 / (nHeads / nKv);
  int n = pos[t] + 1;
  // splits is an upper bound (fixed in a captured CUDA graph); use only as many as give each split
  // at least ATT_MIN_KEYS keys, and mark the others empty for the merge.
  int eff = min(splits, max(1, n / ATT_MIN_KEYS));
  if (z >= eff) {
    if (tid < headDim) {
      for (int h = 0; h < hpb; h++) {
        float* out = part + (((long long)t * nHeads + h0 + h) * splits + z) * (headDim + 2);
        out[2 + tid] = 0.f;
        if (tid == 0) { out[0] = -INFINITY; out[1] = 0.f; }
      }
    }
    return;
  }
  int chunk = (n + eff - 1) / eff;
  int k0 = z * chunk, k1 = min(n, k0 + chunk);
  const float* qrow = qkv + (long long)t * (dim + 2 * kvDim);
  for (int i = tid; i < hpb * headDim; i += ATT_THREADS) sq[i / headDim][i % headDim] = qrow[h0 * headDim + i] * scale;
  if (tid < MAX_HPB) { sm[tid] = -INFINITY; sl[tid] = 0.f; }
  float acc[MAX_HPB];
  float pacc[MAX_HPB][8];
#pragma unroll
  for (int h = 0; h < MAX_HPB; h++) {
    acc[h] = 0.f;
#pragma unroll
    for (int e = 0; e < 8; e++) pacc[h][e] = 0.f;
  }
  const int* table = tables + tableStart[t];
  long long blockBytes = (long long)blockSize * kvDim * sizeof(KV);
  __syncthreads();
  for (int tile = k0; tile < k1; tile += ATT_THREADS) {
    int k = tile + tid;
    float s[MAX_HPB];
#pragma unroll
    for (int h = 0; h < MAX_HPB; h++) s[h] = 0.f;
    if (k < k1) {
      int b = table[k / blockSize];
      long long off = (long long)(b / blocksPerPage) * pageBytes + (long long)(b % blocksPerPage) * blockBytes
          + ((long long)(k % blockSize) * kvDim + (long long)kvh * headDim) * sizeof(KV);
      soff[tid] = off;
      const uint4* kr = (const uint4*)(kBase + off);
      const int nc = headDim / VEC;
      // four 16-byte loads in flight before their first use
      for (int c0 = 0; c0 < nc; c0 += 4) {
        uint4 raw[4];
#pragma unroll
        for (int u = 0; u < 4; u++) if (c0 + u < nc) raw[u] = kr[c0 + u];
#pragma unroll
        for (int u = 0; u < 4; u++) {
          if (c0 + u < nc) {
            int c = c0 + u;
            float kf[8];
            unpack16(raw[u], (const KV*)0, kf);
#pragma unroll
            for (int h = 0; h < MAX_HPB; h++) {
              if (h < hpb) {
                const float4* q4 = (const float4*)&sq[h][c * VEC];
#pragma unroll
                for (int e4 = 0; e4 < VEC / 4; e4++) {
                  float4 qv = q4[e4];
                  s[h] += qv.x * kf[4 * e4] + qv.y * kf[4 * e4 + 1] + qv.z * kf[4 * e4 + 2] + qv.w * kf[4 * e4 + 3];
                }
              }
            }
          }
        }
      }
    } else {
#pragma unroll
      for (int h = 0; h < MAX_HPB; h++) s[h] = -INFINITY;
    }
#pragma unroll
    for (int h = 0; h < MAX_HPB; h++) if (h < hpb) sp[h][tid] = s[h];
    __syncthreads();
    if (warp < hpb) {
      float mx = -INFINITY;
      for (int j = lane; j < ATT_THREADS; j += 32) mx = fmaxf(mx, sp[warp][j]);
      mx = warp_max(mx);
      float mOld = sm[warp];
      float mNew = fmaxf(mOld, mx);
      float sum = 0.f;
      for (int j = lane; j < ATT_THREADS; j += 32) {
        float v = sp[warp][j];
        float e = v == -INFINITY ? 0.f : expf(v - mNew);
        sp[warp][j] = e;
        sum += e;
      }
      sum = warp_sum(sum);
      if (lane == 0) {
        float corr = expf(mOld - mNew);
        scorr[warp] = corr;
        sl[warp] = sl[warp] * corr + sum;
        sm[warp] = mNew;
      }
    }
    __syncthreads();
    // P V: VEC dimensions (16 bytes) per thread; lanes = headDim / VEC threads cover one V row and
    // the ATT_THREADS / lanes key groups take every groups-th key of the tile
    {
      int lanesPerRow = headDim / VEC;
      int groupsPv = ATT_THREADS / lanesPerRow;
      int grp = tid / lanesPerRow, c = tid % lanesPerRow;
      int cnt = min(ATT_THREADS, k1 - tile);
#pragma unroll
      for (int h = 0; h < MAX_HPB; h++)
#pragma unroll
        for (int e = 0; e < 8; e++) if (h < hpb) pacc[h][e] *= scorr[h];
      if (grp < groupsPv) {
        for (int j0 = grp; j0 < cnt; j0 += 4 * groupsPv) {
          uint4 raw[4];
#pragma unroll
          for (int u = 0; u < 4; u++) {
            int j = j0 + u * groupsPv;
            if (j < cnt) raw[u] = ((const uint4*)(vBase + soff[j]))[c];
          }
#pragma unroll
          for (int u = 0; u < 4; u++) {
            int j = j0 + u * groupsPv;
            if (j < cnt) {
              float vf[8];
              unpack16(raw[u], (const KV*)0, vf);
#pragma unroll
              for (int h = 0; h < MAX_HPB; h++) {
                if (h < hpb) {
                  float pj = sp[h][j];
#pragma unroll
                  for (int e = 0; e < VEC; e++) pacc[h][e] += pj * vf[e];
                }
              }
            }
          }
        }
      }
    }
    __syncthreads();
  }
  // reduce the key groups: thread (grp, c) holds dims [c*VEC, (c+1)*VEC) of its group's sum
  {
    int lanesPerRow = headDim / VEC;
    int groupsPv = ATT_THREADS / lanesPerRow;
    int grp = tid / lanesPerRow;
    __shared__ float sred[ATT_THREADS][8 + 1];
#pragma unroll
    for (int h = 0; h < MAX_HPB; h++) {
      if (h < hpb) {  // uniform over the block: the barriers below are safe
#pragma unroll
        for (int e = 0; e < 8; e++) sred[tid][e] = (grp < groupsPv && e < VEC) ? pacc[h][e] : 0.f;
        __syncthreads();
        if (tid < headDim) {
          int cc = tid / VEC, e = tid % VEC;
          float a = 0.f;
          for (int g = 0; g < groupsPv; g++) a += sred[g * lanesPerRow + cc][e];
          acc[h] = a;
        }
        __syncthreads();
      }
    }
  }
  if (tid < headDim) {
    int rec = headDim + 2;
#pragma unroll
    for (int h = 0; h < MAX_HPB; h++) {
      if (h < hpb) {
        float* out = part + (((long long)t * nHeads + h0 + h) * splits + z) * rec;
        out[2 + tid] = acc[h];
        if (tid == 0) { out[0] = sm[h]; out[1] = sl[h]; }
      }
    }
  }
}
extern "C" __global__ void attn_partial_bf16(const float* qkv, const int* pos, const int* tableStart, const int* tables,
                                             const char* kBase, const char* vBase, float* part, int nHeads, int nKv,
                                             int headDim, int hpb, int blockSize, int blocksPerPage, long long pageBytes,
                                             float scale, int splits) {
  attn_partial<bf16_t>(qkv, pos, tableStart, tables, kBase, vBase, part, nHeads, nKv, headDim, hpb, blockSize,
                       blocksPerPage, pageBytes, scale, splits);
}
extern "C" __global__ void attn_partial_f32(const float* qkv, const int* pos, const int* tableStart, const int* tables,
                                            const char* kBase, const char* vBase, float* part, int nHeads, int nKv,
                                            int headDim, int hpb, int blockSize, int blocksPerPage, long long pageBytes,
                                            float scale, int splits) {
  attn_partial<float>(qkv, pos, tableStart, tables, kBase, vBase, part, nHeads, nKv, headDim, hpb, blockSize,
                      blocksPerPage, pageBytes, scale, splits);
}

// ---- merge the splits: out[t, head*headDim + d] = sum_z acc_z e^(m_z - M) / sum_z l_z e^(m_z - M) --
// grid (T, nHeads), block headDim (rounded up to 32).
template <typename O>
__device__ void attn_combine(const float* part, O* out, int nHeads, int headDim, int splits) {
  int t = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
  if (d >= headDim) return;
  int rec = headDim + 2;
  const float* base = part + ((long long)t * nHeads + h) * splits * rec;
  float M = -INFINITY;
  for (int z = 0; z < splits; z++) M = fmaxf(M, base[z * rec]);
  float L = 0.f, A = 0.f;
  for (int z = 0; z < splits; z++) {
    float mz = base[z * rec];
    if (mz == -INFINITY) continue;
    float c = expf(mz - M);
    L += base[z * rec + 1] * c;
    A += base[z * rec + 2 + d] * c;
  }
  st(out + (long long)t * nHeads * headDim + h * headDim + d, A / L);
}
extern "C" __global__ void attn_combine_bf16(const float* part, bf16_t* out, int nHeads, int headDim, int splits) { attn_combine(part, out, nHeads, headDim, splits); }
extern "C" __global__ void attn_combine_f32(const float* part, float* out, int nHeads, int headDim, int splits) { attn_combine(part, out, nHeads, headDim, splits); }

// ---- SwiGLU: out[t, i] = silu(gate[t, i]) * up[t, i]; h13 row = [gate (hidden) | up (hidden)] ---
template <typename O>
__device__ void swiglu(const float* h13, O* out, int hidden, long long total) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    long long t = i / hidden, c = i % hidden;
    float g = h13[t * 2 * hidden + c], u = h13[t * 2 * hidden + hidden + c];
    st(out + i, g * (1.0f / (1.0f + expf(-g))) * u);
  }
}
extern "C" __global__ void swiglu_bf16(const float* h13, bf16_t* out, int hidden, long long total) { swiglu(h13, out, hidden, total); }
extern "C" __global__ void swiglu_f32(const float* h13, float* out, int hidden, long long total) { swiglu(h13, out, hidden, total); }

// ---- residual add (x += y), used where a GEMM cannot accumulate in place ----------------------
extern "C" __global__ void residual_add(float* x, const float* y, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) x[i] += y[i];
}

// ---- greedy sampling: out[r] = first index of the maximum of logits[r, :] ----------------------
extern "C" __global__ void argmax_rows(const float* logits, int vocab, int* out) {
  __shared__ float bv[32];
  __shared__ int bi[32];
  int r = blockIdx.x;
  const float* row = logits + (long long)r * vocab;
  float best = -INFINITY;
  int idx = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    float v = row[i];
    if (v > best) { best = v; idx = i; }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, best, o);
    int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) { bv[warp] = best; bi[warp] = idx; }
  __syncthreads();
  if (warp == 0) {
    int nw = (blockDim.x + 31) >> 5;
    best = lane < nw ? bv[lane] : -INFINITY;
    idx = lane < nw ? bi[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      float ov = __shfl_xor_sync(0xffffffffu, best, o);
      int oi = __shfl_xor_sync(0xffffffffu, idx, o);
      if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
    }
    if (lane == 0) out[r] = idx == 0x7fffffff ? 0 : idx;
  }
}

// ---- random weights generated on the device (no host copy): a counter hash, uniform in [-a, a] --
__device__ __forceinline__ unsigned int mix32(unsigned long long x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
  return (unsigned int)x;
}
template <typename W>
__device__ void fill_uniform(W* p, long long n, unsigned long long seed, float a) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float u = (mix32(seed * 0x9e3779b97f4a7c15ULL + (unsigned long long)i) >> 8) * (1.0f / 16777216.0f);
    st(p + i, (2.f * u - 1.f) * a);
  }
}
extern "C" __global__ void fill_uniform_bf16(bf16_t* p, long long n, unsigned long long seed, float a) { fill_uniform(p, n, seed, a); }
extern "C" __global__ void fill_uniform_f32(float* p, long long n, unsigned long long seed, float a) { fill_uniform(p, n, seed, a); }
extern "C" __global__ void fill_const_f32(float* p, long long n, float v) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) p[i] = v;
}

// ---- skinny GEMM for decode: Y[t, r] = sum_c W[r, c] X[t, c] (+ Y[t, r]), T <= GEMV_MAX_T ---------
// bf16 W [out, in] and X [T, in], float32 Y [T, out]; one warp per output row r reads W's row once
// with 16-byte loads (coalesced) for all T tokens, whose X rows stay in L1/L2. For batch 1..8 this
// streams the weights closer to the memory bandwidth than a general GEMM tile does.
#define GEMV_MAX_T 8
template <int T>
__device__ void gemv(const bf16_t* W, const bf16_t* X, float* Y, int out, int in, int accumulate) {
  int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
  if (row >= out) return;
  const uint4* wr = (const uint4*)(W + (long long)row * in);
  float acc[T];
#pragma unroll
  for (int t = 0; t < T; t++) acc[t] = 0.f;
  int n16 = in / 8;
#pragma unroll 4
  for (int c = lane; c < n16; c += 32) {
    float wf[8];
    unpack16(__ldg(wr + c), (const bf16_t*)0, wf);
#pragma unroll
    for (int t = 0; t < T; t++) {
      float xf[8];
      unpack16(((const uint4*)(X + (long long)t * in))[c], (const bf16_t*)0, xf);
#pragma unroll
      for (int e = 0; e < 8; e++) acc[t] += wf[e] * xf[e];
    }
  }
#pragma unroll
  for (int t = 0; t < T; t++) {
    float s = warp_sum(acc[t]);
    if (lane == 0) {
      float* y = Y + (long long)t * out + row;
      *y = accumulate ? *y + s : s;
    }
  }
}
#define GEMV_T(n) extern "C" __global__ void gemv_bf16_##n(const bf16_t* W, const bf16_t* X, float* Y, int out, int in, int accumulate) { gemv<n>(W, X, Y, out, in, accumulate); }
GEMV_T(1) GEMV_T(2) GEMV_T(3) GEMV_T(4) GEMV_T(5) GEMV_T(6) GEMV_T(7) GEMV_T(8)
