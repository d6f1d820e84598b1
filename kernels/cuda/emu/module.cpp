// One CUDA module built for the host: common.cuh and one family's .cu, exactly the source
// NVRTC compiles, run by the execution-model emulation of cuda_host.h. Built as a shared
// library by src/backend/cuda/emu.rs (the cuda-emu backend):
//
//   g++ -std=c++20 -O1 -fPIC -shared -pthread -ffp-contract=off -fvisibility=hidden
//       -fno-gnu-unique -DDB_HOST_EMU <the module's own -D defines> -I <sources> -I <gen>
//       -include kernels/cuda/emu/cuda_host.h kernels/cuda/emu/module.cpp -o module.so
//
// where <gen> holds the two generated files: db_emu_family.inc (which family's .cu this
// module is) and db_emu_entries.inc (one DB_EMU_REG line per entry point the family's host
// code declares for this module; no list is kept by hand). It is driven through two C
// functions: db_emu_entries (the entry points the module defines) and db_emu_launch (one
// kernel launch: grid, block, dynamic shared memory, arguments as 64-bit words). Device
// buffers are the host's (mappings whose end touches an inaccessible page): an access
// past one faults, and the launch fails naming the kernel, block and thread.

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

thread_local DbDim3 threadIdx, blockIdx, blockDim, gridDim;

// Dynamic shared memory (the kernels' `extern __shared__ double db_smem[]`): one buffer
// per worker, 48 KiB, the most a block may use without opting in (the host never opts in).
#define DB_EMU_SMEM_BYTES (48u * 1024u)
alignas(16) thread_local double db_smem[DB_EMU_SMEM_BYTES / 8];

#if defined(DB_MMA)
// The tensor-core kernels (conv.cu, matmul.cu, through common.cuh's db_mma_k32) call
// db_mma16816, defined below.
void db_mma16816(float d[4], const unsigned a[4], const unsigned b[2]);
#endif

#include "../common.cuh"
#include "db_emu_family.inc"

// Not a CUDA kernel: a probe of common.cuh's f64 -> half roundings (the accumulators'
// RoundF16/RoundBF16), which tests/it/cuda_emu_reduce.rs holds to the CPU's
// Precision::round on inputs no kernel reaches yet (f64 values just off a half tie below
// f32's precision). It is in the entry table only of a module whose declaration names it.
extern "C" __global__ void db_emu_round_halves(const double* v, db_u64 n, db_u16* f16, db_u16* bf16) {
    const db_u64 i = (db_u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        f16[i] = RoundF16::from_f64(v[i]);
        bf16[i] = RoundBF16::from_f64(v[i]);
    }
}

#define DB_EMU_API extern "C" __attribute__((visibility("default")))

namespace {

// ---------------------------------------------------------------------------------------
// Entry points: name, address, and a caller that converts 64-bit argument words to the
// kernel's parameter types (pointers, integers; f32/f64 from their bit patterns).

using Invoker = void (*)(void* fn, const std::uint64_t* args);
struct Entry {
    std::string name;
    void* fn;
    Invoker invoke;
    unsigned nargs;
};
std::vector<Entry>& registry() {
    static std::vector<Entry> r;
    return r;
}

template <class T> T from_word(std::uint64_t w) {
    if constexpr (std::is_pointer_v<T>) {
        return reinterpret_cast<T>(static_cast<std::uintptr_t>(w));
    } else if constexpr (std::is_same_v<T, float>) {
        return __uint_as_float(static_cast<std::uint32_t>(w));
    } else if constexpr (std::is_same_v<T, double>) {
        return __longlong_as_double(static_cast<long long>(w));
    } else {
        static_assert(std::is_integral_v<T>);
        return static_cast<T>(w);
    }
}
template <class... A, std::size_t... I>
void call(void* fn, const std::uint64_t* args, std::index_sequence<I...>) {
    reinterpret_cast<void (*)(A...)>(fn)(from_word<A>(args[I])...);
}
template <class... A> void invoke(void* fn, const std::uint64_t* args) {
    call<A...>(fn, args, std::index_sequence_for<A...>{});
}
struct Reg {
    template <class... A> Reg(const char* name, void (*fn)(A...)) {
        registry().push_back({name, reinterpret_cast<void*>(fn), &invoke<A...>, sizeof...(A)});
    }
};

#define DB_STR2(x) #x
#define DB_STR(x) DB_STR2(x)
// Registers the entry point `name` (its full, suffixed name).
#define DB_EMU_REG(name) Reg DB_PASTE(db_emu_reg_, name)(DB_STR(name), &name);

// The entry table: generated from the family's declared entry points.
#include "db_emu_entries.inc"

// ---------------------------------------------------------------------------------------
// Blocks as fibers.

constexpr std::size_t kStack = 64 * 1024;
constexpr std::size_t kPage = 4096;

// Context switches. On x86-64 a switch saves the callee-saved registers on the old stack
// and swaps stack pointers (no system call; swapcontext's signal-mask syscall would be
// most of the run time); elsewhere ucontext.
#if defined(__x86_64__)
struct Ctx {
    void* sp;
};
extern "C" void db_emu_switch(void** save_sp, void* load_sp);
asm(R"(
    .text
    .p2align 4
    .type db_emu_switch,@function
db_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size db_emu_switch, .-db_emu_switch
)");
inline void switch_to(Ctx& from, Ctx& to) { db_emu_switch(&from.sp, to.sp); }
// A fresh context that starts in entry() on the stack [lo, lo + len).
inline void make_ctx(Ctx& c, char* lo, std::size_t len, void (*entry)()) {
    std::uintptr_t top = (reinterpret_cast<std::uintptr_t>(lo) + len) & ~std::uintptr_t(15);
    void** sp = reinterpret_cast<void**>(top);
    *--sp = nullptr;                          // entry's return address: it never returns
    *--sp = reinterpret_cast<void*>(entry);   // popped by db_emu_switch's ret
    for (int i = 0; i < 6; i++) *--sp = nullptr;  // rbp rbx r12 r13 r14 r15
    c.sp = sp;
}
#else
struct Ctx {
    ucontext_t uc;
};
inline void switch_to(Ctx& from, Ctx& to) { swapcontext(&from.uc, &to.uc); }
inline void make_ctx(Ctx& c, char* lo, std::size_t len, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = lo;
    c.uc.uc_stack.ss_size = len;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, entry, 0);
}
#endif

struct Fiber {
    Ctx ctx;
    DbDim3 tid;
    bool done;
};

struct Barrier {
    unsigned arrived = 0;
    unsigned long gen = 0;
};

// The block a worker is running.
struct BlockRun {
    const Entry* entry = nullptr;
    const std::uint64_t* args = nullptr;
    Ctx sched;
    std::vector<Fiber> fibers;
    unsigned live = 0;
    unsigned cur = 0;
    unsigned long progress = 0;
    Barrier block;
    std::vector<Barrier> warps;
    std::vector<unsigned> warp_live;
};
thread_local BlockRun* t_run = nullptr;

void yield_fiber(BlockRun& r) { switch_to(r.fibers[r.cur].ctx, r.sched); }

void arrive(BlockRun& r, Barrier& b, unsigned count) {
    const unsigned long g = b.gen;
    if (++b.arrived == count) {
        b.arrived = 0;
        b.gen++;
        r.progress++;
        return;
    }
    while (b.gen == g) yield_fiber(r);
}

void fiber_main() {
    BlockRun& r = *t_run;
    const unsigned me = r.cur;
    r.entry->invoke(r.entry->fn, r.args);
    // An exited thread no longer holds back a barrier the others wait at.
    r.fibers[me].done = true;
    r.live--;
    r.progress++;
    if (r.block.arrived > 0 && r.block.arrived == r.live) {
        r.block.arrived = 0;
        r.block.gen++;
    }
    const unsigned w = me / 32;
    r.warp_live[w]--;
    if (r.warps[w].arrived > 0 && r.warps[w].arrived == r.warp_live[w]) {
        r.warps[w].arrived = 0;
        r.warps[w].gen++;
    }
    switch_to(r.fibers[me].ctx, r.sched);  // never resumed
    __builtin_unreachable();
}

// A worker's fiber stacks, each above an inaccessible guard page.
struct Stacks {
    char* base = nullptr;
    std::size_t len = 0;
    unsigned count = 0;
    ~Stacks() {
        if (base) munmap(base, len);
    }
    bool reserve(unsigned n) {
        if (n <= count) return true;
        if (base) munmap(base, len);
        len = (std::size_t)n * (kStack + kPage);
        void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            base = nullptr;
            count = 0;
            return false;
        }
        base = static_cast<char*>(p);
        for (unsigned i = 0; i < n; i++) mprotect(base + (std::size_t)i * (kStack + kPage), kPage, PROT_NONE);
        count = n;
        return true;
    }
    char* stack(unsigned i) const { return base + (std::size_t)i * (kStack + kPage) + kPage; }
};

// Faults. A launch's worker arms a jump point before it runs blocks; a fault in one of its
// fibers (an access outside the kernel's buffers, or a fiber's stack overflowing into its
// guard page) writes what faulted and jumps back there, and the launch fails with that
// message instead of the process dying. A fault on a thread that runs no kernel of this
// module goes to the handler installed before this module's (another module's, or the
// process's own), so modules loaded side by side each catch their own.
thread_local const char* t_kernel = nullptr;
thread_local sigjmp_buf t_fault_jump;
thread_local bool t_fault_armed = false;
thread_local char t_fault_msg[320];
struct sigaction g_prev_segv, g_prev_bus;

void on_fault(int sig, siginfo_t* info, void* uctx) {
    if (t_fault_armed && t_kernel && t_run) {
        t_fault_armed = false;
        const Fiber& f = t_run->fibers[t_run->cur];
        std::snprintf(t_fault_msg, sizeof t_fault_msg,
                      "kernel %s, block (%u,%u,%u), thread (%u,%u,%u): %s at %p (an access "
                      "outside its buffers or its stack)",
                      t_kernel, blockIdx.x, blockIdx.y, blockIdx.z, f.tid.x, f.tid.y, f.tid.z,
                      sig == SIGSEGV ? "segmentation fault" : "bus error", info->si_addr);
        siglongjmp(t_fault_jump, 1);
    }
    const struct sigaction& prev = sig == SIGSEGV ? g_prev_segv : g_prev_bus;
    if (prev.sa_flags & SA_SIGINFO) {
        prev.sa_sigaction(sig, info, uctx);
    } else if (prev.sa_handler == SIG_DFL) {
        // Returning re-runs the faulting access, which now gets the default action.
        signal(sig, SIG_DFL);
    } else if (prev.sa_handler != SIG_IGN) {
        prev.sa_handler(sig);
    }
}

void install_fault_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_ONSTACK | SA_SIGINFO;
        sigaction(SIGSEGV, &sa, &g_prev_segv);
        sigaction(SIGBUS, &sa, &g_prev_bus);
    });
}

struct Launch {
    const Entry* entry;
    const std::uint64_t* args;
    DbDim3 grid, block;
    std::size_t smem;
    std::atomic<unsigned long> next{0};
    std::atomic<bool> failed{false};
    std::mutex err_mu;
    std::string err;
};

void worker(Launch& L) {
    // The fault handler needs a stack of its own: a fault may be a fiber's stack overflow.
    static thread_local std::vector<char> alt(64 * 1024);
    stack_t ss;
    ss.ss_sp = alt.data();
    ss.ss_size = alt.size();
    ss.ss_flags = 0;
    sigaltstack(&ss, nullptr);
    t_kernel = L.entry->name.c_str();
    const unsigned threads = L.block.x * L.block.y * L.block.z;
    const unsigned long blocks = (unsigned long)L.grid.x * L.grid.y * L.grid.z;
    Stacks stacks;
    if (!stacks.reserve(threads)) {
        L.failed = true;
        std::lock_guard<std::mutex> g(L.err_mu);
        L.err = "cannot map fiber stacks";
        return;
    }
    blockDim = L.block;
    gridDim = L.grid;
    BlockRun r;
    if (sigsetjmp(t_fault_jump, 1)) {
        // A fiber of this worker faulted (on_fault wrote t_fault_msg); its block is
        // abandoned, and the other workers stop at their next block.
        t_run = nullptr;
        t_kernel = nullptr;
        L.failed = true;
        std::lock_guard<std::mutex> g(L.err_mu);
        if (L.err.empty()) L.err = t_fault_msg;
        return;
    }
    r.entry = L.entry;
    r.args = L.args;
    r.fibers.resize(threads);
    const unsigned nwarps = (threads + 31) / 32;
    t_run = &r;
    t_fault_armed = true;
    for (unsigned long b; !L.failed && (b = L.next.fetch_add(1)) < blocks;) {
        blockIdx = {(unsigned)(b % L.grid.x), (unsigned)(b / L.grid.x % L.grid.y),
                    (unsigned)(b / ((unsigned long)L.grid.x * L.grid.y))};
        std::memset(db_smem, 0xA5, sizeof db_smem);
        r.live = threads;
        r.progress = 0;
        r.block = Barrier();
        r.warps.assign(nwarps, Barrier());
        r.warp_live.assign(nwarps, 32);
        if (threads % 32) r.warp_live[nwarps - 1] = threads % 32;
        for (unsigned t = 0; t < threads; t++) {
            Fiber& f = r.fibers[t];
            f.tid = {t % L.block.x, t / L.block.x % L.block.y, t / (L.block.x * L.block.y)};
            f.done = false;
            make_ctx(f.ctx, stacks.stack(t), kStack, fiber_main);
        }
        // Round-robin until every thread has exited, alternately in increasing and
        // decreasing thread order, so that a missing barrier between a write and a read
        // shows whichever thread reads the other's data; a round in which nothing moves is
        // a deadlock (some barrier that not every live thread reaches).
        int idle_rounds = 0;
        for (unsigned round = 0; r.live > 0; round++) {
            const unsigned long before = r.progress;
            for (unsigned i = 0; i < threads; i++) {
                const unsigned t = round % 2 ? threads - 1 - i : i;
                if (r.fibers[t].done) continue;
                r.cur = t;
                threadIdx = r.fibers[t].tid;
                switch_to(r.sched, r.fibers[t].ctx);
            }
            idle_rounds = r.progress == before ? idle_rounds + 1 : 0;
            if (idle_rounds >= 2 && r.live > 0) {
                L.failed = true;
                std::lock_guard<std::mutex> g(L.err_mu);
                char buf[200];
                std::snprintf(buf, sizeof buf,
                              "deadlock in block (%u,%u,%u): %u threads wait at a barrier the "
                              "other threads never reach",
                              blockIdx.x, blockIdx.y, blockIdx.z, r.live);
                L.err = L.entry->name + ": " + buf;
                break;
            }
        }
    }
    t_fault_armed = false;
    t_run = nullptr;
    t_kernel = nullptr;
}

}  // namespace

void db_emu_syncthreads() {
    BlockRun& r = *t_run;
    arrive(r, r.block, r.live);
}

void db_emu_warp_sync() {
    BlockRun& r = *t_run;
    const unsigned w = r.cur / 32;
    arrive(r, r.warps[w], r.warp_live[w]);
}

#if defined(DB_MMA)
// mma.sync.aligned.m16n8k16.row.col.f32.X.X.f32 for one warp: every lane stages its
// registers, the warp meets, and each lane rebuilds the 16x16 A and 16x8 B from the 32
// lanes' fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type")
// and takes its own D elements. The products and their sum are done in f64 and rounded
// once: the tests feed small integers, whose sums are exact in either order, because the
// tensor core's own order and rounding are not a CPU's to reproduce.
namespace {
thread_local unsigned t_stage_a[32][32][4], t_stage_b[32][32][2];
float db_emu_half(unsigned bits) { return DbIn::load(reinterpret_cast<const DbS*>(&bits), 0); }
}  // namespace

void db_mma16816(float d[4], const unsigned a[4], const unsigned b[2]) {
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int i = 0; i < 4; i++) t_stage_a[warp][lane][i] = a[i];
    for (int i = 0; i < 2; i++) t_stage_b[warp][lane][i] = b[i];
    db_emu_warp_sync();
    // Element i of a lane's fragment sits in register i / 2, half i % 2 (low half first).
    double A[16][16], B[16][8];
    for (unsigned L = 0; L < 32; L++) {
        const unsigned groupID = L >> 2, tig = L % 4;
        for (unsigned i = 0; i < 8; i++) {
            const unsigned row = (i < 2 || (4 <= i && i < 6)) ? groupID : groupID + 8;
            const unsigned col = tig * 2 + (i & 1) + (i >= 4 ? 8 : 0);
            A[row][col] = db_emu_half((t_stage_a[warp][L][i / 2] >> (16 * (i % 2))) & 0xffffu);
        }
        for (unsigned i = 0; i < 4; i++) {
            const unsigned row = tig * 2 + (i & 1) + (i >= 2 ? 8 : 0);
            B[row][groupID] = db_emu_half((t_stage_b[warp][L][i / 2] >> (16 * (i % 2))) & 0xffffu);
        }
    }
    const unsigned groupID = lane >> 2, tig = lane % 4;
    float out[4];
    for (unsigned i = 0; i < 4; i++) {
        const unsigned row = i < 2 ? groupID : groupID + 8, col = tig * 2 + (i & 1);
        double s = d[i];
        for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
        out[i] = (float)s;
    }
    // Nobody restages before every lane has read this round.
    db_emu_warp_sync();
    for (int i = 0; i < 4; i++) d[i] = out[i];
}
#endif

// ---------------------------------------------------------------------------------------
// The C interface.

// The module's entry points, one per line, into buf (NUL-terminated); returns the length
// needed.
// glibc's until the backend hands over its own (cuda_host.h).
DbEmuMath db_emu_math = {
    static_cast<float (*)(float)>(&::expf), static_cast<float (*)(float)>(&::logf),
    static_cast<double (*)(double)>(&::exp), static_cast<double (*)(double)>(&::log)};

// Sets the emulated device's exp and log; called once, before any launch.
DB_EMU_API void db_emu_set_math(float (*expf_)(float), float (*logf_)(float), double (*exp_)(double),
                                double (*log_)(double)) {
    db_emu_math = {expf_, logf_, exp_, log_};
}

DB_EMU_API std::size_t db_emu_entries(char* buf, std::size_t cap) {
    std::string all;
    for (const Entry& e : registry()) all += e.name + "\n";
    if (buf && cap) {
        const std::size_t n = all.size() < cap - 1 ? all.size() : cap - 1;
        std::memcpy(buf, all.data(), n);
        buf[n] = 0;
    }
    return all.size() + 1;
}

// Launches `name` on grid x block threads with `smem` bytes of dynamic shared memory and
// waits for it. Returns 0, or 1 with a message in err (a wrong launch the driver would
// refuse, or a deadlock).
DB_EMU_API int db_emu_launch(const char* name, const unsigned grid[3], const unsigned block[3],
                             std::size_t smem, const std::uint64_t* args, unsigned nargs,
                             char* err, std::size_t errcap) {
    auto fail = [&](const std::string& m) {
        if (err && errcap) {
            std::snprintf(err, errcap, "%s", m.c_str());
        }
        return 1;
    };
    const Entry* entry = nullptr;
    for (const Entry& e : registry())
        if (e.name == name) entry = &e;
    if (!entry) return fail(std::string("no entry point ") + name + " in this module");
    if (nargs != entry->nargs)
        return fail(std::string(name) + " takes " + std::to_string(entry->nargs) + " arguments, got " +
                    std::to_string(nargs));
    const unsigned long threads = (unsigned long)block[0] * block[1] * block[2];
    // The driver's limits (every device detbench supports).
    if (threads == 0 || threads > 1024 || block[2] > 64)
        return fail(std::string(name) + ": invalid block of " + std::to_string(threads) + " threads");
    if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0 || grid[1] > 65535 || grid[2] > 65535)
        return fail(std::string(name) + ": invalid grid");
    if (smem > DB_EMU_SMEM_BYTES)
        return fail(std::string(name) + ": " + std::to_string(smem) +
                    " bytes of dynamic shared memory exceed the 48 KiB a launch gets without opting in");
    install_fault_handler();
    Launch L;
    L.entry = entry;
    L.args = args;
    L.grid = {grid[0], grid[1], grid[2]};
    L.block = {block[0], block[1], block[2]};
    L.smem = smem;
    const unsigned long blocks = (unsigned long)grid[0] * grid[1] * grid[2];
    unsigned workers = 2;
    if (const char* w = std::getenv("DB_EMU_WORKERS")) workers = (unsigned)std::max(1, std::atoi(w));
    if (workers > blocks) workers = (unsigned)blocks;
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < workers; i++) pool.emplace_back([&L] { worker(L); });
    for (auto& t : pool) t.join();
    if (L.failed) return fail(L.err);
    return 0;
}
