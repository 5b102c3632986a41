package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;
import static io.prism.cuda.CudaCheck.checkNvrtc;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUlaunchAttribute;
import org.bytedeco.cuda.cudart.CUlaunchConfig;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * The Prism kernels ({@code src/main/resources/io/prism/cuda/kernels/*.cu}) compiled by NVRTC for
 * the device's architecture ({@code sm_XY} from its compute capability) once per process and
 * architecture, loaded into a context with {@code cuModuleLoadData}, and launched with {@code
 * cuLaunchKernel}.
 *
 * <p>Launch arguments are packed into one reusable native buffer: {@link #args()} starts a launch,
 * {@link Launch#ptr}/{@link Launch#i32}/{@link Launch#i64}/{@link Launch#f32} append arguments in
 * the kernel's parameter order, {@link Launch#go} launches. Threading: confined to the device's
 * thread (the argument buffer is shared by all launches of this module).
 */
final class KernelModule {
  /** Source files compiled together, in this order, into one module. */
  static final String[] SOURCES = {"llama.cu", "quant.cu"};

  private static final Map<String, byte[]> COMPILED = new HashMap<>();
  private static final int MAX_ARGS = 24;

  private final CUmod_st module;
  private final Map<String, CUfunc_st> functions = new HashMap<>();
  private final LongPointer argValues = new LongPointer(MAX_ARGS);
  private final PointerPointer<?> argPointers = new PointerPointer<>(MAX_ARGS);
  private final Launch launch = new Launch();
  /** cuLaunchKernelEx configuration with one attribute: programmatic stream serialization (PDL). */
  private final CUlaunchConfig pdlConfig = new CUlaunchConfig();
  /** The raw CUlaunchAttribute (id at byte 0, value union at byte 8: 72 bytes). */
  private final BytePointer pdlAttribute = new BytePointer(72);
  /** Whether the last operation queued through this module was one of its own kernels (see {@link Launch#dependent}). */
  private boolean lastWasOwnKernel;
  /**
   * Programmatic dependent launch on (Hopper and later; property {@code prism.cuda.pdl}, default
   * true): a launch marked {@link Launch#dependent} right after another kernel of this module may
   * start while that one drains (the kernels order themselves with {@code griddepcontrol}).
   */
  boolean pdl;
  /** Milliseconds NVRTC took for this architecture in this process (0 when it came from the cache). */
  final double compileMillis;

  private KernelModule(CUmod_st module, double compileMillis) {
    this.module = module;
    this.compileMillis = compileMillis;
    for (int i = 0; i < MAX_ARGS; i++) argPointers.put(i, new DevicePointer(argValues.address() + 8L * i));
    pdlAttribute.fill(0);
    pdlAttribute.putInt(0, cudart.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
    pdlAttribute.putInt(8, 1); // programmaticStreamSerializationAllowed
    pdlConfig.attrs(new CUlaunchAttribute(pdlAttribute)).numAttrs(1).blockDimY(1).blockDimZ(1);
  }

  /**
   * Sets the kernels' {@code pdl_late} constant (llama.cu): false lets a dependent kernel's blocks
   * launch as soon as every block of the running kernel has started, true only once each block
   * finished its main work. Synchronous copy: call outside graph capture.
   */
  void pdlLate(boolean late) {
    if (pdlLateValue != null && pdlLateValue == late) return;
    long[] ptr = new long[1];
    try (SizeTPointer bytes = new SizeTPointer(1); org.bytedeco.javacpp.IntPointer v = new org.bytedeco.javacpp.IntPointer(1)) {
      check("cuModuleGetGlobal(pdl_late)", cudart.cuModuleGetGlobal(ptr, bytes, module, "pdl_late"));
      v.put(late ? 1 : 0);
      check("cuCtxSynchronize", cudart.cuCtxSynchronize()); // no kernel in flight reads it meanwhile
      check("cuMemcpyHtoD(pdl_late)", cudart.cuMemcpyHtoD(ptr[0], v, 4));
    }
    pdlLateValue = late;
  }

  /** Last value written to {@code pdl_late} (null: never written, the module's 0). */
  private Boolean pdlLateValue;

  /**
   * Notes that an operation other than this module's kernels (a cuBLAS call, a copy, an event) was
   * queued: the next launch must wait for it the ordinary way, so it gets no PDL attribute.
   */
  void foreign() {
    lastWasOwnKernel = false;
  }

  /** Concatenated kernel sources from the class path. */
  static String source() {
    StringBuilder sb = new StringBuilder();
    for (String s : SOURCES) {
      try (InputStream in = KernelModule.class.getResourceAsStream("kernels/" + s)) {
        if (in == null) throw new IllegalStateException("kernel source kernels/" + s + " is missing from the class path");
        sb.append(new String(in.readAllBytes(), StandardCharsets.UTF_8)).append('\n');
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return sb.toString();
  }

  /** Compiles (once per process and architecture) and loads the module into the current context. */
  static KernelModule load(int major, int minor) {
    String arch = "sm_" + major + minor;
    byte[] cubin;
    double ms = 0;
    synchronized (COMPILED) {
      cubin = COMPILED.get(arch);
      if (cubin == null) {
        long t0 = System.nanoTime();
        cubin = compile(source(), arch);
        ms = (System.nanoTime() - t0) / 1e6;
        COMPILED.put(arch, cubin);
      }
    }
    CUmod_st mod = new CUmod_st();
    try (BytePointer image = new BytePointer(cubin)) {
      check("cuModuleLoadData", cudart.cuModuleLoadData(mod, image));
    }
    return new KernelModule(mod, ms);
  }

  /** NVRTC: source to CUBIN for {@code arch} (e.g. {@code sm_90}). */
  static byte[] compile(String src, String arch) {
    _nvrtcProgram prog = new _nvrtcProgram();
    checkNvrtc("nvrtcCreateProgram", nvrtc.nvrtcCreateProgram(prog, new BytePointer(src), new BytePointer("prism_kernels.cu"), 0, (PointerPointer<?>) null, (PointerPointer<?>) null), null);
    try {
      String[] opts = {"--gpu-architecture=" + arch, "--std=c++17", "-default-device", "-lineinfo"};
      PointerPointer<?> o = new PointerPointer<>(opts);
      int status = nvrtc.nvrtcCompileProgram(prog, opts.length, o);
      String log = programLog(prog);
      checkNvrtc("nvrtcCompileProgram(" + arch + ")", status, log);
      SizeTPointer size = new SizeTPointer(1);
      checkNvrtc("nvrtcGetCUBINSize", nvrtc.nvrtcGetCUBINSize(prog, size), null);
      byte[] out = new byte[(int) size.get()];
      checkNvrtc("nvrtcGetCUBIN", nvrtc.nvrtcGetCUBIN(prog, out), null);
      return out;
    } finally {
      nvrtc.nvrtcDestroyProgram(prog);
    }
  }

  private static String programLog(_nvrtcProgram prog) {
    SizeTPointer size = new SizeTPointer(1);
    if (nvrtc.nvrtcGetProgramLogSize(prog, size) != 0 || size.get() <= 1) return "";
    byte[] log = new byte[(int) size.get()];
    nvrtc.nvrtcGetProgramLog(prog, log);
    return new String(log, 0, log.length - 1, StandardCharsets.UTF_8);
  }

  CUfunc_st function(String name) {
    CUfunc_st f = functions.get(name);
    if (f == null) {
      f = new CUfunc_st();
      check("cuModuleGetFunction(" + name + ")", cudart.cuModuleGetFunction(f, module, name));
      functions.put(name, f);
    }
    return f;
  }

  /** Starts packing the arguments of one launch. */
  Launch args() {
    launch.n = 0;
    launch.dependent = false;
    return launch;
  }

  void unload() {
    check("cuModuleUnload", cudart.cuModuleUnload(module));
  }

  /** Argument packer of one launch; values are 8-byte slots read by the kernel at their own width. */
  final class Launch {
    private int n;
    private boolean dependent;

    /**
     * Marks this launch as one that may overlap the previous kernel (PDL): honoured only when
     * {@link #pdl} is on and the previous operation on the stream was this module's kernel. The
     * kernel must call {@code pdl_wait} before reading anything the previous kernels wrote.
     */
    Launch dependent(boolean on) {
      dependent = on;
      return this;
    }

    Launch ptr(long deviceAddress) {
      return i64(deviceAddress);
    }

    Launch i64(long v) {
      argValues.put(n++, v);
      return this;
    }

    Launch i32(int v) {
      argValues.put(n++, v & 0xffffffffL);
      return this;
    }

    Launch f32(float v) {
      argValues.put(n++, Float.floatToRawIntBits(v) & 0xffffffffL);
      return this;
    }

    /** {@code cuLaunchKernel(name)} on {@code stream} with a grid of {@code gx*gy*gz} blocks of {@code threads}. */
    void go(String name, CUstream_st stream, int gx, int gy, int gz, int threads, int sharedBytes) {
      if (gx <= 0 || gy <= 0 || gz <= 0) return;
      if (dependent && pdl && lastWasOwnKernel) {
        pdlConfig.gridDimX(gx).gridDimY(gy).gridDimZ(gz).blockDimX(threads).sharedMemBytes(sharedBytes).hStream(stream);
        check("cuLaunchKernelEx(" + name + ", PDL)", cudart.cuLaunchKernelEx(pdlConfig, function(name), argPointers, (PointerPointer<?>) null));
      } else {
        check("cuLaunchKernel(" + name + ")", cudart.cuLaunchKernel(function(name), gx, gy, gz, threads, 1, 1, sharedBytes, stream, argPointers, (PointerPointer<?>) null));
      }
      lastWasOwnKernel = true;
    }
  }
}
