package io.prism.runtime.memory;

import io.prism.runtime.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * The KV cache of one model instance as virtual tensors (kvcached's layout, DESIGN.md section 3):
 * one reserved {@link VirtualRange} per layer for K and one for V, each {@code maxPages * pageBytes}
 * long. A <b>page id</b> {@code p} is the byte range {@code [p * pageBytes, (p + 1) * pageBytes)} of
 * every one of those {@code 2 * numLayers} ranges, so backing page id {@code p} maps {@link
 * #physicalPagesPerPageId()} physical pages. Blocks are carved from page ids and never straddle them:
 *
 * <pre>
 *   layer l, K range:  | page 0                         | page 1                         | ...
 *                      | block 0 | block 1 | ... | b-1  | block b | ...                  |
 *   block:             [blockSize tokens, kvDim elements] of elementBytes each
 *   block id  = pageId * blocksPerPage + index in page
 *   token t of a sequence -> block table[t / blockSize], slot t % blockSize
 *   element offset of (block, slot) inside its page = ((block % blocksPerPage) * blockSize + slot) * kvDim
 * </pre>
 *
 * <p>Threading: confined to the device-owning thread, like {@link DeviceMemory}.
 */
public final class KvCache implements AutoCloseable {
  private final DeviceMemory memory;
  private final ModelConfig config;
  private final int blockSize;
  private final int elementBytes;
  private final int maxPages;
  private final int blocksPerPage;
  private final VirtualRange[] keys;
  private final VirtualRange[] values;
  private final boolean[] mapped;
  private int mappedPageIds;

  private KvCache(DeviceMemory memory, ModelConfig config, int blockSize, int elementBytes, int maxPages, int blocksPerPage) {
    this.memory = memory;
    this.config = config;
    this.blockSize = blockSize;
    this.elementBytes = elementBytes;
    this.maxPages = maxPages;
    this.blocksPerPage = blocksPerPage;
    this.keys = new VirtualRange[config.numLayers()];
    this.values = new VirtualRange[config.numLayers()];
    this.mapped = new boolean[maxPages];
  }

  /** Bytes of one block in one layer's K (or V) range: {@code blockSize * kvDim * elementBytes}. */
  public static long blockBytesPerLayer(ModelConfig config, int blockSize, int elementBytes) {
    return (long) blockSize * config.kvDim() * elementBytes;
  }

  /** Page ids needed to hold {@code tokens} tokens of context. */
  public static int pagesFor(ModelConfig config, int blockSize, int elementBytes, long pageBytes, int tokens) {
    long perPage = pageBytes / blockBytesPerLayer(config, blockSize, elementBytes);
    long blocks = (tokens + blockSize - 1L) / blockSize;
    return (int) ((blocks + perPage - 1) / perPage);
  }

  /**
   * Reserves the virtual ranges for a cache that can hold {@code maxTokens} tokens.
   *
   * @param elementBytes 4 for float32 (host), 2 for bf16 (CUDA)
   * @throws IllegalArgumentException if a block of one layer does not fit in a page; the message
   *     names the fix ({@code prism.gpu.page-size} or a smaller block size)
   */
  public static KvCache reserve(DeviceMemory memory, ModelConfig config, int blockSize, int elementBytes, int maxTokens) {
    if (blockSize <= 0) throw new IllegalArgumentException("block size must be > 0, got " + blockSize);
    if (maxTokens <= 0) throw new IllegalArgumentException("max tokens must be > 0, got " + maxTokens);
    long pageBytes = memory.granularity();
    long blockBytes = blockBytesPerLayer(config, blockSize, elementBytes);
    if (blockBytes > pageBytes) {
      throw new IllegalArgumentException("model " + config.name() + ": one KV block of one layer is " + blockBytes
          + " bytes but a page is " + pageBytes + " bytes; set prism.gpu.page-size to at least " + blockBytes
          + " bytes or lower prism.engine.block-size");
    }
    int blocksPerPage = (int) (pageBytes / blockBytes);
    int maxPages = pagesFor(config, blockSize, elementBytes, pageBytes, maxTokens);
    KvCache c = new KvCache(memory, config, blockSize, elementBytes, maxPages, blocksPerPage);
    try {
      for (int l = 0; l < config.numLayers(); l++) {
        c.keys[l] = memory.reserve(maxPages * pageBytes);
        c.values[l] = memory.reserve(maxPages * pageBytes);
      }
    } catch (RuntimeException e) {
      c.close();
      throw e;
    }
    return c;
  }

  /** Shape of the model whose K and V this cache holds. */
  public ModelConfig config() {
    return config;
  }

  /** The driver layer the ranges are reserved in (device-thread confined). */
  public DeviceMemory memory() {
    return memory;
  }

  /** Tokens per block. */
  public int blockSize() {
    return blockSize;
  }

  /** Bytes per K or V element (4 for float32, 2 for bf16). */
  public int elementBytes() {
    return elementBytes;
  }

  /** Bytes of one page (the device granularity). */
  public long pageBytes() {
    return memory.granularity();
  }

  /** Blocks carved from one page id. */
  public int blocksPerPage() {
    return blocksPerPage;
  }

  /** Page ids reserved: enough for the maximum context. */
  public int maxPages() {
    return maxPages;
  }

  /** Block ids reserved: {@code maxPages * blocksPerPage}. */
  public int maxBlocks() {
    return maxPages * blocksPerPage;
  }

  /** Physical pages behind one page id: one per layer for K and one for V. */
  public int physicalPagesPerPageId() {
    return 2 * config.numLayers();
  }

  /** K range of {@code layer}. */
  public VirtualRange keys(int layer) {
    return keys[layer];
  }

  /** V range of {@code layer}. */
  public VirtualRange values(int layer) {
    return values[layer];
  }

  /**
   * Whether page id {@code pageId} is backed by physical pages now.
   *
   * @throws IllegalArgumentException if the page id is outside {@code [0, maxPages)}
   */
  public boolean isMapped(int pageId) {
    return mapped[checkPage(pageId)];
  }

  /** Page ids currently backed by physical memory. */
  public int mappedPageIds() {
    return mappedPageIds;
  }

  /**
   * Backs page id {@code pageId} with {@code pages} (exactly {@link #physicalPagesPerPageId()}):
   * {@code pages[2l]} under layer {@code l}'s K, {@code pages[2l + 1]} under its V.
   *
   * @throws IllegalStateException if the page id is already mapped
   */
  public void map(int pageId, List<PhysicalPage> pages) {
    checkPage(pageId);
    if (mapped[pageId]) throw new IllegalStateException("page id " + pageId + " is already mapped");
    if (pages.size() != physicalPagesPerPageId()) {
      throw new IllegalArgumentException("page id needs " + physicalPagesPerPageId() + " physical pages, got " + pages.size());
    }
    long off = pageId * memory.granularity();
    int done = 0;
    try {
      for (int l = 0; l < config.numLayers(); l++) {
        memory.map(keys[l], off, pages.get(2 * l));
        done++;
        memory.map(values[l], off, pages.get(2 * l + 1));
        done++;
      }
    } catch (RuntimeException e) {
      for (int i = 0; i < done; i++) memory.unmap(i % 2 == 0 ? keys[i / 2] : values[i / 2], off);
      throw e;
    }
    mapped[pageId] = true;
    mappedPageIds++;
  }

  /**
   * Unmaps page id {@code pageId}; returns its physical pages (same order as {@link #map}) for the
   * pool to reuse or release.
   *
   * @throws IllegalStateException if the page id is not mapped
   */
  public List<PhysicalPage> unmap(int pageId) {
    checkPage(pageId);
    if (!mapped[pageId]) throw new IllegalStateException("page id " + pageId + " is not mapped");
    long off = pageId * memory.granularity();
    List<PhysicalPage> out = new ArrayList<>(physicalPagesPerPageId());
    for (int l = 0; l < config.numLayers(); l++) {
      out.add(memory.unmap(keys[l], off));
      out.add(memory.unmap(values[l], off));
    }
    mapped[pageId] = false;
    mappedPageIds--;
    return out;
  }

  /** Byte offset of block {@code blockId} inside every layer's K and V range. */
  public long blockOffsetBytes(int blockId) {
    int page = blockId / blocksPerPage;
    return page * memory.granularity() + (long) (blockId % blocksPerPage) * blockSize * config.kvDim() * elementBytes;
  }

  private int checkPage(int pageId) {
    if (pageId < 0 || pageId >= maxPages) throw new IllegalArgumentException("page id " + pageId + " outside [0, " + maxPages + ")");
    return pageId;
  }

  /**
   * Frees the virtual ranges. Every page id must have been unmapped (and its pages given back to the
   * pool) first.
   *
   * @throws IllegalStateException if page ids are still mapped
   */
  @Override
  public void close() {
    if (mappedPageIds > 0) throw new IllegalStateException(mappedPageIds + " page ids still mapped; unmap them before closing the KV cache");
    for (int l = 0; l < config.numLayers(); l++) {
      if (keys[l] != null) memory.free(keys[l]);
      if (values[l] != null) memory.free(values[l]);
      keys[l] = null;
      values[l] = null;
    }
  }
}
