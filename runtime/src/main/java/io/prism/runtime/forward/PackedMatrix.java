package io.prism.runtime.forward;

/**
 * A weight matrix {@code W [rows, cols]} re-laid out for {@link PackedGemm}: in blocks of {@link
 * #BLOCK} consecutive rows (two panels of {@link #PANEL}, one vector each), each block stored column
 * by column, so a vector load reads one column of 16 rows, the product needs no horizontal
 * reductions, and a register tile of one block reads one sequential stream (the packed "B panels"
 * of Goto and van de Geijn, "Anatomy of High-Performance Matrix Multiplication", 2008):
 *
 * <pre>
 *   data[(b * cols + k) * 32 + j] = W[b * 32 + j][k]     b &lt; blocks = ceil(rows / 32), j &lt; 32
 *   panel p = rows [16p, 16p + 16) = lanes [16 (p % 2), 16 (p % 2) + 16) of block p / 2
 *   rows past the end of W (last block) are zero
 * </pre>
 *
 * <p>A copy: the source array is not referenced afterwards. Immutable after construction and safe
 * to read from many threads.
 */
public final class PackedMatrix {
  /** Rows per panel: the lanes of the preferred float vector (16 with AVX-512, 8 with AVX2). */
  public static final int PANEL = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
  /** Rows per block: two panels. */
  public static final int BLOCK = 2 * PANEL;

  private final int rows;
  private final int cols;
  private final int blocks;
  final float[] data; // [blocks, cols, 32]

  private PackedMatrix(int rows, int cols, float[] data) {
    this.rows = rows;
    this.cols = cols;
    this.blocks = (rows + BLOCK - 1) / BLOCK;
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
    int blocks = (rows + BLOCK - 1) / BLOCK;
    long size = (long) blocks * cols * BLOCK;
    if (size > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("packed matrix of " + size + " floats exceeds one Java array");
    float[] d = new float[(int) size];
    int off = (int) offset;
    for (int r = 0; r < rows; r++) {
      int b = r / BLOCK, j = r % BLOCK;
      int src = off + r * cols;
      int dst = b * cols * BLOCK + j;
      for (int k = 0; k < cols; k++) d[dst + k * BLOCK] = w[src + k];
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

  /** Blocks of 32 rows, the last one possibly padded with zero rows. */
  public int blocks() {
    return blocks;
  }

  /** Bytes of the packed array. */
  public long bytes() {
    return (long) data.length * Float.BYTES;
  }
}
