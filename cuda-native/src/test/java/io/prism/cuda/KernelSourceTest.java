package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prism.runtime.model.ModelConfig;
import io.prism.runtime.model.RandomModels;
import io.prism.runtime.model.RopeScaling;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** CPU checks of the CUDA backend's pure parts: no class here touches the driver. */
class KernelSourceTest {
  @Test
  void everyKernelTheJavaCodeLaunchesIsDefinedInTheSources() throws IOException {
    Set<String> defined = new HashSet<>();
    Matcher m = Pattern.compile("extern \"C\" __global__ void (?:__launch_bounds__\\([^)]*\\) )?(\\w+)\\(").matcher(KernelModule.source());
    while (m.find()) defined.add(m.group(1));
    Matcher g = Pattern.compile("GEMV_T\\((\\d+)\\)").matcher(KernelModule.source());
    while (g.find()) defined.add("gemv_bf16_" + g.group(1));
    Matcher aw = Pattern.compile("AD_KERNEL\\((\\w+),").matcher(KernelModule.source());
    while (aw.find()) defined.add(aw.group(1));
    Set<String> launched = new HashSet<>();
    try (Stream<Path> files = Files.list(Path.of("src/main/java/io/prism/cuda"))) {
      for (Path f : files.toList()) {
        Matcher l = Pattern.compile("\\.go\\(\"(\\w+)\"( \\+ (sfx|p\\.suffix\\(\\)|precision\\.suffix\\(\\)|tokens))?").matcher(Files.readString(f));
        while (l.find()) {
          if (l.group(2) == null) launched.add(l.group(1));
          else if (l.group(3).equals("tokens")) for (int t = 1; t <= Gemm.GEMV_MAX_T; t++) launched.add(l.group(1) + t);
          else for (Precision p : Precision.values()) launched.add(l.group(1) + p.suffix());
        }
      }
    }
    assertTrue(launched.size() > 10, "found launches: " + launched);
    for (String k : launched) assertTrue(defined.contains(k), "kernel " + k + " is launched but not defined");
  }

  @Test
  void everyQuantizedGemvKernelIsDefinedInTheSources() {
    Set<String> defined = new HashSet<>();
    Matcher q = Pattern.compile("QGEMV\\((\\w+), (\\w+),").matcher(KernelModule.source());
    while (q.find()) defined.add("qgemv_" + q.group(1) + "_" + q.group(2));
    Matcher dq = Pattern.compile("DEQUANT\\((\\w+), (\\w+),").matcher(KernelModule.source());
    while (dq.find()) defined.add("dequant_" + dq.group(1) + "_" + dq.group(2));
    assertTrue(KernelModule.source().contains("extern \"C\" __global__ void fill_qblocks("));
    for (io.prism.runtime.model.GgmlType t : DeviceWeights.DEVICE_TYPES) {
      for (Precision p : Precision.values()) {
        assertTrue(defined.contains(QuantGemv.kernel(t, p)), QuantGemv.kernel(t, p) + " not in " + defined);
        assertTrue(defined.contains(QuantGemv.dequantKernel(t, p)), QuantGemv.dequantKernel(t, p) + " not in " + defined);
      }
    }
    assertThrows(IllegalArgumentException.class, () -> QuantGemv.kernel(io.prism.runtime.model.GgmlType.Q5_K, Precision.BF16));
  }

  @Test
  void quantizedLayoutIsSmallerAndKeepsEveryTensorAligned() {
    ModelConfig c = new ModelConfig("q", io.prism.runtime.model.Architecture.QWEN3, 1024, 3072, 4, 16, 8, 128, 4096, 256, 1e6f, null, 1e-6f, true);
    var mix = io.prism.runtime.model.QuantizedMatrices.kMix(c, io.prism.runtime.model.GgmlType.Q4_K);
    io.prism.runtime.model.GgmlType[][] t = new io.prism.runtime.model.GgmlType[4][7];
    for (int i = 0; i < 4; i++) for (int m = 0; m < 7; m++) t[i][m] = mix.apply(i, m);
    WeightLayout dense = new WeightLayout(c, Precision.BF16, null, null);
    WeightLayout quant = new WeightLayout(c, Precision.BF16, t, io.prism.runtime.model.GgmlType.Q6_K);
    assertTrue(quant.total < dense.total / 2 + 4096L * 1024 * 2 * 2, quant.total + " vs dense " + dense.total);
    for (int i = 0; i < 4; i++) {
      assertEquals(-1, quant.wqkv[i]);
      assertTrue(quant.qNorm[i] > 0 && quant.kNorm[i] > quant.qNorm[i] && quant.bqkv[i] == -1);
      for (int m = 0; m < 7; m++) assertEquals(0, quant.quant[i][m] % WeightLayout.ALIGN);
    }
    // 4 layers: Q6_K attn_v in layers 2 and 3 (every third from the first eighth, and the last eighth), Q4_K in 0 and 1
    long v1 = quant.quant[1][3] - quant.quant[1][2], v2 = quant.quant[2][3] - quant.quant[2][2];
    assertTrue(v2 > v1, "Q6_K attn_v " + v2 + " vs Q4_K " + v1);
    assertEquals(dense.total, DeviceWeights.bytesFor(c, Precision.BF16));
  }

  @Test
  void ropeFrequenciesFollowLlama3ScalingBands() {
    ModelConfig plain = new ModelConfig("t", 256, 512, 1, 8, 2, 100, 64, 500000f, null, 1e-5f, false);
    RopeScaling s = new RopeScaling(8f, 1f, 4f, 8192);
    ModelConfig scaled = new ModelConfig("t", 256, 512, 1, 8, 2, 100, 64, 500000f, s, 1e-5f, false);
    float[] f = DeviceWeights.inverseFrequencies(plain), g = DeviceWeights.inverseFrequencies(scaled);
    assertEquals(16, f.length);
    for (int i = 0; i < f.length; i++) {
      assertEquals(Math.pow(500000, -2.0 * i / 32), f[i], f[i] * 1e-6);
      double wavelen = 2 * Math.PI / f[i];
      if (wavelen < 8192 / 4.0) assertEquals(f[i], g[i], 0f, "high frequency " + i + " unchanged");
      else if (wavelen > 8192 / 1.0) assertEquals(f[i] / 8, g[i], f[i] * 1e-6, "low frequency " + i + " divided by the factor");
      else assertTrue(g[i] < f[i] && g[i] > f[i] / 8, "band " + i + " interpolated");
    }
  }

  @Test
  void attentionHeadsPerBlockDivideTheGroup() {
    for (int group = 1; group <= 16; group++) {
      int h = ForwardKernels.headsPerBlock(group);
      assertTrue(h >= 1 && h <= 4 && group % h == 0, "group " + group + " -> " + h);
    }
    assertEquals(4, ForwardKernels.headsPerBlock(RandomModels.config("llama-3.1-8b").kvGroupSize()));
  }

  @Test
  void weightBytesOfTheEightBillionShapeAreItsParametersInBf16() {
    ModelConfig c = RandomModels.config("llama-3.1-8b");
    long bytes = DeviceWeights.bytesFor(c, Precision.BF16);
    // norms are kept in float32 (2 bytes more each) and every tensor is 256-byte aligned
    long params = c.parameterCount();
    assertTrue(bytes >= 2 * params && bytes < 2 * params + (4L << 20), bytes + " vs " + 2 * params);
  }
}
