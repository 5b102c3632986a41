package io.prism.http.security;

import com.typesafe.config.Config;
import io.prism.http.ApiError;
import io.prism.http.ApiException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The directories {@code POST /admin/models} may load files from ({@code prism.models.allowed-roots};
 * empty: the model directory the server registers at start-up, if it has one).
 *
 * <p>A requested path is made absolute (against the working directory) and canonicalised with
 * {@link Path#toRealPath}: every symbolic link resolved and every {@code ..} applied as the file
 * system does (after the links before it). It is accepted only if the result lies under the real
 * path of a root (whole path components: {@code /models-evil} is not under {@code /models}).
 * Anything else, a file that does not exist, a path outside every root, a link out of a root, a
 * {@code ..} escape, a malformed path, gets one fixed error ({@link #refusal}): 400 with the same
 * message whatever the file is, so the answer reveals neither whether it exists nor anything about it.
 *
 * <p>Immutable and thread-safe; {@link #resolve} reads the file system (metadata only).
 */
public final class ModelRoots {
  private static final String MESSAGE = "must name an existing model file or folder under the server's model roots "
      + "(prism.models.allowed-roots)";

  private final List<Path> realRoots; // null: anywhere

  private ModelRoots(List<Path> realRoots) {
    this.realRoots = realRoots;
  }

  /** No restriction: any path the process can read (route tests, embedding code that checks paths itself). */
  public static ModelRoots anywhere() {
    return new ModelRoots(null);
  }

  /**
   * Files under {@code roots} only (none: no file at all, only {@code random:} models).
   *
   * @throws IllegalArgumentException naming the root if one is not an existing directory
   */
  public static ModelRoots of(List<Path> roots) {
    List<Path> real = new ArrayList<>();
    for (Path root : roots) {
      try {
        Path r = root.toAbsolutePath().toRealPath();
        if (!Files.isDirectory(r)) throw new IllegalArgumentException("prism.models.allowed-roots: " + root + " is not a directory");
        real.add(r);
      } catch (IOException e) {
        throw new IllegalArgumentException("prism.models.allowed-roots: " + root + " does not exist or cannot be read (" + e + ")");
      }
    }
    return new ModelRoots(List.copyOf(real));
  }

  /**
   * The roots of {@code root}'s {@code prism.models.allowed-roots}, or, when that is empty, {@code
   * modelsDir} (the directory whose models the server registers at start-up) if present.
   *
   * @throws IllegalArgumentException as {@link #of}
   */
  public static ModelRoots from(Config root, Optional<Path> modelsDir) {
    List<String> configured = root.getStringList("prism.models.allowed-roots");
    List<Path> roots = new ArrayList<>();
    for (String r : configured) if (!r.isBlank()) roots.add(Path.of(r));
    if (roots.isEmpty()) modelsDir.ifPresent(roots::add);
    return of(roots);
  }

  /** The canonical roots; empty for {@link #anywhere()}. */
  public Optional<List<Path>> roots() {
    return Optional.ofNullable(realRoots);
  }

  /**
   * The canonical form of {@code requested} if it lies under a root.
   *
   * @param param the request field it came from ({@code path}, {@code tokenizer}), named by the error
   * @throws ApiException with {@link #refusal}{@code (param)} for anything else (always the same error)
   */
  public Path resolve(String requested, String param) {
    Path real;
    try {
      real = Path.of(requested).toAbsolutePath().toRealPath();
    } catch (InvalidPathException | IOException | SecurityException e) {
      if (realRoots == null) throw new ApiException(ApiError.invalid("no model file or folder at " + requested, param));
      throw new ApiException(refusal(param));
    }
    if (realRoots == null) return real;
    for (Path root : realRoots) if (real.startsWith(root)) return real;
    throw new ApiException(refusal(param));
  }

  /** The one error for any path that is not an existing file or folder under a root: 400 naming {@code param}. */
  public static ApiError refusal(String param) {
    return new ApiError(400, "invalid_request_error", param + " " + MESSAGE, param, "model_path_not_allowed", true);
  }

  @Override
  public String toString() {
    return realRoots == null ? "ModelRoots[anywhere]" : "ModelRoots" + realRoots;
  }
}
