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
import java.time.Duration;
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
 * here by a device-to-device copy); then the first eviction of the model's weights into the pinned
 * host pool (made ahead, {@link PinnedHostPool}) against bytes / measured device-to-host bandwidth
 * and their activation against bytes / host-to-device bandwidth; then page map/unmap latency.
 * The pool is sized for one copy (chunk size: {@code -Dprism.bench.host-pool-chunk=BYTES}, fill
 * threads: {@code -Dprism.cuda.host-pool-threads}) and its fill rate is printed.
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
    // the pinned host pool is sized for one copy of the weights and pinned in the background from here on
    long poolChunk = Long.getLong("prism.bench.host-pool-chunk", PinnedPoolSettings.DEFAULT_CHUNK_BYTES);
    PinnedPoolSettings pool = new PinnedPoolSettings(CudaDevice.weightBytes(lm, Precision.BF16), poolChunk, Duration.ofMinutes(5),
        PinnedPoolSettings.fillThreadsProperty());
    try (CudaDevice dev = CudaDevices.open(1, 1L << 30, Precision.BF16, CudaForwardBackend.DEFAULT_CHUNK_TOKENS, pool).get(0)) {
      CudaContext ctx = dev.context();
      out.printf("device: %s, %d SMs, %.1f GiB; kernels compiled by NVRTC in %.0f ms%n", dev.description(), dev.multiprocessors(),
          dev.totalMemoryBytes() / (double) (1L << 30), dev.kernelCompileMillis());
      awaitPool(dev, out); // before any timing: the fill threads would share the host with the timed copies
      double hbm = deviceCopyGBs(ctx, 1L << 30);
      Pointer staging = ctx.allocHost(1L << 30);
      double h2d, d2h;
      try {
        h2d = pinnedCopyGBs(ctx, staging, 1L << 30, true);
        d2h = pinnedCopyGBs(ctx, staging, 1L << 30, false);
      } finally {
        ctx.freeHost(staging);
      }
      out.printf("HBM device-to-device copy: %.0f GB/s (read + write); pinned host-to-device: %.1f GB/s, device-to-host: %.1f GB/s%n", hbm, h2d, d2h);
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
        List<int[][]> allTables = new ArrayList<>();
        List<int[]> allFirst = new ArrayList<>();
        List<ForwardBatch.Entry> prompt0 = null;
        List<ForwardBatch.Entry> maxPre = null;
        boolean headMajor = System.getProperty("prism.cuda.kv-layout", "token").equals("head");
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
          allTables.add(tables);
          allFirst.add(first.clone());
          if (prompt0 == null) prompt0 = pre.subList(0, 1);
          if (maxPre == null || pre.size() > maxPre.size()) maxPre = pre;
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
        String variants = System.getProperty("prism.bench.variants", "");
        if (!variants.isBlank()) {
          out.println();
          out.println("kernel variants (decode ms/step at each batch; prefill of " + prompt + " tokens at batch 1):");
          for (String v : variants.split(";")) {
            java.util.Map<String, String> kv2 = new java.util.HashMap<>();
            for (String pair : v.split(",")) {
              String[] a = pair.split("=", 2);
              if (a.length == 2) kv2.put(a[0].trim(), a[1].trim());
            }
            be.kernels(Boolean.parseBoolean(kv2.getOrDefault("fused", "true")), kv2.getOrDefault("attn", System.getProperty("prism.cuda.attn.decode", "auto")),
                kv2.getOrDefault("prefill", "tile"), Boolean.parseBoolean(kv2.getOrDefault("pdl", System.getProperty("prism.cuda.pdl", "true"))));
            be.tuning(Integer.parseInt(kv2.getOrDefault("split", System.getProperty("prism.cuda.att-blocks-per-sm", "3"))), Integer.parseInt(kv2.getOrDefault("maxsplits", "64")),
                Integer.parseInt(kv2.getOrDefault("gw", "16")), Boolean.parseBoolean(kv2.getOrDefault("late", "true")),
                Boolean.parseBoolean(kv2.getOrDefault("pairs", System.getProperty("prism.cuda.gemv-pairs", "true"))));
            be.tunedGemm(Boolean.parseBoolean(kv2.getOrDefault("lt", System.getProperty("prism.cuda.lt", "true"))));
            be.attentionMinKeys(Integer.parseInt(kv2.getOrDefault("minkeys", System.getProperty("prism.cuda.att-min-keys", "64"))));
            boolean hm = kv2.getOrDefault("kv", headMajor ? "head" : "token").equals("head");
            if (hm != headMajor) { // rewrite every sequence's KV in the variant's layout
              be.kvLayout(hm);
              headMajor = hm;
              be.forwardGreedy(new ForwardBatch(maxPre), new int[maxPre.size()]);
            }
            StringBuilder line = new StringBuilder(String.format("  %-48s", v));
            int[] nx = new int[1];
            be.forwardGreedy(new ForwardBatch(prompt0), nx);
            long t0 = System.nanoTime();
            be.forwardGreedy(new ForwardBatch(prompt0), nx);
            line.append(String.format(" prefill %.1f ms |", (System.nanoTime() - t0) / 1e6));
            for (int i = 0; i < batches.length; i++) {
              double ms = decodeMedianMs(be, allTables.get(i), allFirst.get(i).clone(), prompt, gen);
              line.append(String.format(" b%d %.2f ms (%.0f tok/s)", batches[i], ms, batches[i] / (ms / 1e3)));
            }
            out.println(line);
            if (!be.tunedGemmDescription().isEmpty()) out.println("    " + be.tunedGemmDescription());
          }
          be.kernels(true, System.getProperty("prism.cuda.attn.decode", "auto"), System.getProperty("prism.cuda.attn.prefill", "tile"),
              Boolean.parseBoolean(System.getProperty("prism.cuda.pdl", "true")));
          be.tuning(Integer.getInteger("prism.cuda.att-blocks-per-sm", 3), 64, 16, true,
              Boolean.parseBoolean(System.getProperty("prism.cuda.gemv-pairs", "true")));
          be.tunedGemm(Boolean.parseBoolean(System.getProperty("prism.cuda.lt", "true")));
        }
        for (String line : comparisons) out.println(line);
        for (String line : profiles) out.println(line);
        if (dev.memory().mappedPages() != mapsBefore) throw new IllegalStateException("pages mapped during the benchmark");
        activation(dev, be, h2d, d2h, out);
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

  /** Best of 5 single copies of {@code bytes} between pinned {@code host} and a device buffer, in GB/s. */
  private static double pinnedCopyGBs(CudaContext ctx, Pointer host, long bytes, boolean toDevice) {
    long d = ctx.alloc("bench copy", bytes);
    try {
      double best = Double.MAX_VALUE;
      for (int i = 0; i < 5; i++) {
        ctx.synchronize();
        long t0 = System.nanoTime();
        if (toDevice) check("cuMemcpyHtoDAsync", cudart.cuMemcpyHtoDAsync(d, host, bytes, ctx.stream));
        else check("cuMemcpyDtoHAsync", cudart.cuMemcpyDtoHAsync(host, d, bytes, ctx.stream));
        ctx.synchronize();
        best = Math.min(best, (System.nanoTime() - t0) / 1e9);
      }
      return bytes / best / 1e9;
    } finally {
      ctx.free(d);
    }
  }

  /** Waits for the pinned pool's fill threads and prints how fast they pinned. */
  private static void awaitPool(CudaDevice dev, PrintStream out) {
    long t0 = System.nanoTime();
    try {
      if (!dev.hostPool().chunks().awaitFilled(Duration.ofMinutes(10))) throw new IllegalStateException("the pinned pool was not filled in 10 minutes");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted waiting for the pinned pool", e);
    }
    PinnedChunkPool.Usage u = dev.hostPoolUsage();
    double gb = (double) u.allocatedChunks() * u.chunkBytes() / 1e9;
    out.printf("pinned host pool: %.2f GB in %d chunks of %d MiB pinned by %d background thread(s) in %.2f s (%.2f GB/s); waited %.2f s for it after the device opened%s%n",
        gb, u.allocatedChunks(), u.chunkBytes() >> 20, PinnedPoolSettings.fillThreadsProperty(), u.fillNanos() / 1e9, gb / (u.fillNanos() / 1e9),
        (System.nanoTime() - t0) / 1e9, u.fillError() == null ? "" : " (stopped early: " + u.fillError() + ")");
  }

  /**
   * Evict (device to the pool's pinned chunks) then activate (chunks to device), twice: the first
   * eviction against bytes / D2H and each activation against bytes / H2D (issue 11 item 9: both
   * within 1.2x from the first time); then the pool's books.
   */
  private static void activation(CudaDevice dev, CudaForwardBackend be, double h2d, double d2h, PrintStream out) {
    long bytes = be.weightBytes();
    double evictFloor = bytes / (d2h * 1e9), activateFloor = bytes / (h2d * 1e9);
    PinnedChunkPool.Usage before = dev.hostPoolUsage();
    out.println();
    out.println("| round | eviction s | floor s (bytes / D2H) | ratio | activation s | floor s (bytes / H2D) | ratio |");
    out.println("|------:|-----------:|----------------------:|------:|-------------:|----------------------:|------:|");
    for (int round = 1; round <= 2; round++) {
      be.synchronize();
      long t0 = System.nanoTime();
      be.evictWeights(); // round 1 copies into the pool's chunks; round 2 keeps that copy and only frees the device memory
      double evictS = (System.nanoTime() - t0) / 1e9;
      long t1 = System.nanoTime();
      be.activateWeights();
      double actS = (System.nanoTime() - t1) / 1e9;
      out.printf("| %5d | %10.3f | %21.3f | %5s | %12.3f | %21.3f | %5.2f |%n", round, evictS, evictFloor,
          round == 1 ? String.format("%.2f", evictS / evictFloor) : "kept", actS, activateFloor, actS / activateFloor);
    }
    PinnedChunkPool.Usage after = dev.hostPoolUsage();
    out.printf("%.2f GB of weights; the copy holds %d chunks of the pool (%d pinned, %d free before the first eviction, %d after); %d chunks pinned on the evicting thread%n",
        bytes / 1e9, be.hostCopyChunks(), before.allocatedChunks(), before.freeChunks(), after.freeChunks(), after.fallbackChunks() - before.fallbackChunks());
    be.dropHostCopy();
    if (dev.hostPoolUsage().freeChunks() != before.freeChunks()) throw new IllegalStateException("the pool did not get its chunks back: " + dev.hostPoolUsage());
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
