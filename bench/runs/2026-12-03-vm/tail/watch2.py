# usage: watch2.py OUT PORT -- samples every 0.25 s while the loadgen runs:
# t fsync>25ms fsync>100ms fsync_n ack>25ms ack>100ms ack_n dirty_kB writeback_kB vda: rd_ios wr_ios wr_sectors in_flight discard_ios discard_sectors flush_ios  steal iowait idle
import socket, sys, time, os, re, subprocess
out, port = sys.argv[1], int(sys.argv[2])
def lg_alive():
    return subprocess.run(['pgrep', '-f', 'sentientiq-loadgen'], capture_output=True).returncode == 0
for _ in range(600):
    if lg_alive(): break
    time.sleep(0.05)
def metrics():
    try:
        s = socket.create_connection(('127.0.0.1', port), timeout=2)
        s.sendall(b'GET /metrics HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n')
        b = b''
        while True:
            d = s.recv(65536)
            if not d: break
            b += d
        s.close()
        return b.decode('utf-8', 'replace')
    except Exception:
        return ''
def hist(txt, name):
    le = {}; n = 0
    for m in re.finditer(r'^%s_bucket\{[^}]*le="([^"]+)"\} (\d+)' % name, txt, re.M):
        le[m.group(1)] = int(m.group(2))
    m = re.search(r'^%s_count\{[^}]*\} (\d+)' % name, txt, re.M)
    n = int(m.group(1)) if m else 0
    return n - le.get('0.025', n), n - le.get('0.1', n), n
t0 = time.time(); f = open(out, 'w'); k = 0
while True:
    k += 1
    if k % 20 == 0 and not lg_alive(): break
    t = time.time() - t0
    txt = metrics()
    fs = hist(txt, 'siq_fsync_seconds'); ak = hist(txt, 'siq_ack_seconds')
    mi = dict((l.split(':')[0], l.split()[1]) for l in open('/proc/meminfo'))
    st = open('/sys/block/vda/stat').read().split()
    cpu = open('/proc/stat').readline().split()
    vals = [st[0], st[4], st[6], st[8], st[11], st[13], st[15] if len(st) > 15 else '0']
    f.write('%.2f %d %d %d %d %d %d %s %s %s %s %s %s\n' % (t, *fs, *ak, mi['Dirty'], mi['Writeback'], ' '.join(vals), cpu[8], cpu[5], cpu[4]))
    f.flush()
    time.sleep(0.25)
