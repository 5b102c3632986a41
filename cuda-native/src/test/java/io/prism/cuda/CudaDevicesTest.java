package io.prism.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prism.runtime.memory.DeviceException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Opening the CUDA backend where there is no GPU fails with a driver error that says what to do. */
class CudaDevicesTest {
  @Test
  void withoutADriverOpenFailsWithADeviceExceptionNamingCuInit() {
    assumeTrue(!Files.exists(Path.of("/dev/nvidiactl")), "a GPU driver is present");
    DeviceException e = assertThrows(DeviceException.class, () -> CudaDevices.open(1, 1L << 30));
    assertTrue(e.call().startsWith("cu"), e.getMessage());
  }

  @Test
  void badArgumentsNameTheValue() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaDevices.open(-1, 1L << 30));
    assertTrue(e.getMessage().contains("-1"), e.getMessage());
    System.setProperty("prism.cuda.precision", "fp8");
    try {
      e = assertThrows(IllegalArgumentException.class, () -> CudaDevices.open(1, 1L << 30));
      assertTrue(e.getMessage().contains("fp8"), e.getMessage());
    } finally {
      System.clearProperty("prism.cuda.precision");
    }
    assertEquals(2, Precision.BF16.elementBytes);
  }

  @Test
  void theServersEntryPointTakesThePinnedPoolAndNamesABadValue() throws Exception {
    // io.prism.actors.Devices calls exactly this signature by name
    assertEquals(java.util.List.class,
        CudaDevices.class.getMethod("open", int.class, long.class, long.class, long.class, java.time.Duration.class).getReturnType());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CudaDevices.open(1, 1L << 30, -5, 256L << 20, java.time.Duration.ofSeconds(1)));
    assertTrue(e.getMessage().contains("-5"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> CudaDevices.open(1, 1L << 30, 1L << 30, 0, java.time.Duration.ofSeconds(1)));
    assertTrue(e.getMessage().contains("chunk"), e.getMessage());
  }
}
