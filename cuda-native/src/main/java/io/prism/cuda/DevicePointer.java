package io.prism.cuda;

import org.bytedeco.javacpp.Pointer;

/**
 * A JavaCPP {@link Pointer} wrapping a raw device address ({@code CUdeviceptr}), for the cuBLAS
 * entry points that take {@code void*} device pointers. Never dereferenced on the host.
 */
final class DevicePointer extends Pointer {
  DevicePointer(long address) {
    this.address = address;
  }
}
