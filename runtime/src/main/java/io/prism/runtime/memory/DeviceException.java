package io.prism.runtime.memory;

/**
 * A device driver call failed. {@code call} names the API function (e.g. {@code cuMemMap}) and
 * {@code status} is its return code ({@code CUresult}); host implementations use negative codes.
 */
public class DeviceException extends RuntimeException {
  private final String call;
  private final int status;

  public DeviceException(String call, int status, String detail) {
    super(call + " failed with status " + status + (detail == null || detail.isEmpty() ? "" : ": " + detail));
    this.call = call;
    this.status = status;
  }

  public String call() {
    return call;
  }

  public int status() {
    return status;
  }
}
