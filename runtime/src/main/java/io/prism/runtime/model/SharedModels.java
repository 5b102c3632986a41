package io.prism.runtime.model;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Locates the shared data directory's {@code models/} folder (DESIGN.md section 7): the system
 * property {@code prism.shared} (set by surefire to {@code <repo>/../shared}) plus {@code /models},
 * else {@code ../shared/models} relative to the working directory (the repository root), else
 * {@code ../../shared/models} (a module directory). Stateless.
 */
public final class SharedModels {
  private SharedModels() {}

  /** The first existing candidate directory, or empty. */
  public static Optional<Path> dir() {
    String prop = System.getProperty("prism.shared");
    if (prop != null && !prop.isBlank()) {
      Path p = Path.of(prop, "models");
      if (Files.isDirectory(p)) return Optional.of(p.normalize());
    }
    for (String candidate : new String[] {"../shared/models", "../../shared/models"}) {
      Path p = Path.of(candidate);
      if (Files.isDirectory(p)) return Optional.of(p.toAbsolutePath().normalize());
    }
    return Optional.empty();
  }

  /**
   * {@code name} inside the shared models directory.
   *
   * @throws IllegalStateException when the directory or file is missing, saying where it looked
   */
  public static Path file(String name) {
    Path d = dir().orElseThrow(() -> new IllegalStateException(
        "shared models directory not found: set -Dprism.shared=/path/to/shared or run from the repository root next to ../shared"));
    Path f = d.resolve(name);
    if (!Files.isRegularFile(f)) throw new IllegalStateException("shared model file missing: " + f);
    return f;
  }
}
