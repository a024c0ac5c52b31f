#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_scsi into fuzz/corpus (format: fuzz_scsi.c)."""
import os
import struct
import sys

NONE, IN, OUT = 0, 1, 2
VIO, VIO_FAULTY = 4, 5  # the virtio adapters (bit 6 of the selector)


def cmd(adapter, lun, direction, cdb, length=0, data=b""):
    pick = 0x40 | (adapter & 1) if adapter >= VIO else adapter & 3
    sel = pick | (lun & 3) << 2 | direction << 4
    return bytes([sel, len(cdb) - 1]) + struct.pack("<H", length) + bytes(cdb) + data


def read10(lba, n): return [0x28, 0] + list(struct.pack(">I", lba)) + [0] + list(struct.pack(">H", n)) + [0]
def write10(lba, n, fua=False): return [0x2A, 0x08 if fua else 0] + list(struct.pack(">I", lba)) + [0] + list(struct.pack(">H", n)) + [0]
def read16(lba, n): return [0x88, 0] + list(struct.pack(">Q", lba)) + list(struct.pack(">I", n)) + [0, 0]
def write_same16(lba, n, unmap): return [0x93, 0x08 if unmap else 0] + list(struct.pack(">Q", lba)) + list(struct.pack(">I", n)) + [0, 0]


unmap_params = struct.pack(">HH4x", 22, 16) + struct.pack(">QI4x", 8, 16)
seeds = {
    "tur": cmd(0, 0, NONE, [0, 0, 0, 0, 0, 0]),
    "inquiry": cmd(0, 0, IN, [0x12, 0, 0, 0, 96, 0], 96),
    "inquiry_vpd_pages": cmd(1, 0, IN, [0x12, 1, 0x00, 0, 255, 0], 255) + cmd(2, 1, IN, [0x12, 1, 0xB0, 0, 64, 0], 64),
    "inquiry_vpd_b2_80": cmd(3, 0, IN, [0x12, 1, 0xB2, 0, 8, 0], 8) + cmd(0, 1, IN, [0x12, 1, 0x80, 0, 64, 0], 64),
    "read_capacity": cmd(0, 0, IN, [0x25] + [0] * 9, 8) + cmd(1, 0, IN, [0x9E, 0x10] + [0] * 8 + [0, 0, 0, 32, 0, 0], 32),
    "mode_sense": cmd(2, 0, IN, [0x5A, 0x08, 0x08, 0, 0, 0, 0, 0, 255, 0], 255) + cmd(0, 0, IN, [0x1A, 0, 0x3F, 0, 255, 0], 255),
    "report_luns": cmd(0, 0, IN, [0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], 256),
    "request_sense": cmd(2, 0, IN, [0x03, 0, 0, 0, 252, 0], 252),
    "rw10": cmd(0, 0, OUT, write10(5, 2), 1024, bytes(range(256)) * 4) + cmd(0, 0, IN, read10(5, 2), 1024),
    "rw10_fua_phys": cmd(2, 1, OUT, write10(100, 1, True), 512, b"\xab" * 512) + cmd(2, 1, IN, read10(100, 1), 512),
    "read16_4k": cmd(1, 0, IN, read16(3, 2), 8192),
    "read_past_end": cmd(0, 0, IN, read10(2047, 2), 1024) + cmd(1, 0, IN, read16(1 << 40, 1), 4096),
    "write_ro": cmd(3, 0, OUT, write10(0, 1), 512, b"\x11" * 512),
    "sync_cache": cmd(0, 0, NONE, [0x35] + [0] * 9) + cmd(2, 0, NONE, [0x91] + [0] * 15),
    "unmap": cmd(0, 0, OUT, [0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], 24, unmap_params),
    "write_same": cmd(2, 0, OUT, write_same16(16, 32, True), 512, b"\0" * 512) + cmd(0, 0, OUT, write_same16(0, 8, False), 512, b"\x5a" * 512),
    "bad_opcode": cmd(0, 0, NONE, [0xFF] * 6) + cmd(1, 0, IN, [0xC0] * 16, 100),
    "missing_lun": cmd(0, 3, IN, [0x12, 0, 0, 0, 36, 0], 36) + cmd(2, 2, NONE, [0] * 6),
    "short_buffer": cmd(0, 0, IN, read10(0, 8), 100) + cmd(1, 0, OUT, write10(0, 1), 10, b"x" * 10),
    "long_cdb_ex": cmd(1, 0, IN, [0x7F, 0, 0, 0, 0, 0, 0, 0x18, 0, 0x09] + [0] * 22, 512),
    "virtio_rw": cmd(VIO, 0, OUT, write10(7, 3), 1536, bytes(range(256)) * 6) + cmd(VIO, 0, IN, read10(7, 3), 1536)
    + cmd(VIO_FAULTY, 0, OUT, write10(9, 1, True), 512, b"\x3c" * 512) + cmd(VIO_FAULTY, 0, IN, read16(9, 1), 512),
    "virtio_probe": cmd(VIO, 0, IN, [0x12, 0, 0, 0, 96, 0], 96) + cmd(VIO, 0, IN, [0x12, 1, 0x80, 0, 64, 0], 64)
    + cmd(VIO_FAULTY, 0, IN, [0x9E, 0x10] + [0] * 8 + [0, 0, 0, 32, 0, 0], 32) + cmd(VIO, 1, IN, [0x25] + [0] * 9, 8),
    "virtio_flush_unmap": cmd(VIO, 0, NONE, [0x35] + [0] * 9) + cmd(VIO, 0, OUT, [0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], 24, unmap_params)
    + cmd(VIO_FAULTY, 0, OUT, write_same16(16, 8, True), 512, b"\0" * 512),
    "virtio_edges": cmd(VIO, 0, IN, read10(2047, 2), 1024) + cmd(VIO_FAULTY, 0, IN, read10(0, 8), 100)
    + cmd(VIO, 0, NONE, [0xFF] * 6) + cmd(VIO_FAULTY, 0, IN, read16(0, 128), 65535),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {out}")
