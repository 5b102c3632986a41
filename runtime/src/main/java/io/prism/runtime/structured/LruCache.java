package io.prism.runtime.structured;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A bounded least-recently-used map. Threading: every method is synchronized on the cache; compute
 * values outside it (two threads may compute the same value; both results are equal, one is kept).
 */
final class LruCache<K, V> {
  private final int maxEntries;
  private final LinkedHashMap<K, V> map;

  LruCache(int maxEntries) {
    if (maxEntries < 1) throw new IllegalArgumentException("maxEntries must be >= 1, got " + maxEntries);
    this.maxEntries = maxEntries;
    this.map = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
        return size() > LruCache.this.maxEntries;
      }
    };
  }

  synchronized V get(K key) {
    return map.get(key);
  }

  synchronized void put(K key, V value) {
    map.put(key, value);
  }

  synchronized int size() {
    return map.size();
  }

  synchronized void clear() {
    map.clear();
  }
}
