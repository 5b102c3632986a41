package io.prism.cuda;

import io.prism.runtime.memory.DeviceException;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.javacpp.PointerPointer;

/**
 * The one place where driver, cuBLAS and NVRTC status codes become exceptions (kvcached's
 * {@code check(call, status)}, DESIGN.md section 4): a non-zero status is a {@link DeviceException}
 * naming the call, the status and the driver's own name for it.
 *
 * <p>Threading: stateless; the error-name look-ups allocate a little native memory per failure only.
 */
final class CudaCheck {
  private CudaCheck() {}

  /**
   * Throws when a CUDA driver API call ({@code CUresult}) failed.
   *
   * @param call the API function, e.g. {@code "cuMemMap"}
   * @param status its return code; {@code CUDA_SUCCESS} (0) returns normally
   * @throws DeviceException naming {@code call} when {@code status != 0}
   */
  static void check(String call, int status) {
    if (status != cudart.CUDA_SUCCESS) throw new DeviceException(call, status, driverErrorName(status));
  }

  /** Like {@link #check} for a cuBLAS call ({@code cublasStatus_t}). */
  static void checkBlas(String call, int status) {
    if (status != cublas.CUBLAS_STATUS_SUCCESS) throw new DeviceException(call, status, "cublasStatus " + status);
  }

  /** Like {@link #check} for an NVRTC call ({@code nvrtcResult}); {@code log} is appended when given. */
  static void checkNvrtc(String call, int status, String log) {
    if (status != nvrtc.NVRTC_SUCCESS) {
      String name = nvrtc.nvrtcGetErrorString(status).getString();
      throw new DeviceException(call, status, name + (log == null || log.isBlank() ? "" : "\n" + log));
    }
  }

  private static String driverErrorName(int status) {
    try (PointerPointer<?> name = new PointerPointer<>(1); PointerPointer<?> text = new PointerPointer<>(1)) {
      String n = cudart.cuGetErrorName(status, name) == 0 && name.get(0) != null ? name.getString(0) : "CUresult " + status;
      String t = cudart.cuGetErrorString(status, text) == 0 && text.get(0) != null ? text.getString(0) : "";
      return t.isEmpty() ? n : n + " (" + t + ")";
    } catch (RuntimeException e) {
      return "CUresult " + status;
    }
  }
}
