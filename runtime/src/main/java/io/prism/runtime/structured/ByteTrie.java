package io.prism.runtime.structured;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * An immutable trie over a small set of byte strings, each tagged with an int (its index in the
 * list it was built from): enum/const literals and an object's property keys. A node knows the
 * sorted tags below it, so "does any string with a tag in [lo, hi] continue here" is one binary
 * search. Nodes compare by identity. Immutable; any thread.
 */
final class ByteTrie {
  private static final ByteTrie[] NO_CHILDREN = new ByteTrie[0];
  private byte[] labels = new byte[0];
  private ByteTrie[] children = NO_CHILDREN;
  private int[] tagsBelow = new int[0]; // sorted tags of the strings ending at or below this node
  private int tag = -1; // tag of the string ending exactly here, or -1

  private ByteTrie() {}

  /** A trie of the UTF-8 bytes of {@code strings}, string {@code i} tagged {@code i}; none may be empty. */
  static ByteTrie of(List<String> strings) {
    ByteTrie root = new ByteTrie();
    for (int i = 0; i < strings.size(); i++) {
      byte[] b = strings.get(i).getBytes(StandardCharsets.UTF_8);
      if (b.length == 0) throw new IllegalArgumentException("empty literal");
      ByteTrie n = root;
      n.addTag(i);
      for (byte x : b) {
        ByteTrie c = n.child(x & 0xff);
        if (c == null) c = n.add(x);
        c.addTag(i);
        n = c;
      }
      if (n.tag < 0) n.tag = i; // duplicates keep the first tag
    }
    return root;
  }

  private void addTag(int t) {
    int[] grown = Arrays.copyOf(tagsBelow, tagsBelow.length + 1);
    grown[tagsBelow.length] = t;
    Arrays.sort(grown);
    tagsBelow = grown;
  }

  private ByteTrie add(byte b) {
    ByteTrie c = new ByteTrie();
    labels = Arrays.copyOf(labels, labels.length + 1);
    children = Arrays.copyOf(children, children.length + 1);
    labels[labels.length - 1] = b;
    children[children.length - 1] = c;
    return c;
  }

  /** The child along byte {@code b} (0..255), or null. */
  ByteTrie child(int b) {
    for (int i = 0; i < labels.length; i++) if ((labels[i] & 0xff) == b) return children[i];
    return null;
  }

  /** Whether a string ends exactly here. */
  boolean terminal() {
    return tag >= 0;
  }

  /** The tag of the string ending here, or -1. */
  int tag() {
    return tag;
  }

  /** Whether nothing continues below this node. */
  boolean leaf() {
    return children.length == 0;
  }

  /** Whether some string through this node has a tag in {@code [lo, hi]}. */
  boolean hasTagIn(int lo, int hi) {
    if (lo > hi) return false;
    int i = Arrays.binarySearch(tagsBelow, lo);
    if (i >= 0) return true;
    int ins = -i - 1;
    return ins < tagsBelow.length && tagsBelow[ins] <= hi;
  }
}
