//! Callgrind's instrumentation switched on and off from the program (valgrind's client requests,
//! `callgrind.h`'s `CALLGRIND_START_INSTRUMENTATION` and `_STOP_`), so a gate counts the
//! instructions of every thread between the two and nothing else.
//!
//! Why not callgrind's usual `--toggle-collect=FUNCTION` (gungraun's default entry point): it
//! acts per thread, by function name. The cloud's store runs its SQLite calls on tokio's
//! blocking pool and commits grants on a writer thread of its own; a toggle on the measured
//! function misses that work, and a toggle on the store's functions also counts the set-up's
//! calls of them. Instrumentation is one switch for the whole process, and while it is off
//! valgrind runs the set-up several times faster.
//!
//! The request is valgrind's "special instruction sequence" for amd64 (`valgrind.h`,
//! `VALGRIND_DO_CLIENT_REQUEST_EXPR`): four rotations of `rdi` that leave it as it was, then
//! `xchg rbx, rbx`; valgrind recognises the sequence, a processor runs it as the no-op it is.
//! It is written here rather than taken from a crate: the crates that offer it (`valgrind-
//! requests`, `crabgrind`) generate their bindings with bindgen, which needs libclang to build.
#![allow(unsafe_code)]

/// `VG_USERREQ_TOOL_BASE('C', 'T')`: callgrind's first request number.
const CALLGRIND_BASE: u64 = (b'C' as u64) << 24 | (b'T' as u64) << 16;
/// `VG_USERREQ__START_INSTRUMENTATION`, the fifth of callgrind's requests.
const START_INSTRUMENTATION: u64 = CALLGRIND_BASE + 4;
/// `VG_USERREQ__STOP_INSTRUMENTATION`.
const STOP_INSTRUMENTATION: u64 = CALLGRIND_BASE + 5;

/// Runs `work` with callgrind's instrumentation on, and only it (the bench runs with
/// `--instr-atstart=no`). Outside valgrind, just runs `work`.
#[inline(never)]
pub fn counted<T>(work: impl FnOnce() -> T) -> T {
    request(START_INSTRUMENTATION);
    let out = work();
    request(STOP_INSTRUMENTATION);
    out
}

/// A client request without arguments.
#[cfg(target_arch = "x86_64")]
fn request(code: u64) {
    let args: [u64; 6] = [code, 0, 0, 0, 0, 0];
    // SAFETY: the sequence reads the six words at `rax` (valgrind does, when it runs the
    // program) and writes only `rdx`; `rdi` is rotated by 128 bits in all, so it ends as it
    // began, and is declared clobbered all the same. `rbx` is exchanged with itself.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") 0u64 => _,
            inout("rdi") 0u64 => _,
            options(nostack),
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
compile_error!("the performance gates' callgrind requests are written for x86_64 only");
