# bursts of the agent's thread: schedstat run time sampled every 1 ms
import time, sys
tid = sys.argv[1]; dur = float(sys.argv[2])
def run(): return int(open(f"/proc/1/task/{tid}/schedstat").read().split()[0])
prev = run(); t0 = time.time(); bursts = []; cur = None
while time.time() - t0 < dur:
    time.sleep(0.001)
    r = run(); d = r - prev; prev = r
    now = time.time() - t0
    if d > 0:
        if cur and now - cur[1] < 0.004: cur = (cur[0], now, cur[2] + d)
        else:
            if cur: bursts.append(cur)
            cur = (now, now, d)
if cur: bursts.append(cur)
big = [b for b in bursts if b[2] > 2e6]
tot = sum(b[2] for b in bursts)
print(f"{len(bursts)} bursts, {len(big)} over 2 ms; run {tot/1e6:.1f} ms in {dur} s ({tot/1e7/dur:.2f} %)")
print("over 2 ms (start s, ms):", [(round(b[0], 2), round(b[2]/1e6, 1)) for b in big][:30])
