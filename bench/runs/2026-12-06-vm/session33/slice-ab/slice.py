# set a SCHED_OTHER thread's requested slice (sched_attr.sched_runtime, Linux 6.12+), ns
import ctypes, os, sys, struct
libc = ctypes.CDLL(None, use_errno=True)
SYS_sched_setattr = 314  # x86_64
def set_slice(tid, ns, nice=0):
    # struct sched_attr { u32 size; u32 policy; u64 flags; s32 nice; u32 prio; u64 runtime, deadline, period; u32 util_min, util_max }
    attr = struct.pack("IIQiIQQQII", 56, 0, 0, nice, 0, ns, 0, 0, 0, 0)
    buf = ctypes.create_string_buffer(attr, 56)
    r = libc.syscall(SYS_sched_setattr, tid, buf, 0)
    if r != 0: raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
if __name__ == "__main__":
    set_slice(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
