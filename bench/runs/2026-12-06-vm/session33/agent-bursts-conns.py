import socket, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
n = int(sys.argv[1]); hold = float(sys.argv[2])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", 0)); ls.listen(4096)
keep = []
for i in range(n):
    c = socket.create_connection(ls.getsockname()); s, _ = ls.accept(); keep += [c, s]
print("open", len(keep), flush=True)
time.sleep(hold)
