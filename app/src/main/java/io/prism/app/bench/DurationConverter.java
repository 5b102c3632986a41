package io.prism.app.bench;

import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import picocli.CommandLine;

/** Picocli converter of durations written as in HOCON ({@code 500ms}, {@code 15s}, {@code 2m}); throws naming the value if it is not one. */
public final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
  @Override
  public Duration convert(String value) {
    try {
      return ConfigFactory.parseString("d = \"" + value.replace("\"", "") + "\"").getDuration("d");
    } catch (com.typesafe.config.ConfigException e) {
      throw new CommandLine.TypeConversionException("'" + value + "' is not a duration such as 500ms, 15s or 2m");
    }
  }
}
