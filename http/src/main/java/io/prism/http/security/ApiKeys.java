package io.prism.http.security;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValueType;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;

/**
 * A set of API keys, kept only as SHA-256 digests, and a constant-time check of a presented key
 * against them.
 *
 * <p>Matching: the presented key is hashed and its digest compared with every configured digest by
 * {@link MessageDigest#isEqual} (constant time for equal lengths, and digests always have 32
 * bytes), without stopping at the first match, so the time taken tells nothing about which key
 * matched or how much of a key was right.
 *
 * <p>A key is 16 to 512 printable ASCII characters without spaces (what fits a {@code Bearer}
 * token); shorter ones are refused as guessable ({@code openssl rand -hex 32} makes a good one).
 * {@link #toString()} gives only the number of keys: the keys themselves are never logged.
 *
 * <p>Immutable and thread-safe.
 */
public final class ApiKeys {
  /** Fewest characters of a key. */
  public static final int MIN_KEY_CHARS = 16;
  /** Most characters of a key. */
  public static final int MAX_KEY_CHARS = 512;

  private static final ApiKeys NONE = new ApiKeys(List.of());

  private final List<byte[]> digests;

  private ApiKeys(List<byte[]> digests) {
    this.digests = digests;
  }

  /** No key: the scope it guards is open. */
  public static ApiKeys none() {
    return NONE;
  }

  /**
   * The given keys (blank entries are skipped).
   *
   * @param setting the configuration key they come from, named in errors
   * @throws IllegalArgumentException naming {@code setting} and the key's position (never the key)
   *     if a key is too short, too long or has characters outside printable ASCII
   */
  public static ApiKeys of(String setting, List<String> keys) {
    List<byte[]> digests = new ArrayList<>();
    int position = 0;
    for (String raw : keys) {
      position++;
      String key = raw.strip();
      if (key.isEmpty()) continue;
      if (key.length() < MIN_KEY_CHARS || key.length() > MAX_KEY_CHARS) {
        throw new IllegalArgumentException(setting + ": key " + position + " has " + key.length() + " characters; a key needs "
            + MIN_KEY_CHARS + " to " + MAX_KEY_CHARS + " (e.g. the output of `openssl rand -hex 32`)");
      }
      for (int i = 0; i < key.length(); i++) {
        char c = key.charAt(i);
        if (c <= 0x20 || c >= 0x7f) {
          throw new IllegalArgumentException(setting + ": key " + position + " has a character outside printable ASCII (or a space) at index "
              + i + "; a Bearer token cannot carry it");
        }
      }
      digests.add(sha256(key));
    }
    return digests.isEmpty() ? NONE : new ApiKeys(List.copyOf(digests));
  }

  /**
   * The keys at {@code path} of {@code config}: a string (one key, or several separated by commas,
   * as an environment variable holds them) or a list of strings; an empty string is no key.
   *
   * @throws IllegalArgumentException as {@link #of}, or if the value is neither a string nor a list
   */
  public static ApiKeys from(Config config, String path) {
    if (!config.hasPath(path)) return NONE;
    ConfigValueType type = config.getValue(path).valueType();
    try {
      if (type == ConfigValueType.LIST) return of(path, config.getStringList(path));
      return of(path, List.of(config.getString(path).split(",", -1)));
    } catch (ConfigException.WrongType e) {
      throw new IllegalArgumentException(path + " must be a string or a list of strings, got " + type.name().toLowerCase());
    }
  }

  /** Whether no key is configured. */
  public boolean isEmpty() {
    return digests.isEmpty();
  }

  /** Number of keys. */
  public int size() {
    return digests.size();
  }

  /**
   * Whether {@code presented} is one of the keys, in time independent of which key (if any) it
   * matches. {@code null} matches nothing.
   */
  public boolean matches(String presented) {
    if (presented == null) return false;
    byte[] d = sha256(presented);
    boolean found = false;
    for (byte[] k : digests) found |= MessageDigest.isEqual(k, d);
    return found;
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }

  /** The number of keys, never the keys. */
  @Override
  public String toString() {
    return "ApiKeys[" + digests.size() + (digests.size() == 1 ? " key]" : " keys]");
  }
}
