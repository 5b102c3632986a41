package io.prism.cuda;

import org.bytedeco.javacpp.Pointer;

/**
 * A JavaCPP {@link Pointer} wrapping a raw device address ({@code CUdeviceptr}), for the cuBLAS
 * entry points that take {@code void*} device pointers, or a pinned host chunk's address for the
 * copy and free calls that take a host pointer. Never dereferenced on the host.
 */
final class DevicePointer extends Pointer {
  DevicePointer(long address) {
    this.address = address;
  }
}
