# Regenerates coco_object_mini_reference.txt (run by hand, not by the tests):
#   gcc -O2 -shared -fPIC -o /tmp/cocoref/libmaskapi.so maskApi.c   (cocoapi common/)
#   /usr/bin/python3 make_coco_reference.py instances_val2017_mini.json > out.txt
# Needs python3-numpy. Mirrors pycocotools COCO.annToRLE: polygons -> rleFrPoly
# (or rleFrBbox when the first polygon has 4 numbers) merged with rleMerge;
# uncompressed RLE -> rleInit.
import ctypes, json, sys, collections
import numpy as np
L = ctypes.CDLL('/tmp/cocoref/libmaskapi.so')
siz = ctypes.c_ulong
class RLE(ctypes.Structure):
    _fields_ = [('h', siz), ('w', siz), ('m', siz), ('cnts', ctypes.POINTER(ctypes.c_uint))]
L.rleToString.restype = ctypes.c_void_p
def fr_poly(p, h, w):
    R = RLE(); arr = (ctypes.c_double * len(p))(*p)
    L.rleFrPoly(ctypes.byref(R), arr, siz(len(p)//2), siz(h), siz(w)); return R
def fr_bbox(bb, h, w):
    R = RLE(); arr = (ctypes.c_double * 4)(*bb)
    L.rleFrBbox(ctypes.byref(R), arr, siz(h), siz(w), siz(1)); return R
def fr_counts(c, h, w):
    R = RLE(); arr = (ctypes.c_uint * len(c))(*c)
    L.rleInit(ctypes.byref(R), siz(h), siz(w), siz(len(c)), arr); return R
def merge(rs):
    arr = (RLE * len(rs))(*rs); M = RLE()
    L.rleMerge(arr, ctypes.byref(M), siz(len(rs)), 0); return M
def decode(R):
    buf = (ctypes.c_ubyte * (R.h * R.w))()
    L.rleDecode(ctypes.byref(R), buf, siz(1))
    return np.frombuffer(buf, dtype=np.uint8).reshape((R.w, R.h)).T.copy()
def to_string(R):
    p = L.rleToString(ctypes.byref(R)); return ctypes.string_at(p).decode()
def ann_rle(a, h, w):
    s = a['segmentation']
    if isinstance(s, list):
        if len(s[0]) == 4: rs = [fr_bbox(b, h, w) for b in s]
        else: rs = [fr_poly(p, h, w) for p in s]
        return merge(rs)
    if isinstance(s['counts'], list): return fr_counts(s['counts'], s['size'][0], s['size'][1])
    raise SystemExit('compressed not expected')
d = json.load(open(sys.argv[1]))
cats = sorted(c['id'] for c in d['categories']); cidx = {c: i + 1 for i, c in enumerate(cats)}
imgs = {i['id']: i for i in d['images']}
byimg = collections.defaultdict(list)
out = []
for a in d['annotations']:
    im = imgs[a['image_id']]; R = ann_rle(a, im['height'], im['width'])
    m = decode(R)
    out.append('ann %d %d' % (a['id'], int(m.sum())))
    if a['iscrowd']: out.append('str %d %d %d %s' % (a['id'], R.h, R.w, to_string(R)))
    byimg[a['image_id']].append((a, m))
for im in d['images']:
    lab = np.zeros((im['height'], im['width']), np.int32)
    for a, m in byimg[im['id']]:
        if a['iscrowd']: continue
        lab[m == 1] = cidx[a['category_id']]
    u, c = np.unique(lab, return_counts=True)
    out.append('img %s %s' % (im['file_name'].rsplit('.', 1)[0], ' '.join('%d:%d' % (x, y) for x, y in zip(u, c))))
print('\n'.join(out))
