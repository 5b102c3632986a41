package io.prism.http.security;

import com.typesafe.config.Config;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What guards a node's HTTP API: who may call which path ({@link HttpAuthSettings}, checked by
 * {@link ApiKeyAuth}) and where {@code POST /admin/models} may load files from ({@link ModelRoots}).
 *
 * @param auth API keys, open paths, whether an unauthenticated non-loopback bind is allowed
 * @param modelRoots the model roots
 */
public record HttpSecurity(HttpAuthSettings auth, ModelRoots modelRoots) {
  /** No key and any model path: what route tests and code that embeds the routes behind its own checks use. */
  public static HttpSecurity unrestricted() {
    return new HttpSecurity(HttpAuthSettings.open(), ModelRoots.anywhere());
  }

  /**
   * The settings of {@code root} ({@code prism.http.*}, {@code prism.models.allowed-roots}).
   *
   * @param modelsDir the directory whose models the server registers at start-up (the default root)
   * @throws IllegalArgumentException naming the malformed key
   */
  public static HttpSecurity from(Config root, Optional<Path> modelsDir) {
    return new HttpSecurity(HttpAuthSettings.from(root), ModelRoots.from(root, modelsDir));
  }
}
