//! Resource pressure: `alloc` (touch memory until done or killed) and `forkbomb` (fork until
//! the kernel refuses).

use std::io::Write;

use serde_json::json;

use crate::sys;

const MIB: usize = 1 << 20;
const PAGE: usize = 4096;

/// Allocates and touches `mib` MiB, a MiB at a time, printing `allocated N MiB` every 16 MiB
/// and at the end. Under a memory limit the OOM killer ends the process on the way.
pub fn alloc(mib: usize, out: &mut impl Write) -> std::io::Result<()> {
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for i in 1..=mib {
        let mut chunk = vec![0u8; MIB];
        for page in chunk.iter_mut().step_by(PAGE) {
            *page = 1;
        }
        chunks.push(chunk);
        if i % 16 == 0 || i == mib {
            writeln!(out, "allocated {i} MiB")?;
            out.flush()?;
        }
    }
    std::hint::black_box(&chunks);
    Ok(())
}

/// Forks children that wait for a signal, at most `limit` of them, until `fork` fails; prints
/// `{"forked": N, "errno": "EAGAIN"|null}`, then kills and reaps every child.
pub fn forkbomb(limit: usize, out: &mut impl Write) -> std::io::Result<()> {
    let mut children = Vec::new();
    let mut errno = None;
    while children.len() < limit {
        // SAFETY: the process is single-threaded, so the child may run any code; it only calls
        // pause() and _exit(), both async-signal-safe.
        let pid = unsafe { libc::fork() };
        match pid {
            -1 => {
                errno = std::io::Error::last_os_error().raw_os_error();
                break;
            }
            0 => loop {
                // SAFETY: pause takes no arguments; the child waits here until killed.
                unsafe {
                    libc::pause();
                }
            },
            child => children.push(child),
        }
    }
    for &child in &children {
        // SAFETY: kill and waitpid on our own children with valid arguments.
        unsafe {
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), 0);
        }
    }
    let report = json!({ "forked": children.len(), "errno": errno.map(sys::errno_name) });
    writeln!(out, "{report}")
}
