package io.prism.runtime.batching;

import java.util.Arrays;

/**
 * One request's token state as the {@link ContinuousBatcher} sees it: integer ids only (vLLM v1's
 * {@code Request}). Tokens are the prompt followed by the generated tokens; the first {@link
 * #numComputed()} of them have K and V in the KV cache, in the blocks of the block table:
 *
 * <pre>
 *   tokens:      p0 p1 p2 p3 p4 | g0 g1 g2        (prompt length 5, 3 generated)
 *   computed:    [0 ............ 7)               the last sampled token g2 is not yet computed
 *   block table: [b0][b1]                          block size 4: positions 0-3 in b0, 4-7 in b1
 * </pre>
 *
 * <p>A preempted sequence (recompute) keeps its tokens, drops its blocks and restarts with {@code
 * numComputed = 0}; the next schedules prefill prompt and generated tokens again. When it (or a new
 * sequence) joins the batch, blocks found in the prefix cache are adopted at the head of its block
 * table and their tokens count as computed ({@link #adoptCachedPrefix}).
 *
 * <p>Threading: confined to the engine thread.
 */
public final class Sequence {
  /** Where the sequence is in the batcher. */
  public enum Status {
    /** Queued: never scheduled, or preempted. */
    WAITING,
    /** In the running batch (prefilling or decoding). */
    RUNNING,
    /** Finished, cancelled or failed; holds no blocks. */
    FINISHED
  }

  private final String requestId;
  private final int promptLength;
  private int[] tokens; // [capacity], first numTokens valid
  private int numTokens;
  private int numComputed;
  private int[] blockTable = new int[8]; // first numBlocks valid
  private int numBlocks;
  private Status status = Status.WAITING;
  private int preemptions;

  /**
   * @param requestId the request's id
   * @param promptTokens prompt token ids, length {@code >= 1} (copied)
   * @param maxTotalTokens expected prompt plus output length, to size the token buffer (a hint)
   * @throws IllegalArgumentException if the prompt is empty
   */
  public Sequence(String requestId, int[] promptTokens, int maxTotalTokens) {
    if (promptTokens == null || promptTokens.length == 0) throw new IllegalArgumentException("prompt must have at least one token");
    this.requestId = requestId;
    this.promptLength = promptTokens.length;
    this.tokens = Arrays.copyOf(promptTokens, Math.max(promptTokens.length, maxTotalTokens));
    this.numTokens = promptTokens.length;
  }

  /** The request's id. */
  public String requestId() {
    return requestId;
  }

  /** Prompt length in tokens. */
  public int promptLength() {
    return promptLength;
  }

  /** Prompt plus generated tokens. */
  public int numTokens() {
    return numTokens;
  }

  /** Generated tokens so far. */
  public int numOutputTokens() {
    return numTokens - promptLength;
  }

  /** Tokens whose K and V are in the KV cache: positions {@code [0, numComputed)}. */
  public int numComputed() {
    return numComputed;
  }

  /** Token at position {@code i}. */
  public int token(int i) {
    if (i < 0 || i >= numTokens) throw new IllegalArgumentException("position " + i + " outside [0, " + numTokens + ")");
    return tokens[i];
  }

  /** Copy of the tokens at positions {@code [from, to)}. */
  public int[] tokens(int from, int to) {
    if (from < 0 || to > numTokens || from > to) throw new IllegalArgumentException("range [" + from + ", " + to + ") outside [0, " + numTokens + "]");
    return Arrays.copyOfRange(tokens, from, to);
  }

  /** Copy of the generated tokens. */
  public int[] outputTokens() {
    return Arrays.copyOfRange(tokens, promptLength, numTokens);
  }

  /** Appends a sampled token (not yet computed). */
  public void appendToken(int tokenId) {
    if (numTokens == tokens.length) tokens = Arrays.copyOf(tokens, Math.max(16, tokens.length * 2));
    tokens[numTokens++] = tokenId;
  }

  /** Blocks in the block table. */
  public int numBlocks() {
    return numBlocks;
  }

  /** Block {@code i} of the block table. */
  public int block(int i) {
    if (i < 0 || i >= numBlocks) throw new IllegalArgumentException("block index " + i + " outside [0, " + numBlocks + ")");
    return blockTable[i];
  }

  /** Copy of the block table. */
  public int[] blockTable() {
    return Arrays.copyOf(blockTable, numBlocks);
  }

  /** Where the sequence is now. */
  public Status status() {
    return status;
  }

  /** Times this sequence was preempted. */
  public int preemptions() {
    return preemptions;
  }

  @Override
  public String toString() {
    return "Sequence[" + requestId + ", " + status + ", tokens=" + numTokens + ", computed=" + numComputed + ", blocks=" + numBlocks + "]";
  }

  void addBlocks(int[] blocks) {
    if (numBlocks + blocks.length > blockTable.length) blockTable = Arrays.copyOf(blockTable, Math.max(numBlocks + blocks.length, 2 * blockTable.length));
    System.arraycopy(blocks, 0, blockTable, numBlocks, blocks.length);
    numBlocks += blocks.length;
  }

  /** Removes and returns the whole block table. */
  int[] takeBlocks() {
    int[] out = Arrays.copyOf(blockTable, numBlocks);
    numBlocks = 0;
    return out;
  }

  void advanceComputed(int n) {
    if (numComputed + n > numTokens) throw new IllegalStateException(this + ": computing " + n + " more tokens than it has");
    numComputed += n;
  }

  /** Puts cache-hit blocks at the head of an empty block table; their {@code tokens} count as computed. */
  void adoptCachedPrefix(int[] blocks, int tokens) {
    if (numBlocks != 0 || numComputed != 0) throw new IllegalStateException(this + " already holds KV");
    if (tokens >= numTokens) throw new IllegalStateException(this + ": a cache hit must leave at least one token to compute");
    addBlocks(blocks);
    numComputed = tokens;
  }

  /** Undoes {@link #adoptCachedPrefix} after the caller freed the blocks ({@link #takeBlocks}). */
  void dropCachedPrefix() {
    if (numBlocks != 0) throw new IllegalStateException(this + " still holds blocks");
    numComputed = 0;
  }

  void resetForRecompute() {
    numComputed = 0;
    preemptions++;
  }

  void setStatus(Status s) {
    status = s;
  }
}
