package io.prism.runtime.engine;

/**
 * The logits rows a {@link ModelEngine} hands to {@link ForwardBackend#forward}, {@code [rows][vocabSize]}
 * floats, allocated once and reused across steps (a row is up to 0.5 MiB for a 128k vocabulary).
 * Threading: the engine thread.
 */
final class LogitRows {
  private final int vocabSize;
  private final int expectedRows;
  private float[][] rows = new float[0][];

  LogitRows(int vocabSize, int expectedRows) {
    this.vocabSize = vocabSize;
    this.expectedRows = expectedRows;
  }

  /** {@code n} rows: the pooled array itself when it has exactly {@code n}, else a view of its first {@code n}. */
  float[][] rows(int n) {
    if (rows.length < n) {
      float[][] grown = new float[Math.max(n, expectedRows)][];
      System.arraycopy(rows, 0, grown, 0, rows.length);
      rows = grown;
    }
    for (int i = 0; i < n; i++) if (rows[i] == null) rows[i] = new float[vocabSize];
    if (rows.length == n) return rows;
    float[][] view = new float[n][];
    System.arraycopy(rows, 0, view, 0, n);
    return view;
  }
}
