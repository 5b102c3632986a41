package io.prism.runtime.structured;

import io.prism.runtime.tokenizer.HuggingFaceJsonTokenizer;
import io.prism.runtime.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Cost of constrained decoding per generated token on a real vocabulary: mask lookup or
 * computation, applying it to a {@code [vocabSize]} logits row, and advancing the automaton, for a
 * few schemas over whole generated answers (random allowed tokens, seeded), at batch 1 and 32 (32
 * sequences stepped in lockstep on one thread, as the engine thread does). "cold" is the first
 * answer with empty caches (a fresh vocabulary object: its trie build is reported apart), "warm"
 * repeats the schema with the caches filled by earlier answers (different seeds).
 *
 * <p>Usage: {@code java ... io.prism.runtime.structured.MaskBenchmark [tokenizer.json ...]}
 * (default: the Qwen3 and DeepSeek-V3 tokenizers under {@code ../shared/tokenizers}). Prints a
 * table: microseconds per token per sequence, mean and p99. Single-threaded; not for tests.
 */
public final class MaskBenchmark {
  private static final Map<String, String> SCHEMAS = new LinkedHashMap<>();

  static {
    SCHEMAS.put("json_object", null);
    SCHEMAS.put("person", "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
        + "\"email\":{\"type\":[\"string\",\"null\"]},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":20},\"maxItems\":4}},"
        + "\"required\":[\"name\",\"age\",\"email\",\"tags\"],\"additionalProperties\":false}");
    SCHEMAS.put("enum+anyOf", "{\"type\":\"object\",\"properties\":{\"status\":{\"enum\":[\"ok\",\"warn\",\"error\"]},\"detail\":{\"anyOf\":["
        + "{\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"integer\"},\"msg\":{\"type\":\"string\"}},\"required\":[\"code\",\"msg\"],"
        + "\"additionalProperties\":false},{\"type\":\"null\"}]}},\"required\":[\"status\",\"detail\"],\"additionalProperties\":false}");
    SCHEMAS.put("tree($ref)", "{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"label\":{\"type\":\"string\",\"maxLength\":12},"
        + "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"},\"maxItems\":3}},\"required\":[\"label\",\"kids\"],"
        + "\"additionalProperties\":false}},\"$ref\":\"#/$defs/n\"}");
  }

  private MaskBenchmark() {}

  public static void main(String[] args) throws Exception {
    List<Path> files = new ArrayList<>();
    for (String a : args) files.add(Path.of(a));
    if (files.isEmpty()) {
      for (String m : List.of("deepseek-v3", "qwen3")) {
        Path p = Path.of("../shared/tokenizers", m, "tokenizer.json");
        if (!Files.exists(p)) p = Path.of("/work/shared/tokenizers", m, "tokenizer.json");
        if (Files.exists(p)) files.add(p);
      }
    }
    for (Path f : files) run(f);
  }

  private static void run(Path file) {
    Tokenizer t = HuggingFaceJsonTokenizer.fromFile(file, -1);
    long t0 = System.nanoTime();
    TokenVocabulary v = TokenVocabulary.build(t);
    long buildMs = (System.nanoTime() - t0) / 1_000_000;
    System.out.printf("%n%s: %d tokens, %d trie nodes, longest token %d bytes, vocabulary built in %d ms%n", file, v.size(), v.trieNodes(),
        v.maxTokenBytes, buildMs);
    System.out.printf("%-12s %5s %6s %8s %10s %10s %10s %10s %12s%n", "schema", "batch", "cache", "tokens", "mean us", "p99 us", "max us",
        "step us", "ended");
    for (Map.Entry<String, String> e : SCHEMAS.entrySet()) {
      Grammar g = e.getValue() == null ? Grammar.anyJsonObject() : JsonSchemaCompiler.compile(e.getValue(), false);
      for (int batch : new int[] {1, 32}) {
        v.localMasks.clear();
        TokenMasks masks = new TokenMasks(g, v, 4096);
        measure(e.getKey(), batch, "cold", masks, v, 1000L * batch);
        measure(e.getKey(), batch, "warm", masks, v, 2000L * batch);
      }
    }
  }

  private static void measure(String name, int batch, String cache, TokenMasks masks, TokenVocabulary v, long seedBase) {
    int maxTokens = 200;
    ConstraintState[] st = new ConstraintState[batch];
    SplittableRandom[] rng = new SplittableRandom[batch];
    boolean[] done = new boolean[batch];
    for (int i = 0; i < batch; i++) {
      st[i] = masks.newState();
      rng[i] = new SplittableRandom(seedBase + i);
    }
    float[] logits = new float[v.size()];
    List<Long> perToken = new ArrayList<>();
    List<Long> perStep = new ArrayList<>();
    int ended = 0;
    for (int step = 0; step < maxTokens; step++) {
      long stepNs = 0;
      boolean any = false;
      for (int i = 0; i < batch; i++) {
        if (done[i]) continue;
        any = true;
        Arrays.fill(logits, 0f);
        long a = System.nanoTime();
        st[i].applyMask(logits);
        long b = System.nanoTime();
        int tok = pick(st[i].mask(), logits, v, rng[i]);
        long c = System.nanoTime();
        if (v.isStop(tok)) {
          done[i] = true;
          ended++;
        } else {
          st[i].advance(tok);
          if (st[i].complete()) {
            done[i] = true;
            ended++;
          }
        }
        long d = System.nanoTime();
        long ns = (b - a) + (d - c);
        perToken.add(ns);
        stepNs += ns;
      }
      if (!any) break;
      perStep.add(stepNs);
    }
    long[] pt = perToken.stream().mapToLong(Long::longValue).sorted().toArray();
    double mean = Arrays.stream(pt).average().orElse(0) / 1000;
    double p99 = pt[(int) Math.min(pt.length - 1, Math.ceil(pt.length * 0.99) - 1)] / 1000.0;
    double max = pt[pt.length - 1] / 1000.0;
    double step = perStep.stream().mapToLong(Long::longValue).average().orElse(0) / 1000;
    System.out.printf("%-12s %5d %6s %8d %10.1f %10.1f %10.1f %10.1f %9d/%d%n", name, batch, cache, pt.length, mean, p99, max, step, ended, batch);
  }

  /** A random allowed token, the stop token (when allowed) with probability 1/4, tokens with a quote or bracket favoured so answers end. */
  private static int pick(TokenMask m, float[] masked, TokenVocabulary v, SplittableRandom rng) {
    if (m.allows(v.stopTokens.length > 0 ? v.stopTokens[0] : -1) && rng.nextInt(4) == 0) return v.stopTokens[0];
    for (int tries = 0; tries < 64; tries++) {
      int id = rng.nextInt(v.size());
      if (masked[id] == Float.NEGATIVE_INFINITY) continue;
      byte[] b = v.bytes(id);
      if (b == null) continue;
      return id;
    }
    int[] ids = new int[m.count()];
    int k = 0;
    for (int id = 0; id < v.size(); id++) if (masked[id] != Float.NEGATIVE_INFINITY) ids[k++] = id;
    for (int tries = 0; tries < 4; tries++) {
      int id = ids[rng.nextInt(k)];
      byte[] b = v.bytes(id);
      if (b != null && (b[0] == '"' || b[0] == '}' || b[0] == ']' || b[0] == ',')) return id;
    }
    return ids[rng.nextInt(k)];
  }
}
