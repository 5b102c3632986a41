"""Splits DIR/model.safetensors into two shards the way Hugging Face names them
(model-00001-of-00002.safetensors, ...) plus model.safetensors.index.json, and deletes the
original; used to make the sharded reference folder (mistral) of ArchitectureReferenceTest.
Plain Python (json + struct): no torch. Tensors keep their bytes; shard k holds the k-th half of the
tensor names in sorted order. Safetensors format: 8-byte little-endian header length N, JSON header
{name: {dtype, shape, data_offsets}}, then the data (offsets relative to byte 8 + N).

Usage: python3 split_safetensors.py DIR
"""
import json
import os
import struct
import sys

d = sys.argv[1]
src = os.path.join(d, "model.safetensors")
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
meta = header.pop("__metadata__", {"format": "pt"})
names = sorted(header)
halves = [names[: len(names) // 2], names[len(names) // 2:]]
weight_map = {}
total = 0
for i, part in enumerate(halves):
    fname = "model-%05d-of-%05d.safetensors" % (i + 1, len(halves))
    h, blobs, off = {"__metadata__": meta}, [], 0
    for name in part:
        t = header[name]
        b, e = t["data_offsets"]
        blobs.append(data[b:e])
        h[name] = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [off, off + e - b]}
        off += e - b
        weight_map[name] = fname
    hb = json.dumps(h, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
    total += off
with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
os.remove(src)
