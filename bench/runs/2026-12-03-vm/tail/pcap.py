import struct, sys, collections
f = open(sys.argv[1], 'rb')
gh = f.read(24)
magic = struct.unpack('<I', gh[:4])[0]
div = 1e9 if magic == 0xa1b23c4d else 1e6
link = struct.unpack('<I', gh[20:24])[0]
off = 14 if link == 1 else 0
PORT = 7460
syn = {}; first_srv = collections.defaultdict(list); cli_n = collections.Counter()
pending = collections.defaultdict(list)
resp = []   # (t_client, delay)
conn = []   # (t_syn, syn->synack, upgrade->first srv payload, hello->welcome, syn->welcome)
cli_pay = collections.defaultdict(list)
synack = {}
t0 = None
while True:
    h = f.read(16)
    if len(h) < 16: break
    s, us, incl, orig = struct.unpack('<IIII', h)
    d = f.read(incl)
    t = s + us / div
    if t0 is None: t0 = t
    ip = d[off:]
    if len(ip) < 20 or ip[0] >> 4 != 4: continue
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack('>H', ip[2:4])[0]
    tcp = ip[ihl:]
    sp, dp = struct.unpack('>HH', tcp[:4])
    toff = (tcp[12] >> 4) * 4
    flags = tcp[13]
    pay = tot - ihl - toff
    if dp == PORT:   # client -> server
        c = sp
        if flags & 0x02 and not flags & 0x10:
            syn[c] = t; cli_pay[c] = []; pending[c] = []; first_srv[c] = []
            continue
        if pay > 0:
            cli_pay[c].append(t)
            if len(cli_pay[c]) > 2: pending[c].append(t)
    elif sp == PORT:
        c = dp
        if flags & 0x12 == 0x12:
            synack[c] = t; continue
        if pay > 0:
            n = len(cli_pay[c])
            if c in syn and n <= 2 and len(first_srv[c]) < 2:
                first_srv[c].append((t, n))
                if n == 2:
                    up = [x for x, k in first_srv[c] if k == 1]
                    conn.append((syn[c] - t0, synack.get(c, t) - syn[c], (up[0] - cli_pay[c][0]) if up else float('nan'), t - cli_pay[c][1], t - syn[c]))
            for tc in pending[c]:
                resp.append((tc - t0, t - tc))
            pending[c] = []
def pct(v, q):
    v = sorted(v); return v[min(len(v) - 1, int(q * len(v)))] * 1e3 if v else float('nan')
ds = [x[1] for x in resp]
print('frames answered on the wire: %d  p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms' % (len(ds), pct(ds, .5), pct(ds, .99), pct(ds, .999), pct(ds, 1)))
for name, i in (('syn->synack', 1), ('upgrade->101', 2), ('hello->welcome', 3), ('syn->welcome', 4)):
    v = [x[i] for x in conn if x[i] == x[i]]
    print('%-15s n %d p50 %.2f p99 %.2f max %.2f ms' % (name, len(v), pct(v, .5), pct(v, .99), pct(v, 1)))
# per second
by = collections.defaultdict(list)
for tc, dl in resp: by[int(tc)].append(dl)
print('sec  n  p50  p99  max (wire response ms)')
for k in sorted(by):
    v = by[k]; print('%3d %6d %6.2f %7.2f %7.2f' % (k, len(v), pct(v, .5), pct(v, .99), pct(v, 1)))
slow = sorted(conn, key=lambda x: -x[4])[:10]
print('slowest connects (t, synack, upgrade->101, hello->welcome, total) ms:')
for x in slow: print('%.3f %.2f %.2f %.2f %.2f' % (x[0], x[1]*1e3, x[2]*1e3, x[3]*1e3, x[4]*1e3))
