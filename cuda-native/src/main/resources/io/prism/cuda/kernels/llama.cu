// Prism CUDA kernels for the Llama-family forward pass. Compiled at run time by NVRTC (no host
// headers, no cuda_bf16.h: bf16 is handled as raw 16-bit words), once per process, for the
// device's architecture (io.prism.cuda.KernelModule).
//
// Conventions
//   - The residual stream x and every GEMM output are float32; GEMM inputs (norm output, attention
//     output, SwiGLU output) and weights are "W" = bf16 (suffix _bf16) or float32 (suffix _f32).
//   - KV cache elements are "KV" = bf16 or float32; the cache is paged (io.prism.runtime.memory.KvCache):
//     per layer one K range and one V range; block b starts at byte
//       (b / blocksPerPage) * pageBytes + (b % blocksPerPage) * blockSize * kvDim * eb
//     of each range. Inside a block, element (slot s, KV head h, dimension d) is at byte
//       s * slotStride + h * headStride + d * eb
//     token-major (KvCache's picture): slotStride = kvDim * eb, headStride = headDim * eb;
//     head-major:                      slotStride = headDim * eb, headStride = blockSize * headDim * eb
//     (a block's rows of one KV head contiguous: what attention reads). kvOff[t] = block start +
//     slot * slotStride; writers add h * headStride + d * eb.
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
__device__ __forceinline__ float bf2f(bf16_t b) { return __uint_as_float(((unsigned int)b) << 16); }
__device__ __forceinline__ void st(float* p, float v) { *p = v; }
// a float slot that stores values rounded to bf16 (the fused GEMVs keep bf16-exact inputs in shared memory)
struct Bf16Rounded { float v; };
__device__ __forceinline__ void st(bf16_t* p, float v) { *p = f2bf(v); }
__device__ __forceinline__ void st(struct Bf16Rounded* p, float v) { p->v = __uint_as_float(((unsigned int)f2bf(v)) << 16); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// ---- programmatic dependent launch (Hopper, sm_90+): a kernel launched with the
// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION attribute may start while the previous
// kernel in the stream still runs. pdl_launch lets the next kernel's blocks be scheduled once every
// block of this one has started; pdl_wait blocks until the previous kernel has completed and its
// memory is visible. Every kernel of the forward pass calls both before touching activations, so
// the order of the stream holds transitively; only weights (never written during a step) may be
// read before pdl_wait. Without the attribute both are no-ops.
__device__ __forceinline__ void pdl_launch() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_wait() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
// pdl_late (set by the host, KernelModule.pdlLate): 0 lets the next kernel's blocks launch as soon
// as every block of this kernel has started; 1 only once each block finished its main work
// (pdl_done; blocks that exit count as done), so waiting blocks do not take resources early.
__constant__ int pdl_late;
__device__ __forceinline__ void pdl_early() { if (!pdl_late) pdl_launch(); }
__device__ __forceinline__ void pdl_done() { if (pdl_late) pdl_launch(); }
#define PDL_ENTRY() do { pdl_early(); pdl_wait(); } while (0)

// ---- embedding: x[t, :] = table[tokens[t], :] ------------------------------------------------
template <typename W>
__device__ void embed(const W* table, const int* tokens, float* x, int dim) {
  PDL_ENTRY();
  int t = blockIdx.x;
  const W* row = table + (long long)tokens[t] * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) x[(long long)t * dim + i] = ld(row + i);
}
extern "C" __global__ void embed_bf16(const bf16_t* table, const int* tokens, float* x, int dim) { embed(table, tokens, x, dim); }
extern "C" __global__ void embed_f32(const float* table, const int* tokens, float* x, int dim) { embed(table, tokens, x, dim); }

// ---- RMSNorm: out[r] = x[rows ? rows[r] : r] * rsqrt(mean(x^2) + eps) * w ------------------------
// block_rms_scale is shared with the fused decode GEMVs so both compute bit-identical norms (same
// block size, same summation order).
__device__ float block_rms_scale(const float* xr, int dim, float eps) {
  __shared__ float partial[32];
  __shared__ float scale;
  float ss = 0.f;
  if ((dim & 3) == 0 && (((unsigned long long)xr) & 15) == 0) {
    // 16-byte loads, four in flight per thread (a row is 4 per thread at dim 4096)
    const float4* x4 = (const float4*)xr;
    int n4 = dim >> 2;
#pragma unroll 4
    for (int i = threadIdx.x; i < n4; i += blockDim.x) {
      float4 v = x4[i];
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  } else {
#pragma unroll 4
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  }
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
  return scale;
}
// out[i] = o(w[i] * (s * xr[i])) for i < dim, by the block (16-byte loads when aligned)
template <typename O>
__device__ __forceinline__ void block_rms_apply(const float* xr, const float* w, float s, O* out, int dim) {
  if ((dim & 3) == 0 && (((unsigned long long)xr) & 15) == 0 && (((unsigned long long)w) & 15) == 0) {
    const float4* x4 = (const float4*)xr;
    const float4* w4 = (const float4*)w;
    int n4 = dim >> 2;
#pragma unroll 4
    for (int i = threadIdx.x; i < n4; i += blockDim.x) {
      float4 v = x4[i], g = w4[i];
      st(out + 4 * i, g.x * (s * v.x));
      st(out + 4 * i + 1, g.y * (s * v.y));
      st(out + 4 * i + 2, g.z * (s * v.z));
      st(out + 4 * i + 3, g.w * (s * v.w));
    }
  } else {
#pragma unroll 4
    for (int i = threadIdx.x; i < dim; i += blockDim.x) st(out + i, w[i] * (s * xr[i]));
  }
}
template <typename O>
__device__ void rmsnorm(const float* x, const float* w, O* out, const int* rows, int dim, float eps) {
  PDL_ENTRY();
  int r = blockIdx.x;
  const float* xr = x + (long long)(rows ? rows[r] : r) * dim;
  float s = block_rms_scale(xr, dim, eps);
  block_rms_apply(xr, w, s, out + (long long)r * dim, dim);
}
extern "C" __global__ void rmsnorm_bf16(const float* x, const float* w, bf16_t* out, const int* rows, int dim, float eps) { rmsnorm(x, w, out, rows, dim, eps); }
extern "C" __global__ void rmsnorm_f32(const float* x, const float* w, float* out, const int* rows, int dim, float eps) { rmsnorm(x, w, out, rows, dim, eps); }

// ---- RoPE on q and k (in place in the float32 qkv rows), then K and V into their cache slots ---
// grid (T, parts): the parts blocks of row t take consecutive slices of its pairs.
// qkv row t: [q (nHeads*headDim) | k (kvDim) | v (kvDim)]; kvOff[t] is the byte offset of token t's
// slot inside every layer's K and V range (-1: padding row, nothing written).
template <typename KV>
__device__ void rope_kv(float* qkv, const int* pos, const long long* kvOff, const float* invFreq,
                        char* kBase, char* vBase, int nHeads, int nKv, int headDim, long long headStride) {
  PDL_ENTRY();
  __shared__ float ssn[64], scs[64];  // headDim <= 128
  int t = blockIdx.x;
  int dim = nHeads * headDim, kvDim = nKv * headDim, stride = dim + 2 * kvDim;
  float* row = qkv + (long long)t * stride;
  int p = pos[t];
  int half = headDim / 2;
  for (int j = threadIdx.x; j < half; j += blockDim.x) sincosf((float)p * invFreq[j], &ssn[j], &scs[j]);
  __syncthreads();
  long long off = kvOff[t];
  int pairs = stride / 2;  // q, k, v as (2i, 2i+1) pairs; RoPE on q and k; gridDim.y blocks share a row
  int per = (pairs + gridDim.y - 1) / gridDim.y;
  int i0 = blockIdx.y * per, i1 = min(pairs, i0 + per);
#pragma unroll 4
  for (int i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
    float2 v = ((float2*)row)[i];
    int e = 2 * i;
    float a = v.x, b = v.y;
    if (e < dim + kvDim) {
      int j = (e % headDim) >> 1;
      float sn = ssn[j], cs = scs[j];
      float a2 = a * cs - b * sn, b2 = a * sn + b * cs;
      a = a2;
      b = b2;
      ((float2*)row)[i] = make_float2(a, b);
    }
    if (e >= dim && off >= 0) {
      bool isK = e < dim + kvDim;
      int k = e - dim - (isK ? 0 : kvDim);
      KV* d = (KV*)((isK ? kBase : vBase) + off + (k / headDim) * headStride) + k % headDim;
      st(d, a);
      st(d + 1, b);
    }
  }
}
extern "C" __global__ void rope_kv_bf16(float* qkv, const int* pos, const long long* kvOff, const float* invFreq,
                                        char* kBase, char* vBase, int nHeads, int nKv, int headDim, long long headStride) {
  rope_kv<bf16_t>(qkv, pos, kvOff, invFreq, kBase, vBase, nHeads, nKv, headDim, headStride);
}
extern "C" __global__ void rope_kv_f32(float* qkv, const int* pos, const long long* kvOff, const float* invFreq,
                                       char* kBase, char* vBase, int nHeads, int nKv, int headDim, long long headStride) {
  rope_kv<float>(qkv, pos, kvOff, invFreq, kBase, vBase, nHeads, nKv, headDim, headStride);
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
                             float scale, int splits, long long slotStride, long long headStride) {
  PDL_ENTRY();
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
          + (long long)(k % blockSize) * slotStride + (long long)kvh * headStride;
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
                                             float scale, int splits, long long slotStride, long long headStride) {
  attn_partial<bf16_t>(qkv, pos, tableStart, tables, kBase, vBase, part, nHeads, nKv, headDim, hpb, blockSize,
                       blocksPerPage, pageBytes, scale, splits, slotStride, headStride);
}
extern "C" __global__ void attn_partial_f32(const float* qkv, const int* pos, const int* tableStart, const int* tables,
                                            const char* kBase, const char* vBase, float* part, int nHeads, int nKv,
                                            int headDim, int hpb, int blockSize, int blocksPerPage, long long pageBytes,
                                            float scale, int splits, long long slotStride, long long headStride) {
  attn_partial<float>(qkv, pos, tableStart, tables, kBase, vBase, part, nHeads, nKv, headDim, hpb, blockSize,
                      blocksPerPage, pageBytes, scale, splits, slotStride, headStride);
}

// ---- paged decode attention: row groups of lanes per key (flash-decoding split over the keys) ----
// grid (T, nHeads / hpb, splits), block AD_THREADS (4 warps). Query row t's heads h0 .. h0+hpb-1
// (one GQA group: they share the KV head, so K and V are read once for all of them) attend keys
// [0, pos[t]]; split z takes keys [z*chunk, (z+1)*chunk) (chunk = ceil(n / eff)). A key's K and V
// rows (headDim elements, 16-byte aligned) are read by a group of nc = headDim / VEC lanes, 16 bytes
// each, so a warp reads 32 / nc whole rows per load: coalesced. A lane keeps its VEC dimensions of
// the hpb scaled query rows in registers; a key's scores are the group's partial dots summed by
// xor shuffles inside the group. Each warp takes U keys per group per step (the K and V loads of
// all of them in flight together), online softmax per group (running max, sum, accumulator of the
// lane's VEC dimensions). Warps and groups then merge in shared memory. Only the first eff =
// min(splits, n / minKeys) splits have keys (the others return at once). eff == 1: the block
// writes the normalised row into out; else a record (m, l, acc[headDim]) per (t, head, split) goes
// to part and the last of the eff blocks of the (t, head group) to arrive (counters[t * groups +
// hg], reset by it) merges the records into out: no second kernel.
// Requires headDim / VEC to be a power of two (<= 32).
#define AD_THREADS 128
#define AD_WARPS 4
#define AD_MAX_BLOCKS 512
// One step of attn_dec: U keys per lane group, their K and V 16-byte chunks (zero when past the end).
template <int U>
struct AdStep {
  uint4 k[U], v[U];
  bool valid[U];
};
template <typename KV, int U>
__device__ __forceinline__ void ad_load(AdStep<U>& st, int base, int k1, int kpi, int g, int c, bool staged, const long long* sblk,
                                        int b0, const int* table, int blockSize, int blocksPerPage, long long pageBytes,
                                        long long blockBytes, long long slotStride, long long headOff, const char* kBase,
                                        const char* vBase) {
#pragma unroll
  for (int u = 0; u < U; u++) {
    int key = base + u * kpi + g;
    st.valid[u] = key < k1;
    if (st.valid[u]) {
      long long off;
      if (staged) {
        off = sblk[key / blockSize - b0] + (long long)(key % blockSize) * slotStride + c * 16;
      } else {
        int b = table[key / blockSize];
        off = (long long)(b / blocksPerPage) * pageBytes + (long long)(b % blocksPerPage) * blockBytes
            + (long long)(key % blockSize) * slotStride + headOff;
      }
      st.k[u] = *(const uint4*)(kBase + off);
      st.v[u] = *(const uint4*)(vBase + off);
    } else {
      st.k[u] = make_uint4(0, 0, 0, 0);
      st.v[u] = make_uint4(0, 0, 0, 0);
    }
  }
}
// Scores of the step's keys (group xor-sum of the lanes' partial dots), online softmax per head,
// accumulation of the lane's VEC dimensions of P V.
template <typename KV, int U>
__device__ __forceinline__ void ad_step(const AdStep<U>& st, const float (&qf)[MAX_HPB][8], float (&m)[MAX_HPB], float (&l)[MAX_HPB],
                                        float (&acc)[MAX_HPB][8], int hpb, int nc) {
  const int VEC = 16 / sizeof(KV);
  float s[U][MAX_HPB];
#pragma unroll
  for (int u = 0; u < U; u++) {
    float kf[8];
    unpack16(st.k[u], (const KV*)0, kf);
#pragma unroll
    for (int h = 0; h < MAX_HPB; h++) {
      float d = 0.f;
#pragma unroll
      for (int e = 0; e < VEC; e++) d += qf[h][e] * kf[e];
      s[u][h] = d;
    }
  }
  for (int o = nc >> 1; o > 0; o >>= 1) {
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
      for (int h = 0; h < MAX_HPB; h++) s[u][h] += __shfl_xor_sync(0xffffffffu, s[u][h], o);
  }
  float vf[U][8];
#pragma unroll
  for (int u = 0; u < U; u++) unpack16(st.v[u], (const KV*)0, vf[u]);
#pragma unroll
  for (int h = 0; h < MAX_HPB; h++) {
    if (h < hpb) {
      float mx = -INFINITY;
#pragma unroll
      for (int u = 0; u < U; u++) if (st.valid[u]) mx = fmaxf(mx, s[u][h]);
      float mNew = fmaxf(m[h], mx);
      float corr = mNew == -INFINITY ? 1.f : __expf(m[h] - mNew);  // 0 on the group's first keys (fast exp: ex2.approx)
      float p[U], ps = 0.f;
#pragma unroll
      for (int u = 0; u < U; u++) {
        p[u] = st.valid[u] ? __expf(s[u][h] - mNew) : 0.f;
        ps += p[u];
      }
      l[h] = l[h] * corr + ps;
#pragma unroll
      for (int e = 0; e < 8; e++) {
        float a = acc[h][e] * corr;
#pragma unroll
        for (int u = 0; u < U; u++) a += p[u] * vf[u][e];
        acc[h][e] = a;
      }
      m[h] = mNew;
    }
  }
}
// ad_step for groups of 16 lanes per row (headDim = 16 * VEC: bf16 head dim 128) and U = 4: the
// 16 partial dots per lane (4 keys x 4 heads) are reduce-scattered over the group (xor 8, 4, 2, 1:
// 15 shuffles instead of 64), so lane c of the group ends with the score of key u = c / 4, head
// h = c % 4; it does that score's softmax (one exp), and the 16 probabilities and 4 rescale
// factors are broadcast back for P V. The running max and sum of head h live in the lanes with
// c % 4 == h (mloc, lloc).
__device__ __forceinline__ float sel4(const float (&a)[MAX_HPB], int i) {
  return i == 0 ? a[0] : i == 1 ? a[1] : i == 2 ? a[2] : a[3];
}
template <typename KV>
__device__ __forceinline__ void ad_step16(const AdStep<4>& st, const float (&qf)[MAX_HPB][8], float& mloc, float& lloc,
                                          float (&acc)[MAX_HPB][8], int hpb, int lane) {
  const int VEC = 16 / sizeof(KV);
  const unsigned FULL = 0xffffffffu;
  int c = lane & 15, gb = lane & ~15;
  float v[16];
#pragma unroll
  for (int u = 0; u < 4; u++) {
    float kf[8];
    unpack16(st.k[u], (const KV*)0, kf);
#pragma unroll
    for (int h = 0; h < 4; h++) {
      float d = 0.f;
#pragma unroll
      for (int e = 0; e < VEC; e++) d += qf[h][e] * kf[e];
      v[u * 4 + h] = d;
    }
  }
  float w8[8], w4[4], w2[2];
  bool b3 = c & 8, b2 = c & 4, b1 = c & 2, b0 = c & 1;
#pragma unroll
  for (int i = 0; i < 8; i++) w8[i] = (b3 ? v[i + 8] : v[i]) + __shfl_xor_sync(FULL, b3 ? v[i] : v[i + 8], 8);
#pragma unroll
  for (int i = 0; i < 4; i++) w4[i] = (b2 ? w8[i + 4] : w8[i]) + __shfl_xor_sync(FULL, b2 ? w8[i] : w8[i + 4], 4);
#pragma unroll
  for (int i = 0; i < 2; i++) w2[i] = (b1 ? w4[i + 2] : w4[i]) + __shfl_xor_sync(FULL, b1 ? w4[i] : w4[i + 2], 2);
  float sc = (b0 ? w2[1] : w2[0]) + __shfl_xor_sync(FULL, b0 ? w2[0] : w2[1], 1);
  int myu = c >> 2;
  bool myvalid = myu == 0 ? st.valid[0] : myu == 1 ? st.valid[1] : myu == 2 ? st.valid[2] : st.valid[3];
  float sv = myvalid ? sc : -INFINITY;
  float mx = fmaxf(sv, __shfl_xor_sync(FULL, sv, 4));
  mx = fmaxf(mx, __shfl_xor_sync(FULL, mx, 8));  // max over the 4 keys of this lane's head
  float mNew = fmaxf(mloc, mx);
  float corr = mNew == -INFINITY ? 1.f : __expf(mloc - mNew);
  float p = myvalid ? __expf(sv - mNew) : 0.f;
  float ps = p + __shfl_xor_sync(FULL, p, 4);
  ps += __shfl_xor_sync(FULL, ps, 8);
  lloc = lloc * corr + ps;
  mloc = mNew;
  float vf[4][8];
#pragma unroll
  for (int u = 0; u < 4; u++) unpack16(st.v[u], (const KV*)0, vf[u]);
#pragma unroll
  for (int h = 0; h < MAX_HPB; h++) {
    float ch = __shfl_sync(FULL, corr, gb + h);
    float ph[4];
#pragma unroll
    for (int u = 0; u < 4; u++) ph[u] = __shfl_sync(FULL, p, gb + u * 4 + h);
    if (h < hpb) {
#pragma unroll
      for (int e = 0; e < 8; e++) {
        float a = acc[h][e] * ch;
#pragma unroll
        for (int u = 0; u < 4; u++) a += ph[u] * vf[u][e];
        acc[h][e] = a;
      }
    }
  }
}
template <typename KV, typename O, int U, bool PIPE, bool FAST16 = false>
__device__ void attn_dec(const float* qkv, const int* pos, const int* tableStart, const int* tables,
                         const char* kBase, const char* vBase, float* part, int* counters, O* out,
                         int nHeads, int nKv, int headDim, int hpb, int blockSize, int blocksPerPage,
                         long long pageBytes, float scale, int splits, long long slotStride, long long headStride, int minKeys) {
  PDL_ENTRY();
  const int VEC = 16 / sizeof(KV);
  (void)VEC;
  __shared__ float swm[AD_WARPS][32][MAX_HPB], swl[AD_WARPS][32][MAX_HPB];
  __shared__ float sacc[AD_WARPS][32][MAX_HPB * 8 + 1];
  __shared__ int sLast;
  int t = blockIdx.x, hg = blockIdx.y, z = blockIdx.z, tid = threadIdx.x;
  int lane = tid & 31, warp = tid >> 5;
  int dim = nHeads * headDim, kvDim = nKv * headDim;
  int h0 = hg * hpb;
  int kvh = h0 / (nHeads / nKv);
  int n = pos[t] + 1;
  int eff = min(splits, max(1, n / minKeys));
  int chunk = (n + eff - 1) / eff;
  if (z >= eff) return;  // splits beyond eff (rows shorter than the graph's bound) have no keys
  int k0 = z * chunk, k1 = min(n, k0 + chunk);
  const int nc = headDim / VEC;  // lanes per row
  const int kpi = 32 / nc;       // rows per warp load
  int g = lane / nc, c = lane % nc;
  float qf[MAX_HPB][8];
  const float* qrow = qkv + (long long)t * (dim + 2 * kvDim) + h0 * headDim + c * VEC;
#pragma unroll
  for (int h = 0; h < MAX_HPB; h++)
#pragma unroll
    for (int e = 0; e < 8; e++) qf[h][e] = (h < hpb && e < VEC) ? qrow[h * headDim + e] * scale : 0.f;
  float m[MAX_HPB], l[MAX_HPB], acc[MAX_HPB][8];
  float mloc = -INFINITY, lloc = 0.f;  // FAST16: running max and sum of head (lane % 4)
#pragma unroll
  for (int h = 0; h < MAX_HPB; h++) {
    m[h] = -INFINITY;
    l[h] = 0.f;
#pragma unroll
    for (int e = 0; e < 8; e++) acc[h][e] = 0.f;
  }
  const int* table = tables + tableStart[t];
  long long blockBytes = (long long)blockSize * kvDim * sizeof(KV);
  long long headOff = (long long)kvh * headStride + c * 16;
  // byte offsets of the split's blocks, staged once (the per-key table read leaves the load chain)
  __shared__ long long sblk[AD_MAX_BLOCKS];
  int b0 = k0 / blockSize, nblk = (k1 - 1) / blockSize - b0 + 1;
  bool staged = nblk <= AD_MAX_BLOCKS;
  if (staged) {
    for (int i = tid; i < nblk; i += AD_THREADS) {
      int b = table[b0 + i];
      sblk[i] = (long long)(b / blocksPerPage) * pageBytes + (long long)(b % blocksPerPage) * blockBytes + (long long)kvh * headStride;
    }
  }
  __syncthreads();
  const int step = AD_WARPS * kpi * U;
  AdStep<U> cur, nxt;
  int base = k0 + warp * kpi * U;
#define AD_LOAD(st, b) ad_load<KV, U>(st, b, k1, kpi, g, c, staged, sblk, b0, table, blockSize, blocksPerPage, pageBytes, blockBytes, slotStride, headOff, kBase, vBase)
  if (PIPE && base < k1) AD_LOAD(cur, base);
  for (; base < k1; base += step) {
    if (PIPE) {
      if (base + step < k1) AD_LOAD(nxt, base + step);
    } else {
      AD_LOAD(cur, base);
    }
    if constexpr (FAST16 && U == 4) ad_step16<KV>(cur, qf, mloc, lloc, acc, hpb, lane);
    else ad_step<KV, U>(cur, qf, m, l, acc, hpb, nc);
    if (PIPE) cur = nxt;
  }
#undef AD_LOAD
  pdl_done();
  // merge the (warp, group) partial states
  if constexpr (FAST16) {
    if (c < MAX_HPB) {
      swm[warp][g][c] = mloc;
      swl[warp][g][c] = lloc;
    }
  }
#pragma unroll
  for (int h = 0; h < MAX_HPB; h++) {
    if (!FAST16 && c == 0) {
      swm[warp][g][h] = m[h];
      swl[warp][g][h] = l[h];
    }
#pragma unroll
    for (int e = 0; e < 8; e++) sacc[warp][lane][h * 8 + e] = acc[h][e];
  }
  __syncthreads();
  int rec = headDim + 2;
  for (int i = tid; i < hpb * headDim; i += AD_THREADS) {
    int h = i / headDim, d = i % headDim, cc = d / VEC, e = d % VEC;
    float M = -INFINITY;
    for (int w = 0; w < AD_WARPS; w++)
      for (int gg = 0; gg < kpi; gg++) M = fmaxf(M, swm[w][gg][h]);
    float L = 0.f, A = 0.f;
    if (M != -INFINITY) {
      for (int w = 0; w < AD_WARPS; w++) {
        for (int gg = 0; gg < kpi; gg++) {
          float mw = swm[w][gg][h];
          if (mw == -INFINITY) continue;
          float f = __expf(mw - M);
          L += swl[w][gg][h] * f;
          A += sacc[w][gg * nc + cc][h * 8 + e] * f;
        }
      }
    }
    if (eff == 1) {
      st(out + (long long)t * dim + (h0 + h) * headDim + d, A / L);
    } else {
      float* r = part + (((long long)t * nHeads + h0 + h) * splits + z) * rec;
      r[2 + d] = A;
      if (d == 0) { r[0] = M; r[1] = L; }
    }
  }
  if (eff == 1) return;
  __threadfence();
  __syncthreads();
  if (tid == 0) sLast = atomicAdd(&counters[t * gridDim.y + hg], 1) == eff - 1;
  __syncthreads();
  if (!sLast) return;
  __threadfence();
  // merge the eff records (other blocks' writes: L2 loads, __ldcg): warp h turns head h's maxima
  // and sums into normalised weights (lanes over the splits), then every thread sums its outputs
  {
    __shared__ float swt[MAX_HPB][64];  // eff <= 64 (the host caps splits at 64)
    if (warp < hpb) {
      const float* rb = part + ((long long)t * nHeads + h0 + warp) * splits * rec;
      float m0 = lane < eff ? __ldcg(rb + lane * rec) : -INFINITY;
      float m1 = lane + 32 < eff ? __ldcg(rb + (lane + 32) * rec) : -INFINITY;
      float l0 = lane < eff ? __ldcg(rb + lane * rec + 1) : 0.f;
      float l1 = lane + 32 < eff ? __ldcg(rb + (lane + 32) * rec + 1) : 0.f;
      float M = warp_max(fmaxf(m0, m1));
      float w0 = m0 == -INFINITY ? 0.f : __expf(m0 - M), w1 = m1 == -INFINITY ? 0.f : __expf(m1 - M);
      float L = warp_sum(l0 * w0 + l1 * w1);
      if (lane < eff) swt[warp][lane] = w0 / L;
      if (lane + 32 < eff) swt[warp][lane + 32] = w1 / L;
    }
    __syncthreads();
#pragma unroll 4
    for (int i = tid; i < hpb * headDim; i += AD_THREADS) {
      int h = i / headDim, d = i % headDim;
      const float* rb = part + ((long long)t * nHeads + h0 + h) * splits * rec + 2 + d;
      float A = 0.f;
#pragma unroll 8
      for (int zz = 0; zz < eff; zz++) A += swt[h][zz] * __ldcg(rb + zz * rec);
      st(out + (long long)t * dim + (h0 + h) * headDim + d, A);
    }
  }
  if (tid == 0) counters[t * gridDim.y + hg] = 0;
}
// attn_dec_<kv> (no register cap), attn_dec4_<kv> (capped for 4 blocks per SM) and attn_decp_<kv>
// (2 keys per group and step, the next step's K and V loaded before this step's math, 4 blocks per
// SM) and attn_dec16_<kv> (16 lanes per row only: reduce-scattered scores, ad_step16): the backend
// picks one (prism.cuda.attn.decode = auto | dec | dec4 | decp | dec16 | tile).
#define AD_KERNEL(name, minBlocks, KV, O, U, PIPE, FAST16)                                                                      \
  extern "C" __global__ void __launch_bounds__(AD_THREADS, minBlocks) name(                                   \
      const float* qkv, const int* pos, const int* tableStart, const int* tables, const char* kBase,         \
      const char* vBase, float* part, int* counters, O* out, int nHeads, int nKv, int headDim, int hpb,      \
      int blockSize, int blocksPerPage, long long pageBytes, float scale, int splits, long long slotStride,  \
      long long headStride, int minKeys) {                                                                   \
    attn_dec<KV, O, U, PIPE, FAST16>(qkv, pos, tableStart, tables, kBase, vBase, part, counters, out, nHeads, nKv, headDim,  \
                    hpb, blockSize, blocksPerPage, pageBytes, scale, splits, slotStride, headStride, minKeys); \
  }
AD_KERNEL(attn_dec_bf16, 1, bf16_t, bf16_t, 4, false, false)
AD_KERNEL(attn_dec_f32, 1, float, float, 4, false, false)
AD_KERNEL(attn_dec4_bf16, 4, bf16_t, bf16_t, 4, false, false)
AD_KERNEL(attn_dec4_f32, 4, float, float, 4, false, false)
AD_KERNEL(attn_decp_bf16, 4, bf16_t, bf16_t, 2, true, false)
AD_KERNEL(attn_decp_f32, 4, float, float, 2, true, false)
AD_KERNEL(attn_dec16_bf16, 4, bf16_t, bf16_t, 4, false, true)
AD_KERNEL(attn_dec16_f32, 4, float, float, 4, false, true)

// ---- merge the splits: out[t, head*headDim + d] = sum_z acc_z e^(m_z - M) / sum_z l_z e^(m_z - M) --
// grid (T, nHeads), block headDim (rounded up to 32).
template <typename O>
__device__ void attn_combine(const float* part, const int* pos, O* out, int nHeads, int headDim, int splits) {
  PDL_ENTRY();
  int t = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
  if (d >= headDim) return;
  int rec = headDim + 2;
  const float* base = part + ((long long)t * nHeads + h) * splits * rec;
  int eff = min(splits, max(1, (pos[t] + 1) / ATT_MIN_KEYS));  // attn_partial leaves the splits beyond empty
  float M = -INFINITY;
  for (int z = 0; z < eff; z++) M = fmaxf(M, base[z * rec]);
  float L = 0.f, A = 0.f;
  for (int z = 0; z < eff; z++) {
    float mz = base[z * rec];
    if (mz == -INFINITY) continue;
    float c = expf(mz - M);
    L += base[z * rec + 1] * c;
    A += base[z * rec + 2 + d] * c;
  }
  st(out + (long long)t * nHeads * headDim + h * headDim + d, A / L);
}
extern "C" __global__ void attn_combine_bf16(const float* part, const int* pos, bf16_t* out, int nHeads, int headDim, int splits) { attn_combine(part, pos, out, nHeads, headDim, splits); }
extern "C" __global__ void attn_combine_f32(const float* part, const int* pos, float* out, int nHeads, int headDim, int splits) { attn_combine(part, pos, out, nHeads, headDim, splits); }

// ---- SwiGLU: out[t, i] = silu(gate[t, i]) * up[t, i]; h13 row = [gate (hidden) | up (hidden)] ---
template <typename O>
__device__ void swiglu(const float* h13, O* out, int hidden, long long total) {
  PDL_ENTRY();
  if ((hidden & 3) == 0) {  // four elements per thread, 16-byte loads
    long long total4 = total >> 2;
    int h4 = hidden >> 2;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total4; i += (long long)gridDim.x * blockDim.x) {
      long long t = i / h4;
      int c = (int)(i - t * h4);
      float4 g = ((const float4*)(h13 + t * 2 * hidden))[c];
      float4 u = ((const float4*)(h13 + t * 2 * hidden + hidden))[c];
      O* o = out + t * hidden + 4 * c;
      st(o, g.x * (1.0f / (1.0f + expf(-g.x))) * u.x);
      st(o + 1, g.y * (1.0f / (1.0f + expf(-g.y))) * u.y);
      st(o + 2, g.z * (1.0f / (1.0f + expf(-g.z))) * u.z);
      st(o + 3, g.w * (1.0f / (1.0f + expf(-g.w))) * u.w);
    }
    return;
  }
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    long long t = i / hidden, c = i % hidden;
    float g = h13[t * 2 * hidden + c], u = h13[t * 2 * hidden + hidden + c];
    st(out + i, g * (1.0f / (1.0f + expf(-g))) * u);
  }
}
extern "C" __global__ void swiglu_bf16(const float* h13, bf16_t* out, int hidden, long long total) { swiglu(h13, out, hidden, total); }
extern "C" __global__ void swiglu_f32(const float* h13, float* out, int hidden, long long total) { swiglu(h13, out, hidden, total); }

// ---- Qwen extras on the float32 qkv rows, before RoPE --------------------------------------------
// grid (T, heads): block (t, h) owns head h of row t, heads ordered q (nHeads), k (nKv), v (nKv).
// bias (Qwen2, [qDim + 2 kvDim] per layer, or null): added to every head; qNorm / kNorm (Qwen3,
// [headDim] per layer, or null): RMSNorm of each q / k head, the same formula as rmsnorm
// (w * (x * rsqrt(mean(x^2) + eps))). Launch heads = nHeads + 2 nKv with a bias, else nHeads + nKv.
extern "C" __global__ void qkv_bias_norm(float* qkv, const float* bias, const float* qNorm, const float* kNorm,
                                         int nHeads, int nKv, int headDim, float eps) {
  PDL_ENTRY();
  int t = blockIdx.x, h = blockIdx.y;
  float* row = qkv + (long long)t * (nHeads + 2 * nKv) * headDim + (long long)h * headDim;
  if (bias) {
    for (int i = threadIdx.x; i < headDim; i += blockDim.x) row[i] += bias[h * headDim + i];
    __syncthreads();
  }
  const float* g = h < nHeads ? qNorm : h < nHeads + nKv ? kNorm : 0;  // uniform in the block
  if (g) {
    float s = block_rms_scale(row, headDim, eps);
    for (int i = threadIdx.x; i < headDim; i += blockDim.x) row[i] = g[i] * (s * row[i]);
  }
}

// ---- residual add (x += y), used where a GEMM cannot accumulate in place ----------------------
extern "C" __global__ void residual_add(float* x, const float* y, long long n) {
  PDL_ENTRY();
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) x[i] += y[i];
}

// ---- greedy sampling: out[r] = first index of the maximum of logits[r, :] ----------------------
extern "C" __global__ void argmax_rows(const float* logits, int vocab, int* out) {
  PDL_ENTRY();
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
  PDL_ENTRY();
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

// ---- fused single-token decode GEMVs (bf16 weights, float32 accumulation) ----------------------
// One warp per "unit" of NR weight rows, upw consecutive units per warp, GV_WARPS warps per block.
// A lane takes the 16-byte chunks c = lane, lane + 32, ... of each row (the same per-lane order as
// gemv_bf16_1, so sums are bit-identical to it), GV_U chunks per row in flight. The first chunk of
// the warp's first unit is loaded before pdl_wait: weights never change during a step, so that
// load overlaps the previous kernel's tail. Inputs:
//   RMS:  x is the float32 residual row (xrow ? xrow[0] : 0); the block computes
//         bf16(g * (x * rsqrt(mean(x^2) + eps))) into shared memory exactly as rmsnorm_bf16 does
//         (blockDim must be GV_THREADS = rmsnorm's 256): the separate RMSNorm kernel disappears.
//   else: X is a bf16 row [in] in global memory.
// Epilogues (lane 0 of the warp, per unit u):
//   GV_STORE   (NR 1): Y[u] = s
//   GV_ACC     (NR 1): Y[u] += s                    (the residual add)
//   GV_SWIGLU  (NR 2, rows u and u + hidden): H[u] = bf16(silu(s0) * s1)  (as swiglu_bf16)
//   GV_ACC2 / GV_STORE2 (NR 2, rows 2u and 2u + 1): as GV_ACC / GV_STORE for both rows (two rows
//              per warp keep 8 loads per row in flight and whole rounds for in = 14336)
//   GV_ROPE    (NR 2, rows 2u and 2u + 1 of wqkv): RoPE of the pair when it is in q or k (as rope_kv),
//              Y[2u], Y[2u + 1] = the pair; k and v pairs also go to their bf16 cache slots.
#define GV_THREADS 256
#define GV_WARPS 8
// GV_U: 16-byte loads per lane per row in flight: 16 for one row (wo, w2, classifier), 8 for pairs
#define GV_U (16 / NR)
#define GV_STORE 0
#define GV_ACC 1
#define GV_SWIGLU 2
#define GV_ROPE 3
#define GV_ACC2 4
#define GV_STORE2 5
__device__ __forceinline__ uint4 ld_stream(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
  return r;
}
struct GemvRope {
  const int* pos;
  const long long* kvOff;
  const float* invFreq;
  char* kBase;
  char* vBase;
  int dim, kvDim, headDim;
  long long headStride;
};
template <int NR, int MODE, bool RMS>
__device__ void gemv_fused(const bf16_t* __restrict__ W, long long rowStride, long long unitStride,
                           const void* X, const float* g, const int* xrow, float eps, int units, int in, int upw,
                           float* Y, bf16_t* H, GemvRope rp) {
  extern __shared__ __align__(16) float xs[];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int u0 = (blockIdx.x * GV_WARPS + warp) * upw;
  int u1 = min(units, u0 + upw);
  int n16 = in >> 3;
  uint4 buf[NR][GV_U];
  pdl_early();
  if (u0 < u1) {
#pragma unroll
    for (int k = 0; k < NR; k++) {
      const uint4* wr = (const uint4*)(W + u0 * unitStride + k * rowStride);
#pragma unroll
      for (int v = 0; v < GV_U; v++) {
        int c = v * 32 + lane;
        if (c < n16) buf[k][v] = ld_stream(wr + c);
      }
    }
  }
  pdl_wait();
  if (RMS) {
    const float* xr = (const float*)X + (long long)(xrow ? xrow[0] : 0) * in;
    float s = block_rms_scale(xr, in, eps);
    block_rms_apply(xr, g, s, (Bf16Rounded*)xs, in);
    __syncthreads();
  }
  const uint4* xg = (const uint4*)X;
  for (int u = u0; u < u1; u++) {
    float acc[NR];
#pragma unroll
    for (int k = 0; k < NR; k++) acc[k] = 0.f;
    for (int c0 = 0; c0 < n16; c0 += 32 * GV_U) {
      if (u != u0 || c0 != 0) {
#pragma unroll
        for (int k = 0; k < NR; k++) {
          const uint4* wr = (const uint4*)(W + u * unitStride + k * rowStride);
#pragma unroll
          for (int v = 0; v < GV_U; v++) {
            int c = c0 + v * 32 + lane;
            if (c < n16) buf[k][v] = ld_stream(wr + c);
          }
        }
      }
#pragma unroll
      for (int v = 0; v < GV_U; v++) {
        int c = c0 + v * 32 + lane;
        if (c < n16) {
          float xf[8];
          if (RMS) {
            float4 a = ((const float4*)xs)[2 * c], b = ((const float4*)xs)[2 * c + 1];
            xf[0] = a.x; xf[1] = a.y; xf[2] = a.z; xf[3] = a.w; xf[4] = b.x; xf[5] = b.y; xf[6] = b.z; xf[7] = b.w;
          } else {
            unpack16(xg[c], (const bf16_t*)0, xf);
          }
#pragma unroll
          for (int k = 0; k < NR; k++) {
            float wf[8];
            unpack16(buf[k][v], (const bf16_t*)0, wf);
#pragma unroll
            for (int e = 0; e < 8; e++) acc[k] += wf[e] * xf[e];
          }
        }
      }
    }
    float s0 = warp_sum(acc[0]);
    float s1 = NR > 1 ? warp_sum(acc[NR - 1]) : 0.f;
    if (lane == 0) {
      if (MODE == GV_STORE) {
        Y[u] = s0;
      } else if (MODE == GV_ACC) {
        Y[u] = Y[u] + s0;
      } else if (MODE == GV_ACC2) {
        Y[2 * u] = Y[2 * u] + s0;
        Y[2 * u + 1] = Y[2 * u + 1] + s1;
      } else if (MODE == GV_STORE2) {
        Y[2 * u] = s0;
        Y[2 * u + 1] = s1;
      } else if (MODE == GV_SWIGLU) {
        H[u] = f2bf(s0 * (1.0f / (1.0f + expf(-s0))) * s1);
      } else {  // GV_ROPE
        int r = 2 * u;
        float a = s0, b = s1;
        if (r < rp.dim + rp.kvDim) {
          int j = (r % rp.headDim) >> 1;
          float sn, cs;
          sincosf((float)rp.pos[0] * rp.invFreq[j], &sn, &cs);
          float a2 = a * cs - b * sn, b2 = a * sn + b * cs;
          a = a2;
          b = b2;
        }
        Y[r] = a;
        Y[r + 1] = b;
        long long off = rp.kvOff[0];
        if (r >= rp.dim && off >= 0) {
          bool isK = r < rp.dim + rp.kvDim;
          int i = r - rp.dim - (isK ? 0 : rp.kvDim);
          bf16_t* dst = (bf16_t*)((isK ? rp.kBase : rp.vBase) + off + (i / rp.headDim) * rp.headStride) + i % rp.headDim;
          dst[0] = f2bf(a);
          dst[1] = f2bf(b);
        }
      }
    }
  }
  pdl_done();
}
// y[u] (+)= W[u, :] . bf16(rmsnorm(x) * g) or . X; rows = units
extern "C" __global__ void __launch_bounds__(GV_THREADS) gemv1_rms_store(const bf16_t* W, const float* x, const float* g, const int* xrow, float eps,
                                                                          int rows, int in, int upw, float* Y) {
  gemv_fused<1, GV_STORE, true>(W, 0, in, x, g, xrow, eps, rows, in, upw, Y, 0, GemvRope{});
}
extern "C" __global__ void __launch_bounds__(GV_THREADS) gemv1_acc(const bf16_t* W, const bf16_t* X, int rows, int in, int upw, float* Y) {
  gemv_fused<1, GV_ACC, false>(W, 0, in, X, 0, 0, 0.f, rows, in, upw, Y, 0, GemvRope{});
}
extern "C" __global__ void __launch_bounds__(GV_THREADS) gemv1_store(const bf16_t* W, const bf16_t* X, int rows, int in, int upw, float* Y) {
  gemv_fused<1, GV_STORE, false>(W, 0, in, X, 0, 0, 0.f, rows, in, upw, Y, 0, GemvRope{});
}
// the same over row pairs (rows even): units = rows / 2
extern "C" __global__ void __launch_bounds__(GV_THREADS) gemv2_rms_store(const bf16_t* W, const float* x, const float* g, const int* xrow, float eps,
                                                                          int rows, int in, int upw, float* Y) {
  gemv_fused<2, GV_STORE2, true>(W, in, 2LL * in, x, g, xrow, eps, rows / 2, in, upw, Y, 0, GemvRope{});
}
extern "C" __global__ void __launch_bounds__(GV_THREADS) gemv2_acc(const bf16_t* W, const bf16_t* X, int rows, int in, int upw, float* Y) {
  gemv_fused<2, GV_ACC2, false>(W, in, 2LL * in, X, 0, 0, 0.f, rows / 2, in, upw, Y, 0, GemvRope{});
}
// w13 = [w1; w3] ([2 hidden, in]): H[i] = bf16(silu(w1_i . xh) * (w3_i . xh)), xh = bf16(rmsnorm(x) * g)
extern "C" __global__ void __launch_bounds__(GV_THREADS) gemv1_rms_swiglu(const bf16_t* W13, const float* x, const float* g, float eps,
                                                                          int hidden, int in, int upw, bf16_t* H) {
  gemv_fused<2, GV_SWIGLU, true>(W13, (long long)hidden * in, in, x, g, 0, eps, hidden, in, upw, 0, H, GemvRope{});
}
// wqkv ([dim + 2 kvDim, in]): qkv = wqkv . bf16(rmsnorm(x) * g), RoPE on q and k at pos[0], k and v
// into their cache slots at byte offset kvOff[0] (skipped when negative)
extern "C" __global__ void __launch_bounds__(GV_THREADS) gemv1_rms_qkv_rope(const bf16_t* W, const float* x, const float* g, float eps,
                                                                             int in, int upw, float* qkv, const int* pos,
                                                                             const long long* kvOff, const float* invFreq, char* kBase,
                                                                             char* vBase, int dim, int kvDim, int headDim,
                                                                             long long headStride) {
  GemvRope rp{pos, kvOff, invFreq, kBase, vBase, dim, kvDim, headDim, headStride};
  gemv_fused<2, GV_ROPE, true>(W, in, 2LL * in, x, g, 0, eps, (dim + 2 * kvDim) / 2, in, upw, qkv, 0, rp);
}

// ---- temperature / top-k / top-p sampling: one block (1024 threads) per row ----------------------
// params[r] = {temperature, topP, topK (as float), u in [0,1)}. p_i = softmax(logits / temperature).
// Kept set = {p_i >= c}: c is the k-th largest probability (topK in (0, vocab)), then raised to the
// largest probability value whose mass {p >= c} still reaches topP * (mass kept by top-k): llama2.c's
// sample_topp (smallest most-likely prefix with cumulative mass >= topP), found by a binary search on
// the float bits of the cutoff (non-negative floats order like their bits) instead of a sort. Then
// r = u * mass(kept) and the first kept token in index order whose running sum exceeds r is out[r].
// temperature <= 0: the first index of the maximum (argmax_rows). Ties at the cutoff keep every tied token.
__device__ __forceinline__ void block_sum2(float& a, float& b, float* sa, float* sb) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) { a += __shfl_xor_sync(0xffffffffu, a, o); b += __shfl_xor_sync(0xffffffffu, b, o); }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) { sa[warp] = a; sb[warp] = b; }
  __syncthreads();
  a = lane < nw ? sa[lane] : 0.f; b = lane < nw ? sb[lane] : 0.f;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) { a += __shfl_xor_sync(0xffffffffu, a, o); b += __shfl_xor_sync(0xffffffffu, b, o); }
}

// Bias and penalties as sparse per-row updates (io.prism.runtime.sampling.LogitAdjustment): row r
// changes only the tokens tokens[starts[r] .. starts[r+1]), each by x' = (x + c.x) * (x + c.x > 0 ? c.y : c.z)
// + c.w, rounded per operation exactly as the host's float arithmetic (no fused multiply-add). Tokens
// within a row are distinct, so threads never race. Grid: one block per row.
extern "C" __global__ void adjust_logits(float* logits, int vocab, const int* starts, const int* tokens, const float4* coef) {
  PDL_ENTRY();
  float* row = logits + (long long)blockIdx.x * vocab;
  int from = starts[blockIdx.x], to = starts[blockIdx.x + 1];
  for (int j = from + (int)threadIdx.x; j < to; j += blockDim.x) {
    int t = tokens[j];
    if (t < 0 || t >= vocab) continue;
    float4 c = coef[j];
    float y = __fadd_rn(row[t], c.x);
    row[t] = __fadd_rn(__fmul_rn(y, y > 0.f ? c.y : c.z), c.w);
  }
}

// Block-wide (max value, lowest index among equal maxima); every thread gets the result.
__device__ __forceinline__ void block_argmax(float& best, int& idx, float* sa, int* si) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, best, o); int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  __syncthreads(); // earlier readers of sa / si are done
  if (lane == 0) { sa[warp] = best; si[warp] = idx; }
  __syncthreads();
  best = lane < nw ? sa[lane] : -INFINITY; idx = lane < nw ? si[lane] : 0x7fffffff;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, best, o); int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
  }
}

#define LOGPROB_STRIDE 41  // per row: [chosen logprob][20 ids as int bits][20 logprobs]
#define LOGPROB_MAX_TOP 20

// Log probabilities of the distribution the sampler draws from, before its truncations
// (io.prism.runtime.sampling.Sampler#logprobs): lp(i) = (x_i - max) * inv - log(sum exp((x - max) * inv)),
// inv = 1 / temperature (1 when greedy). Writes the chosen token's value and the topN most likely
// tokens (value descending, lower id on ties): topN passes, each the block argmax over the tokens
// strictly after the previous pick in that order, so only 1 + 2 * topN numbers per row leave the
// device. params: 2 float4 per row (x = temperature). Grid: one block per row.
extern "C" __global__ void logprobs_rows(const float* logits, int vocab, const float4* params, const int* chosen, int topN, float* out) {
  PDL_ENTRY();
  __shared__ float sa[32], sb[32];
  __shared__ int si[32];
  const float* row = logits + (long long)blockIdx.x * vocab;
  float temp = params[2 * blockIdx.x].x;
  float inv = temp > 0.f ? 1.f / temp : 1.f;
  float best = -INFINITY; int idx = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) { float v = row[i]; if (v > best) { best = v; idx = i; } }
  block_argmax(best, idx, sa, si);
  float s = 0.f, dummy = 0.f;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += expf((row[i] - best) * inv);
  block_sum2(s, dummy, sa, sb);
  float logZ = logf(s);
  float* o = out + (long long)blockIdx.x * LOGPROB_STRIDE;
  if (threadIdx.x == 0) o[0] = (row[chosen[blockIdx.x]] - best) * inv - logZ;
  float prevV = INFINITY; int prevI = -1;
  for (int k = 0; k < topN && k < LOGPROB_MAX_TOP; k++) {
    float bv = -INFINITY; int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      float v = row[i];
      bool after = v < prevV || (v == prevV && i > prevI);
      if (after && (v > bv || (v == bv && i < bi))) { bv = v; bi = i; }
    }
    block_argmax(bv, bi, sa, si);
    if (threadIdx.x == 0) {
      o[1 + k] = __int_as_float(bi);
      o[1 + LOGPROB_MAX_TOP + k] = (bv - best) * inv - logZ;
    }
    prevV = bv; prevI = bi;
  }
}

// params: 2 float4 per row: {temperature, topP, topK, coin}, {minP, 0, 0, 0}.
extern "C" __global__ void sample_rows(const float* logits, int vocab, const float4* params, int* out) {
  PDL_ENTRY();
  __shared__ float sa[32], sb[32];
  __shared__ int si[32];
  __shared__ int pick, lastKept;
  __shared__ float keptTotal;
  const float* row = logits + (long long)blockIdx.x * vocab;
  float4 prm = params[2 * blockIdx.x];
  float minP = params[2 * blockIdx.x + 1].x;
  float temp = prm.x, topP = prm.y, u = prm.w;
  int topK = (int)prm.z;
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  // max and first index of the max
  float best = -INFINITY; int idx = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) { float v = row[i]; if (v > best) { best = v; idx = i; } }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, best, o); int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
  }
  if (lane == 0) { sa[warp] = best; si[warp] = idx; }
  __syncthreads();
  best = lane < nw ? sa[lane] : -INFINITY; idx = lane < nw ? si[lane] : 0x7fffffff;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, best, o); int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
  }
  if (temp <= 0.f) { if (threadIdx.x == 0) out[blockIdx.x] = idx; return; }
  float inv = 1.f / temp;
  float s = 0.f, dummy = 0.f;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += __expf((row[i] - best) * inv);
  block_sum2(s, dummy, sa, sb);
  float invS = 1.f / s;
  // probability of token i: __expf((row[i] - best) * inv) * invS
  unsigned int lo = 0u, hi = __float_as_uint(invS); // the cutoff lies in [0, pmax]
  float keptMass = 1.f;
  bool truncated = false;
  if (minP > 0.f) { lo = __float_as_uint(fminf(minP * invS, invS)); truncated = true; } // min-p: p >= minP * pmax
  if (topK > 0 && topK < vocab) { // largest cutoff >= the min-p floor with count(p >= c) >= topK
    while (lo < hi) {
      unsigned int mid = lo + (hi - lo + 1) / 2; float c = __uint_as_float(mid);
      float cnt = 0.f, m = 0.f;
      for (int i = threadIdx.x; i < vocab; i += blockDim.x) { float p = __expf((row[i] - best) * inv) * invS; if (p >= c) cnt += 1.f; }
      block_sum2(cnt, m, sa, sb);
      if (cnt >= (float)topK) lo = mid; else hi = mid - 1;
    }
    truncated = true;
    hi = __float_as_uint(invS);
  }
  if (truncated) { // the mass min-p and top-k leave: top-p's reference
    float m = 0.f, d = 0.f; float c = __uint_as_float(lo);
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) { float p = __expf((row[i] - best) * inv) * invS; if (p >= c) m += p; }
    block_sum2(m, d, sa, sb);
    keptMass = m;
  }
  if (topP < 1.f) { // largest cutoff >= lo with mass(p >= c) >= topP * keptMass
    float target = topP * keptMass;
    while (lo < hi) {
      unsigned int mid = lo + (hi - lo + 1) / 2; float c = __uint_as_float(mid);
      float m = 0.f, d = 0.f;
      for (int i = threadIdx.x; i < vocab; i += blockDim.x) { float p = __expf((row[i] - best) * inv) * invS; if (p >= c) m += p; }
      block_sum2(m, d, sa, sb);
      if (m >= target) lo = mid; else hi = mid - 1;
    }
  }
  float cut = __uint_as_float(lo);
  // each thread owns a contiguous chunk; block exclusive scan of the chunks' kept mass
  int chunk = (vocab + blockDim.x - 1) / blockDim.x;
  int from = min(vocab, (int)threadIdx.x * chunk), to = min(vocab, from + chunk);
  float local = 0.f; int myLast = -1;
  for (int i = from; i < to; i++) { float p = __expf((row[i] - best) * inv) * invS; if (p >= cut) { local += p; myLast = i; } }
  float incl = local;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) { float n = __shfl_up_sync(0xffffffffu, incl, o); if (lane >= o) incl += n; }
  if (threadIdx.x == 0) { pick = -1; lastKept = -1; }
  __syncthreads();
  if (lane == 31) sa[warp] = incl;
  if (myLast >= 0) atomicMax(&lastKept, myLast);
  __syncthreads();
  if (warp == 0) {
    float w = lane < nw ? sa[lane] : 0.f, wi = w;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) { float n = __shfl_up_sync(0xffffffffu, wi, o); if (lane >= o) wi += n; }
    sb[lane] = wi - w; // exclusive prefix of each warp
    if (lane == 31) keptTotal = wi;
  }
  __syncthreads();
  float total = keptTotal;
  float prefix = sb[warp] + incl - local;
  float r = u * total;
  if (local > 0.f && r >= prefix && r < prefix + local) {
    float cdf = prefix; int chosen = myLast;
    for (int i = from; i < to; i++) {
      float p = __expf((row[i] - best) * inv) * invS;
      if (p >= cut) { cdf += p; if (r < cdf) { chosen = i; break; } }
    }
    atomicMax(&pick, chosen);
  }
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = pick >= 0 ? pick : lastKept;
}
