#!/usr/bin/env python3
"""Percentage of pixels with the same label in two folders of label PNGs
(`ovseg eval --save-predictions DIR`: one <id>.png per image, 8- or 16-bit
grey). Python's standard library only (zlib), so it runs wherever ovseg's
scripts do. Prints one line per image and the total.

  scripts/label_agreement.py FP32_DIR BF16_DIR
"""
import os
import struct
import sys
import zlib


def read_grey_png(path):
    """(width, height, list of rows of ints) of a non-interlaced grey PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = header
    if colour != 0 or interlace != 0 or depth not in (8, 16):
        sys.exit(f"{path}: not an 8/16-bit grey, non-interlaced PNG (label maps are)")
    bpp = depth // 8
    stride = width * bpp
    raw = zlib.decompress(idat)
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG filter of this scanline
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(list(line) if bpp == 1 else [line[i] << 8 | line[i + 1] for i in range(0, stride, 2)])
        previous = line
    return width, height, rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a_dir, b_dir = sys.argv[1], sys.argv[2]
    names = sorted(n for n in os.listdir(a_dir) if n.endswith(".png"))
    if not names:
        sys.exit(f"{a_dir}: no .png label maps")
    same_total = pixels_total = 0
    for name in names:
        wa, ha, a = read_grey_png(os.path.join(a_dir, name))
        wb, hb, b = read_grey_png(os.path.join(b_dir, name))
        if (wa, ha) != (wb, hb):
            sys.exit(f"{name}: {wa}x{ha} in {a_dir} but {wb}x{hb} in {b_dir}")
        same = sum(x == y for ra, rb in zip(a, b) for x, y in zip(ra, rb))
        same_total += same
        pixels_total += wa * ha
        print(f"{name}: {100.0 * same / (wa * ha):.2f}% of {wa * ha} pixels equal")
    print(f"all {len(names)} images: {100.0 * same_total / pixels_total:.2f}% of {pixels_total} pixels equal")


if __name__ == "__main__":
    main()
