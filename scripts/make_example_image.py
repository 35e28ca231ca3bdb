#!/usr/bin/env python3
"""Draws pipelines/examples/beach.png, the bundled example image (a synthetic
beach: sky, sun, sea, sand, grass, a red ball) with seeded noise. Standard
library only. Kept for reproducibility; the PNG is committed."""
import random, struct, zlib, math, sys

W, H = 320, 240
rng = random.Random(7)

def color_at(x, y):
    if (x - 250) ** 2 + (y - 45) ** 2 < 22 ** 2: return (1.0, 0.9, 0.3)     # sun
    horizon = 95 + 6 * math.sin(x / 30.0)
    if y < horizon: return (0.53 - 0.001 * y, 0.75 - 0.0005 * y, 0.95)        # sky
    if (x - 200) ** 2 + (y - 185) ** 2 < 18 ** 2: return (0.85, 0.15, 0.15)  # ball
    shore = 150 + 10 * math.sin(x / 45.0)
    if y < shore: return (0.1, 0.35 + 0.05 * math.sin(x / 7.0 + y / 3.0), 0.6)  # sea
    if x < 90 and y > 175 + 15 * math.sin(x / 20.0): return (0.25, 0.6, 0.2)  # grass
    return (0.9, 0.8, 0.55)                                                   # sand

rows = []
for y in range(H):
    row = bytearray([0])
    for x in range(W):
        c = color_at(x, y)
        row += bytes(max(0, min(255, int(255 * v + rng.gauss(0, 8)))) for v in c)
    rows.append(bytes(row))

def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)

png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")
open(sys.argv[1] if len(sys.argv) > 1 else "pipelines/examples/beach.png", "wb").write(png)
