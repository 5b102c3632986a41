package io.prism.runtime.memory;

/**
 * A device driver call failed. {@code call} names the API function (e.g. {@code cuMemMap}) and
 * {@code status} is its return code ({@code CUresult}); host implementations use negative codes.
 */
public class DeviceException extends RuntimeException {
  private final String call;
  private final int status;

  /**
   * @param call driver function that failed, e.g. {@code cuMemMap}
   * @param status its return code
   * @param detail extra context (sizes, offsets, device), may be null or empty
   */
  public DeviceException(String call, int status, String detail) {
    super(call + " failed with status " + status + (detail == null || detail.isEmpty() ? "" : ": " + detail));
    this.call = call;
    this.status = status;
  }

  /** Name of the failed driver function. */
  public String call() {
    return call;
  }

  /** The driver's status code ({@code CUresult}; negative on the host backend). */
  public int status() {
    return status;
  }
}
