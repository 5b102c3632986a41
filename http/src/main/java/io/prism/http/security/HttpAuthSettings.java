package io.prism.http.security;

import com.typesafe.config.Config;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;

/**
 * Who may call what over HTTP: the {@code prism.http.api-key}, {@code prism.http.admin-api-key},
 * {@code prism.http.auth.open-paths} and {@code prism.http.allow-unauthenticated} settings
 * (documented with their defaults in this module's {@code reference.conf}).
 *
 * <p>Scopes ({@link ApiKeyAuth}): {@code /admin/*} needs an admin key; every other path (the OpenAI
 * API {@code /v1/*}, {@code /tokenize}, {@code /detokenize}, {@code /metrics}) needs an inference
 * key or an admin key; the open paths need none. A scope with no key configured is open, except
 * that when inference keys are set and no admin key is, the admin API is disabled (403): the
 * inference key is handed to every client application, and must not let them register or delete
 * models.
 *
 * @param inferenceKeys keys of the OpenAI API ({@code prism.http.api-key}, env {@code PRISM_API_KEY})
 * @param adminKeys keys of the admin API ({@code prism.http.admin-api-key}, env {@code PRISM_ADMIN_API_KEY})
 * @param openPaths paths served without a key: exact paths ({@code /health}) or prefixes ending in
 *     {@code /*} ({@code /v1/models/*} opens {@code /v1/models} and everything under it)
 * @param allowUnauthenticated whether a non-loopback bind may go without an inference key
 *     ({@link #checkBind})
 */
public record HttpAuthSettings(ApiKeys inferenceKeys, ApiKeys adminKeys, List<String> openPaths, boolean allowUnauthenticated) {
  /** Default of {@code prism.http.auth.open-paths}. */
  public static final List<String> DEFAULT_OPEN_PATHS = List.of("/health", "/ready");

  /**
   * @throws IllegalArgumentException if an open path does not start with {@code /}
   */
  public HttpAuthSettings {
    openPaths = List.copyOf(openPaths);
    for (String p : openPaths) {
      if (!p.startsWith("/")) throw new IllegalArgumentException("prism.http.auth.open-paths: \"" + p + "\" must start with /");
    }
  }

  /** No keys: every path open (loopback servers, route tests). */
  public static HttpAuthSettings open() {
    return new HttpAuthSettings(ApiKeys.none(), ApiKeys.none(), DEFAULT_OPEN_PATHS, false);
  }

  /**
   * The settings under {@code prism.http} of {@code root}.
   *
   * @throws IllegalArgumentException naming the key whose value is malformed (never printing a key)
   */
  public static HttpAuthSettings from(Config root) {
    Config c = root.getConfig("prism.http");
    return new HttpAuthSettings(ApiKeys.from(root, "prism.http.api-key"), ApiKeys.from(root, "prism.http.admin-api-key"),
        c.getStringList("auth.open-paths"),
        c.getBoolean("allow-unauthenticated"));
  }

  /**
   * Refuses to serve an address other hosts can reach without an inference key.
   *
   * @param host the interface to bind ({@code prism.http.host})
   * @throws IllegalStateException saying how to fix it, if {@code host} is not a loopback address
   *     (or does not resolve), no inference key is configured and {@link #allowUnauthenticated} is off
   */
  public void checkBind(String host) {
    if (isLoopback(host) || !inferenceKeys.isEmpty() || allowUnauthenticated) return;
    throw new IllegalStateException("refusing to serve HTTP on " + host + " without an API key: anyone who can reach it could run, "
        + "register and delete models. Set an API key (--api-key, env PRISM_API_KEY or prism.http.api-key; an admin key with "
        + "--admin-api-key / PRISM_ADMIN_API_KEY), or bind 127.0.0.1 (--host, prism.http.host), or, if a proxy in front of Prism "
        + "authenticates every request, set prism.http.allow-unauthenticated = on (--allow-unauthenticated)");
  }

  /** Whether every address {@code host} names is a loopback address (a name that does not resolve is not). */
  static boolean isLoopback(String host) {
    try {
      InetAddress[] all = InetAddress.getAllByName(host);
      for (InetAddress a : all) if (!a.isLoopbackAddress()) return false;
      return all.length > 0;
    } catch (UnknownHostException e) {
      return false;
    }
  }

  /** Key counts and paths, never the keys. */
  @Override
  public String toString() {
    return "HttpAuthSettings[inference " + inferenceKeys + ", admin " + adminKeys + ", open " + openPaths + ", allowUnauthenticated="
        + allowUnauthenticated + "]";
  }
}
