# scripts/coronet-gdb.py — gdb commands for programs that use coronet.
#
#   (gdb) source scripts/coronet-gdb.py     (or: installed under
#                                            share/coronet/, see README)
#   (gdb) cn-list          every coroutine of every scheduler thread:
#                          id, name, state / what it waits on
#   (gdb) cn-bt ID         the backtrace of suspended coroutine ID, read
#                          from its saved registers (src/arch/*.S frame)
#
# A scheduler is found through each thread's "current scheduler" (runq.c's
# tls_sched), set while that thread runs cn_runtime_run(); its tasks are
# the dump's list (sched.h: all / all_next). cn-bt switches the selected
# frame's registers to the coroutine's saved ones, prints the backtrace and
# puts them back, so the program can go on. The running coroutine has no
# saved registers: use plain bt in its thread. x86_64 and arm64; needs the
# library built with -g (the default).
import gdb

WHAT = ["runnable", "running", "sleeping", "waiting for fd (read)",
        "waiting for fd (write)", "waiting on a promise", "joining a task",
        "waiting on a channel", "waiting for a lock",
        "waiting for a blocking job"]


def _tasks():
    """(thread, task) for every task of every running scheduler."""
    out = []
    keep = gdb.selected_thread()
    for th in gdb.selected_inferior().threads():
        th.switch()
        try:
            s = gdb.parse_and_eval("'runq.c'::tls_sched")
        except gdb.error:
            continue
        if int(s) == 0:
            continue
        t = s["all"]
        while int(t) != 0:
            out.append((th, t))
            t = t["all_next"]
    if keep is not None:
        keep.switch()
    return out


def _name(t):
    co = t["co"].cast(gdb.lookup_type("struct cn_coro").pointer())
    return co["name"].string()


def _what(t):
    w = int(t["what"])
    return WHAT[w] if 0 <= w < len(WHAT) else "?"


class CnList(gdb.Command):
    """List coronet coroutines: cn-list"""

    def __init__(self):
        super().__init__("cn-list", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        tasks = _tasks()
        if not tasks:
            print("coronet: no scheduler is running in any thread")
        for th, t in tasks:
            print("thread %d: #%d '%s' %s" % (th.num, int(t["id"]), _name(t), _what(t)))


class CnBt(gdb.Command):
    """Backtrace of a suspended coronet coroutine: cn-bt ID"""

    def __init__(self):
        super().__init__("cn-bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        want = int(arg)
        for th, t in _tasks():
            if int(t["id"]) != want:
                continue
            if int(t["what"]) == 1:
                print("coroutine #%d runs: use bt in thread %d" % (want, th.num))
                return
            th.switch()
            gdb.execute("frame 0", to_string=True)
            co = t["co"].cast(gdb.lookup_type("struct cn_coro").pointer())
            sp = int(co["sp"])
            arch = gdb.selected_frame().architecture().name()
            u64 = gdb.lookup_type("unsigned long").pointer()

            def at(off):
                return int(gdb.Value(sp + off).cast(u64).dereference())

            if "aarch64" in arch:
                regs = {"x19": at(0x40), "x20": at(0x48), "x21": at(0x50),
                        "x22": at(0x58), "x23": at(0x60), "x24": at(0x68),
                        "x25": at(0x70), "x26": at(0x78), "x27": at(0x80),
                        "x28": at(0x88), "x29": at(0x90), "x30": at(0x98),
                        "pc": at(0x98), "sp": sp + 0xb0}
            else:
                regs = {"r15": at(0x00), "r14": at(0x08), "r13": at(0x10),
                        "r12": at(0x18), "rbx": at(0x20), "rbp": at(0x28),
                        "rip": at(0x30), "rsp": sp + 0x38}
            saved = {r: int(gdb.parse_and_eval("$" + r)) for r in regs}
            try:
                for r, v in regs.items():
                    gdb.execute("set $%s = %d" % (r, v))
                print("coroutine #%d '%s' (%s):" % (want, _name(t), _what(t)))
                gdb.execute("bt")
            finally:
                for r, v in saved.items():
                    gdb.execute("set $%s = %d" % (r, v))
            return
        print("coronet: no coroutine #%d" % want)


CnList()
CnBt()
