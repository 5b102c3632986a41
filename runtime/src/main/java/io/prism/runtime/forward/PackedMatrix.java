package io.prism.runtime.forward;

/**
 * A weight matrix {@code W [rows, cols]} re-laid out for {@link PackedGemm}: in panels of {@link
 * #PANEL} consecutive rows (16 here), each panel stored column by column, so one vector load reads one column
 * of 16 rows and the product needs no horizontal reductions (the layout of the "B panels" in
 * Goto and van de Geijn, "Anatomy of High-Performance Matrix Multiplication", 2008):
 *
 * <pre>
 *   data[(p * cols + k) * 16 + i] = W[p * 16 + i][k]     p &lt; panels = ceil(rows / 16), i &lt; 16
 *   rows past the end of W (last panel) are zero
 * </pre>
 *
 * <p>A copy: the source array is not referenced afterwards. Immutable after construction and safe
 * to read from many threads.
 */
public final class PackedMatrix {
  /** Rows per panel: the lanes of the preferred float vector (16 with AVX-512, 8 with AVX2). */
  public static final int PANEL = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();

  private final int rows;
  private final int cols;
  private final int panels;
  final float[] data; // [panels, cols, 16]

  private PackedMatrix(int rows, int cols, float[] data) {
    this.rows = rows;
    this.cols = cols;
    this.panels = (rows + PANEL - 1) / PANEL;
    this.data = data;
  }

  /**
   * Packs {@code rows x cols} floats of row-major {@code w} starting at {@code offset}.
   *
   * @throws IllegalArgumentException if the slice is outside {@code w} or too large for one array
   */
  public static PackedMatrix pack(float[] w, long offset, int rows, int cols) {
    if (rows <= 0 || cols <= 0) throw new IllegalArgumentException("matrix must be non-empty, got " + rows + " x " + cols);
    if (offset < 0 || offset + (long) rows * cols > w.length) {
      throw new IllegalArgumentException("matrix " + rows + " x " + cols + " at offset " + offset + " exceeds an array of " + w.length);
    }
    int panels = (rows + PANEL - 1) / PANEL;
    long size = (long) panels * cols * PANEL;
    if (size > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("packed matrix of " + size + " floats exceeds one Java array");
    float[] d = new float[(int) size];
    int off = (int) offset;
    for (int r = 0; r < rows; r++) {
      int p = r / PANEL, i = r % PANEL;
      int src = off + r * cols;
      int dst = p * cols * PANEL + i;
      for (int k = 0; k < cols; k++) d[dst + k * PANEL] = w[src + k];
    }
    return new PackedMatrix(rows, cols, d);
  }

  /** Rows of {@code W} (outputs). */
  public int rows() {
    return rows;
  }

  /** Columns of {@code W} (inputs). */
  public int cols() {
    return cols;
  }

  /** Panels of 16 rows, the last one possibly padded. */
  public int panels() {
    return panels;
  }

  /** Bytes of the packed array. */
  public long bytes() {
    return (long) data.length * Float.BYTES;
  }
}
