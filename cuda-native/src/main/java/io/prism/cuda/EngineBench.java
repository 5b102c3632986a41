package io.prism.cuda;

import static io.prism.cuda.CudaCheck.check;

import io.prism.runtime.engine.ForwardBatch;
import io.prism.runtime.memory.KvCache;
import io.prism.runtime.memory.PhysicalPage;
import io.prism.runtime.memory.VirtualRange;
import io.prism.runtime.model.LoadedModel;
import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.ModelLoader;
import io.prism.runtime.model.RandomModels;
import java.io.PrintStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Pointer;

/**
 * The engine benchmark behind {@code prism bench engine} (issue 4): on GPU 0, for a random-weight
 * model of a real shape and each batch size, prefill time, decode ms/step, tokens/s and the ratio
 * to the memory-bandwidth floor (weights + KV bytes read per step over the HBM bandwidth measured
 * here by a device-to-device copy); then the activation time of the model's weights from pinned
 * host memory against bytes / measured host-to-device bandwidth; then page map/unmap latency.
 *
 * <p>Prints a table; not a test. Every KV page is mapped before the timed region, and the maps
 * made inside it are counted (the goal is zero on the decode critical path).
 */
public final class EngineBench {
  private EngineBench() {}

  /** {@code EngineBench MODEL BATCHES PROMPT GEN}, e.g. {@code random:llama-3.1-8b 1,8,32,64 512 128}. */
  public static void main(String[] args) {
    String model = args.length > 0 ? args[0] : "random:llama-3.1-8b";
    int[] batches = Arrays.stream((args.length > 1 ? args[1] : "1,8,32,64").split(",")).mapToInt(Integer::parseInt).toArray();
    int prompt = args.length > 2 ? Integer.parseInt(args[2]) : 512;
    int gen = args.length > 3 ? Integer.parseInt(args[3]) : 128;
    run(model, batches, prompt, gen, Boolean.getBoolean("prism.bench.profile"), System.out);
  }

  /**
   * Runs the benchmark on GPU 0 and prints its table to {@code out}.
   *
   * @param model {@code random:NAME} (weights generated on the device) or a model file
   * @param batches batch sizes, each at most 256 for the decode graphs
   * @param prompt prompt tokens per sequence (random ids)
   * @param gen decode steps per batch size
   * @param profile also print device time per operation (a separate, synchronising run)
   * @throws io.prism.runtime.memory.DeviceException if there is no usable GPU
   */
  public static void run(String model, int[] batches, int prompt, int gen, boolean profile, PrintStream out) {
    if (prompt < 1 || gen < 2) throw new IllegalArgumentException("prompt must be >= 1 and gen >= 2, got " + prompt + ", " + gen);
    LoadedModel lm = model.startsWith(RandomModels.PREFIX)
        ? new LoadedModel(model, model, RandomModels.config(model), null, null) // weights generated on the device
        : ModelLoader.load(model, null);
    ModelConfig c = lm.config();
    int maxB = Arrays.stream(batches).max().orElse(1);
    try (CudaDevice dev = CudaDevices.open(1, 1L << 30, Precision.BF16, CudaForwardBackend.DEFAULT_CHUNK_TOKENS).get(0)) {
      CudaContext ctx = dev.context();
      out.printf("device: %s, %d SMs, %.1f GiB; kernels compiled by NVRTC in %.0f ms%n", dev.description(), dev.multiprocessors(),
          dev.totalMemoryBytes() / (double) (1L << 30), dev.kernelCompileMillis());
      double hbm = deviceCopyGBs(ctx, 1L << 30);
      double h2d = hostToDeviceGBs(ctx, 1L << 30);
      out.printf("HBM device-to-device copy: %.0f GB/s (read + write); host-to-device pinned: %.1f GB/s%n", hbm, h2d);
      int tokensPerSeq = prompt + gen;
      KvCache kv = KvCache.reserve(dev.memory(), c, 16, 2, maxB * tokensPerSeq);
      Deque<PhysicalPage> pages = new ArrayDeque<>();
      long mapped = 0;
      try (CudaForwardBackend be = dev.load(lm, kv, 7)) {
        out.printf("model %s: %.2f GB of bf16 weights, KV %d bytes/token%n", c.name(), be.weightBytes() / 1e9, c.kvBytesPerToken(2));
        int nb = (tokensPerSeq + 15) / 16;
        int pageIds = (maxB * nb + kv.blocksPerPage() - 1) / kv.blocksPerPage();
        for (int p = 0; p < pageIds; p++) {
          List<PhysicalPage> ps = new ArrayList<>();
          for (int i = 0; i < kv.physicalPagesPerPageId(); i++) ps.add(dev.memory().create());
          kv.map(p, ps);
          mapped++;
        }
        long mapsBefore = dev.memory().mappedPages();
        out.println();
        out.println("| batch | prefill ms | prefill tok/s | decode ms/step | decode tok/s | floor ms/step | ratio to floor | maps in decode |");
        out.println("|------:|-----------:|--------------:|---------------:|-------------:|--------------:|---------------:|---------------:|");
        Random rnd = new Random(1);
        List<String> profiles = new ArrayList<>();
        List<String> comparisons = new ArrayList<>();
        for (int b : batches) {
          int[][] tables = new int[b][nb];
          for (int s = 0; s < b; s++) for (int i = 0; i < nb; i++) tables[s][i] = s * nb + i;
          List<ForwardBatch.Entry> pre = new ArrayList<>();
          for (int s = 0; s < b; s++) pre.add(new ForwardBatch.Entry(rnd.ints(prompt, 0, c.vocabSize()).toArray(), 0, tables[s], true));
          int[] next = new int[b];
          // warm-up (cuBLAS heuristics, first launches), then timed prefill
          be.forwardGreedy(new ForwardBatch(pre.subList(0, 1)), next);
          long t0 = System.nanoTime();
          be.forwardGreedy(new ForwardBatch(pre), next);
          double prefillMs = (System.nanoTime() - t0) / 1e6;
          long mapsAtStart = dev.memory().mappedPages();
          int[] first = next.clone();
          double med = decodeMedianMs(be, tables, next, prompt, gen);
          long mapsInDecode = dev.memory().mappedPages() - mapsAtStart;
          if (b == 1) {
            be.skinnyGemm(false);
            double cublasMs = decodeMedianMs(be, tables, first.clone(), prompt, Math.min(gen, 32));
            be.skinnyGemm(true);
            comparisons.add(String.format("batch %d decode: %.2f ms/step with the skinny GEMM kernel, %.2f ms/step with cuBLAS", b, med, cublasMs));
          }
          double kvBytes = (double) b * (prompt + gen / 2.0) * c.kvBytesPerToken(2);
          // the copy rate counts bytes read plus written, so it stands for the rate of a read-only stream (issue 4's floor)
          double floorMs = (be.weightBytes() + kvBytes) / (hbm * 1e9) * 1e3;
          out.printf("| %5d | %10.1f | %13.0f | %14.2f | %12.0f | %13.2f | %14.2f | %14d |%n", b, prefillMs, b * prompt / (prefillMs / 1e3), med,
              b / (med / 1e3), floorMs, med / floorMs, mapsInDecode);
          if (profile) {
            be.profiling(true);
            if (b == batches[0]) {
              be.forwardGreedy(new ForwardBatch(pre), next);
              profiles.add("prefill b" + b + ": " + format(be.profile(), 1));
              be.resetProfile();
            }
            int reps = 8;
            for (int g = 0; g < reps; g++) {
              List<ForwardBatch.Entry> dec = new ArrayList<>(b);
              for (int s = 0; s < b; s++) dec.add(new ForwardBatch.Entry(new int[] {next[s]}, prompt + g, tables[s], true));
              be.forwardGreedy(new ForwardBatch(dec), next);
            }
            profiles.add("decode b" + b + " per step: " + format(be.profile(), reps));
            be.profiling(false);
          }
        }
        out.printf("decode steps replayed as CUDA graphs: %d of %d%n", be.graphReplays(), be.steps());
        for (String line : comparisons) out.println(line);
        for (String line : profiles) out.println(line);
        if (dev.memory().mappedPages() != mapsBefore) throw new IllegalStateException("pages mapped during the benchmark");
        activation(ctx, be, h2d, out);
        for (int p = 0; p < pageIds; p++) pages.addAll(kv.unmap(p));
      } finally {
        for (PhysicalPage p : pages) dev.memory().release(p);
        kv.close();
      }
      pageLatency(dev, out);
    }
  }

  /** Median wall time of {@code steps} greedy decode steps (positions {@code prompt ..}), host sync included. */
  private static double decodeMedianMs(CudaForwardBackend be, int[][] tables, int[] next, int prompt, int steps) {
    int b = tables.length;
    double[] ms = new double[steps];
    for (int g = 0; g < steps; g++) {
      List<ForwardBatch.Entry> dec = new ArrayList<>(b);
      for (int s = 0; s < b; s++) dec.add(new ForwardBatch.Entry(new int[] {next[s]}, prompt + g, tables[s], true));
      long s0 = System.nanoTime();
      be.forwardGreedy(new ForwardBatch(dec), next);
      ms[g] = (System.nanoTime() - s0) / 1e6;
    }
    Arrays.sort(ms);
    return ms[steps / 2];
  }

  private static String format(java.util.Map<String, Double> ms, int steps) {
    StringBuilder sb = new StringBuilder();
    double total = ms.values().stream().mapToDouble(Double::doubleValue).sum() / steps;
    sb.append(String.format("total %.2f ms:", total));
    ms.forEach((k, v) -> sb.append(String.format(" %s %.2f", k, v / steps)));
    return sb.toString();
  }

  private static double deviceCopyGBs(CudaContext ctx, long bytes) {
    long a = ctx.alloc("bench src", bytes), b = ctx.alloc("bench dst", bytes);
    try {
      check("cuMemsetD8Async", cudart.cuMemsetD8Async(a, (byte) 1, bytes, ctx.stream));
      double best = Double.MAX_VALUE;
      for (int i = 0; i < 10; i++) {
        ctx.synchronize();
        long t0 = System.nanoTime();
        check("cuMemcpyDtoDAsync", cudart.cuMemcpyDtoDAsync(b, a, bytes, ctx.stream));
        ctx.synchronize();
        best = Math.min(best, (System.nanoTime() - t0) / 1e9);
      }
      return 2.0 * bytes / best / 1e9;
    } finally {
      ctx.free(a);
      ctx.free(b);
    }
  }

  private static double hostToDeviceGBs(CudaContext ctx, long bytes) {
    Pointer host = ctx.allocHost(bytes);
    long d = ctx.alloc("bench h2d", bytes);
    try {
      double best = Double.MAX_VALUE;
      for (int i = 0; i < 5; i++) {
        ctx.synchronize();
        long t0 = System.nanoTime();
        check("cuMemcpyHtoDAsync", cudart.cuMemcpyHtoDAsync(d, host, bytes, ctx.stream));
        ctx.synchronize();
        best = Math.min(best, (System.nanoTime() - t0) / 1e9);
      }
      return bytes / best / 1e9;
    } finally {
      ctx.free(d);
      ctx.freeHost(host);
    }
  }

  /** Evict (device to pinned host) then activate (host to device) the weights; time the activation. */
  private static void activation(CudaContext ctx, CudaForwardBackend be, double h2d, PrintStream out) {
    long bytes = be.weightBytes();
    long t0 = System.nanoTime();
    be.evictWeights(); // pins a host buffer and copies the weights out (not timed: the first eviction only)
    double evictMs = (System.nanoTime() - t0) / 1e6;
    long t1 = System.nanoTime();
    be.activateWeights();
    double s = (System.nanoTime() - t1) / 1e9;
    double floor = bytes / (h2d * 1e9);
    out.printf("%nactivation from pinned host memory: %.2f GB in %.3f s; floor (bytes / H2D) %.3f s; ratio %.2f (first eviction, pinning included: %.0f ms)%n",
        bytes / 1e9, s, floor, s / floor, evictMs);
  }

  private static void pageLatency(CudaDevice dev, PrintStream out) {
    CudaDeviceMemory mem = (CudaDeviceMemory) dev.memory();
    int n = 512;
    long g = mem.granularity();
    VirtualRange r = mem.reserve(n * g);
    List<PhysicalPage> ps = new ArrayList<>(n);
    long t0 = System.nanoTime();
    for (int i = 0; i < n; i++) ps.add(mem.create());
    long t1 = System.nanoTime();
    for (int i = 0; i < n; i++) mem.map(r, i * g, ps.get(i));
    long t2 = System.nanoTime();
    for (int i = 0; i < n; i++) mem.unmap(r, i * g);
    long t3 = System.nanoTime();
    for (PhysicalPage p : ps) mem.release(p);
    long t4 = System.nanoTime();
    mem.free(r);
    out.printf("%npage (2 MiB) latency over %d pages: cuMemCreate %.1f us, cuMemMap+cuMemSetAccess %.1f us, cuMemUnmap %.1f us, cuMemRelease %.1f us%n",
        n, (t1 - t0) / 1e3 / n, (t2 - t1) / 1e3 / n, (t3 - t2) / 1e3 / n, (t4 - t3) / 1e3 / n);
  }
}
