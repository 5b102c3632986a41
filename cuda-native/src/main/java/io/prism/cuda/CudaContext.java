package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;
import static io.prism.cuda.CudaCheck.checkBlas;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Pointer;

/**
 * One GPU's driver state: its primary context (shared with the CUDA runtime, so cuBLAS and the
 * driver API see the same context), one non-blocking stream that every launch and copy of this
 * device goes to, a cuBLAS handle bound to that stream with a fixed workspace (so GEMMs can be
 * captured in CUDA graphs), and the NVRTC-compiled kernel module.
 *
 * <p>Created only through {@link #open(int)}; nothing native runs in a constructor. Threading: the
 * context is made current on the calling thread by {@link #makeCurrent()}; every user calls it
 * first, and all calls come from the one thread that owns the device (DESIGN.md section 2).
 */
final class CudaContext implements AutoCloseable {
  private static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;
  private static boolean initialised;

  final int ordinal;
  final String name;
  final int computeMajor;
  final int computeMinor;
  final int multiprocessors;
  final long totalMemoryBytes;
  final CUctx_st context;
  final CUstream_st stream;
  final cublasContext blas;
  final KernelModule kernels;
  private final long blasWorkspace;
  private boolean closed;

  private CudaContext(int ordinal, String name, int major, int minor, int sms, long total, CUctx_st ctx,
      CUstream_st stream, cublasContext blas, long blasWorkspace, KernelModule kernels) {
    this.ordinal = ordinal;
    this.name = name;
    this.computeMajor = major;
    this.computeMinor = minor;
    this.multiprocessors = sms;
    this.totalMemoryBytes = total;
    this.context = ctx;
    this.stream = stream;
    this.blas = blas;
    this.blasWorkspace = blasWorkspace;
    this.kernels = kernels;
  }

  /**
   * {@code cuInit} once per process.
   *
   * @throws io.prism.runtime.memory.DeviceException naming {@code cuInit}: status -1 when the CUDA
   *     driver or the CUDA 13 libraries (libcuda.so.1, libcudart.so.13, libcublas.so.13,
   *     libnvrtc.so.13) cannot be loaded, else the driver's status
   */
  static synchronized void initDriver() {
    if (initialised) return;
    int status;
    try {
      status = cudart.cuInit(0);
    } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
      throw new io.prism.runtime.memory.DeviceException("cuInit", -1, "CUDA driver or libraries not found (" + e.getMessage()
          + "); install the NVIDIA driver and the CUDA 13 runtime libraries (cudart, cublas, nvrtc), add their directory to LD_LIBRARY_PATH, or run with --backend host");
    }
    check("cuInit", status);
    initialised = true;
  }

  /** GPUs visible to this process ({@code cuDeviceGetCount}). */
  static int deviceCount() {
    initDriver();
    int[] n = new int[1];
    check("cuDeviceGetCount", cudart.cuDeviceGetCount(n));
    return n[0];
  }

  /**
   * Retains GPU {@code ordinal}'s primary context, makes it current on this thread, creates the
   * stream and the cuBLAS handle and loads the kernels (compiling them on first use in the process).
   *
   * @throws io.prism.runtime.memory.DeviceException naming the failed call
   */
  static CudaContext open(int ordinal) {
    initDriver();
    int[] dev = new int[1];
    check("cuDeviceGet", cudart.cuDeviceGet(dev, ordinal));
    byte[] nameBytes = new byte[256];
    check("cuDeviceGetName", cudart.cuDeviceGetName(nameBytes, nameBytes.length, dev[0]));
    int len = 0;
    while (len < nameBytes.length && nameBytes[len] != 0) len++;
    String name = new String(nameBytes, 0, len, java.nio.charset.StandardCharsets.US_ASCII);
    int major = attribute(cudart.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev[0]);
    int minor = attribute(cudart.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev[0]);
    int sms = attribute(cudart.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev[0]);
    long total;
    try (org.bytedeco.javacpp.SizeTPointer t = new org.bytedeco.javacpp.SizeTPointer(1)) {
      check("cuDeviceTotalMem", cudart.cuDeviceTotalMem(t, dev[0]));
      total = t.get();
    }
    CUctx_st ctx = new CUctx_st();
    check("cuDevicePrimaryCtxRetain", cudart.cuDevicePrimaryCtxRetain(ctx, dev[0]));
    check("cuCtxSetCurrent", cudart.cuCtxSetCurrent(ctx));
    CUstream_st stream = new CUstream_st();
    check("cuStreamCreate", cudart.cuStreamCreate(stream, cudart.CU_STREAM_NON_BLOCKING));
    cublasContext blas = new cublasContext();
    checkBlas("cublasCreate_v2", cublas.cublasCreate_v2(blas));
    checkBlas("cublasSetStream_v2", cublas.cublasSetStream_v2(blas, stream));
    long[] ws = new long[1];
    check("cuMemAlloc(cublas workspace)", cudart.cuMemAlloc(ws, CUBLAS_WORKSPACE_BYTES));
    checkBlas("cublasSetWorkspace_v2", cublas.cublasSetWorkspace_v2(blas, new DevicePointer(ws[0]), CUBLAS_WORKSPACE_BYTES));
    KernelModule kernels = KernelModule.load(major, minor);
    return new CudaContext(ordinal, name, major, minor, sms, total, ctx, stream, blas, ws[0], kernels);
  }

  private static int attribute(int attr, int dev) {
    int[] v = new int[1];
    check("cuDeviceGetAttribute", cudart.cuDeviceGetAttribute(v, attr, dev));
    return v[0];
  }

  /** Makes this GPU's context current on the calling thread ({@code cuCtxSetCurrent}, cheap). */
  void makeCurrent() {
    if (closed) throw new IllegalStateException("CUDA context of device " + ordinal + " is closed");
    check("cuCtxSetCurrent", cudart.cuCtxSetCurrent(context));
  }

  /** Waits for all work queued on {@link #stream}. */
  void synchronize() {
    check("cuStreamSynchronize", cudart.cuStreamSynchronize(stream));
  }

  /** Device memory from the ordinary allocator ({@code cuMemAlloc}): weights and workspaces. */
  long alloc(String what, long bytes) {
    long[] p = new long[1];
    check("cuMemAlloc(" + what + ", " + bytes + " bytes)", cudart.cuMemAlloc(p, Math.max(bytes, 256)));
    return p[0];
  }

  void free(long address) {
    if (address != 0) check("cuMemFree", cudart.cuMemFree(address));
  }

  /** Page-locked host memory ({@code cuMemHostAlloc}) for staging copies. */
  Pointer allocHost(long bytes) {
    Pointer p = new Pointer();
    check("cuMemHostAlloc(" + bytes + " bytes)", cudart.cuMemHostAlloc(p, Math.max(bytes, 64), 0));
    return p.capacity(Math.max(bytes, 64)).limit(Math.max(bytes, 64));
  }

  void freeHost(Pointer p) {
    if (p != null && !p.isNull()) check("cuMemFreeHost", cudart.cuMemFreeHost(p));
  }

  String description() {
    return name + " (cuda:" + ordinal + ", sm_" + computeMajor + computeMinor + ")";
  }

  @Override
  public void close() {
    if (closed) return;
    makeCurrent();
    synchronize();
    checkBlas("cublasDestroy_v2", cublas.cublasDestroy_v2(blas));
    free(blasWorkspace);
    kernels.unload();
    check("cuStreamDestroy", cudart.cuStreamDestroy(stream));
    closed = true;
    check("cuDevicePrimaryCtxRelease", cudart.cuDevicePrimaryCtxRelease(ordinal));
  }
}
