package io.prism.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Keeps the {@code io.prism.runtime.*} packages layered: scans {@code runtime/src/main/java} for
 * imports and fully qualified names (comments and string literals do not count) and fails, naming
 * the cycle and the files behind each edge, if the package graph has one.
 *
 * <pre>
 *   engine ──> sampling      model ──> tokenizer
 *      │          │            │          │
 *      └──────────┴──> ... ────┴──> format <┘    (no edge points back up)
 * </pre>
 */
class PackageDependencyTest {
  private static final String ROOT = "io.prism.runtime";
  /** A reference to a type (or a wildcard import) in a runtime package: group 1 is the package. */
  private static final Pattern REFERENCE =
      Pattern.compile("\\b(io\\.prism\\.runtime(?:\\.[a-z_][a-z0-9_]*)*)\\s*\\.\\s*(?:[A-Z]|\\*)");
  private static final Pattern PACKAGE = Pattern.compile("^\\s*package\\s+([\\w.]+)\\s*;", Pattern.MULTILINE);

  @Test
  void runtimePackagesFormNoCycle() {
    Graph g = scan(sourceRoot());
    Optional<List<String>> cycle = g.findCycle();
    assertTrue(cycle.isEmpty(), () -> "package cycle: " + g.describe(cycle.get()));
  }

  @Test
  void tokenizerAndSamplingStayBelowModelAndEngine() {
    Graph g = scan(sourceRoot());
    assertTrue(g.packages().size() >= 8, () -> "scan found too few packages: " + g.packages());
    assertTrue(g.dependsOn(ROOT + ".model", ROOT + ".tokenizer"), "model uses tokenizer");
    assertTrue(g.dependsOn(ROOT + ".engine", ROOT + ".sampling"), "engine uses sampling");
    assertFalse(g.dependsOn(ROOT + ".tokenizer", ROOT + ".model"), () -> g.describeEdge(ROOT + ".tokenizer", ROOT + ".model"));
    assertFalse(g.dependsOn(ROOT + ".sampling", ROOT + ".engine"), () -> g.describeEdge(ROOT + ".sampling", ROOT + ".engine"));
  }

  @Test
  void findsAndNamesACycleWhenOneExists() {
    Graph g = new Graph();
    g.add("a", "b", "A.java");
    g.add("b", "c", "B.java");
    g.add("c", "a", "C.java");
    g.add("c", "d", "C.java");
    assertEquals(List.of("a", "b", "c", "a"), g.findCycle().orElseThrow());
    assertEquals("a -> b (A.java), b -> c (B.java), c -> a (C.java)", g.describe(g.findCycle().orElseThrow()));

    Graph acyclic = new Graph();
    acyclic.add("a", "b", "A.java");
    acyclic.add("a", "c", "A.java");
    acyclic.add("b", "c", "B.java");
    assertTrue(acyclic.findCycle().isEmpty());
  }

  @Test
  void ignoresCommentsAndStrings() {
    String src =
        """
        package io.prism.runtime.engine;
        import io.prism.runtime.memory.PagePool;
        /** See {@link io.prism.runtime.forward.HostDevice}. */
        class X { // io.prism.runtime.model.Json
          String s = "io.prism.runtime.policy.Slo";
          io.prism.runtime.sampling.Sampler sampler;
        }
        """;
    assertEquals(Set.of(ROOT + ".memory", ROOT + ".sampling"), references(stripCommentsAndStrings(src)));
  }

  // ---- scanning ----

  private static Path sourceRoot() {
    Path p = Path.of(System.getProperty("basedir", "."), "src", "main", "java");
    if (!Files.isDirectory(p)) p = Path.of("runtime", "src", "main", "java");
    assertTrue(Files.isDirectory(p), () -> "runtime sources not found at " + Path.of(".").toAbsolutePath());
    return p;
  }

  private static Graph scan(Path root) {
    Graph g = new Graph();
    try (Stream<Path> files = Files.walk(root)) {
      for (Path f : files.filter(x -> x.toString().endsWith(".java")).toList()) {
        String code = stripCommentsAndStrings(Files.readString(f));
        Matcher pm = PACKAGE.matcher(code);
        if (!pm.find()) continue;
        String pkg = pm.group(1);
        g.node(pkg);
        String file = root.relativize(f).toString().replace('\\', '/');
        for (String target : references(code)) if (!target.equals(pkg)) g.add(pkg, target, file);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return g;
  }

  private static Set<String> references(String code) {
    Set<String> out = new TreeSet<>();
    Matcher m = REFERENCE.matcher(code);
    while (m.find()) out.add(m.group(1).replaceAll("\\s", ""));
    return out;
  }

  /** Blanks out comments, string and char literals and text blocks, keeping everything else. */
  static String stripCommentsAndStrings(String s) {
    StringBuilder out = new StringBuilder(s.length());
    int i = 0;
    int n = s.length();
    while (i < n) {
      char c = s.charAt(i);
      if (c == '/' && i + 1 < n && s.charAt(i + 1) == '/') {
        while (i < n && s.charAt(i) != '\n') i++;
      } else if (c == '/' && i + 1 < n && s.charAt(i + 1) == '*') {
        int end = s.indexOf("*/", i + 2);
        i = end < 0 ? n : end + 2;
        out.append(' ');
      } else if (s.startsWith("\"\"\"", i)) {
        int j = i + 3;
        while (j < n && !s.startsWith("\"\"\"", j)) j += s.charAt(j) == '\\' ? 2 : 1;
        i = Math.min(n, j + 3);
        out.append("\"\"");
      } else if (c == '"' || c == '\'') {
        int j = i + 1;
        while (j < n && s.charAt(j) != c && s.charAt(j) != '\n') j += s.charAt(j) == '\\' ? 2 : 1;
        i = Math.min(n, j + 1);
        out.append(c).append(c);
      } else {
        out.append(c);
        i++;
      }
    }
    return out.toString();
  }

  /** Package graph; each edge remembers the files that create it. */
  static final class Graph {
    private final Map<String, Map<String, Set<String>>> edges = new TreeMap<>();

    void node(String pkg) {
      edges.computeIfAbsent(pkg, k -> new TreeMap<>());
    }

    void add(String from, String to, String file) {
      node(from);
      node(to);
      edges.get(from).computeIfAbsent(to, k -> new TreeSet<>()).add(file);
    }

    Set<String> packages() {
      return edges.keySet();
    }

    boolean dependsOn(String from, String to) {
      return edges.getOrDefault(from, Map.of()).containsKey(to);
    }

    /** @return a cycle as {@code [p0, p1, ..., p0]}, or empty when the graph is acyclic */
    Optional<List<String>> findCycle() {
      Map<String, Integer> state = new HashMap<>(); // absent: unvisited, 1: on the path, 2: done
      List<String> path = new ArrayList<>();
      for (String start : edges.keySet()) {
        Optional<List<String>> c = visit(start, state, path);
        if (c.isPresent()) return c;
      }
      return Optional.empty();
    }

    private Optional<List<String>> visit(String v, Map<String, Integer> state, List<String> path) {
      Integer s = state.get(v);
      if (s != null && s == 2) return Optional.empty();
      if (s != null && s == 1) {
        List<String> cycle = new ArrayList<>(path.subList(path.indexOf(v), path.size()));
        cycle.add(v);
        return Optional.of(cycle);
      }
      state.put(v, 1);
      path.add(v);
      for (String w : edges.get(v).keySet()) {
        Optional<List<String>> c = visit(w, state, path);
        if (c.isPresent()) return c;
      }
      path.remove(path.size() - 1);
      state.put(v, 2);
      return Optional.empty();
    }

    String describe(List<String> cycle) {
      List<String> parts = new ArrayList<>();
      for (int i = 0; i + 1 < cycle.size(); i++) parts.add(describeEdge(cycle.get(i), cycle.get(i + 1)));
      return String.join(", ", parts);
    }

    String describeEdge(String from, String to) {
      return from + " -> " + to + " (" + String.join(", ", edges.getOrDefault(from, Map.of()).getOrDefault(to, Set.of())) + ")";
    }
  }
}
