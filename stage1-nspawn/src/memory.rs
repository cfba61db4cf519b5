//! Keeping the supervisor small while it waits. Setting a pod up runs much
//! of libcontainer's code; once the apps run, the supervisor only reaps and
//! relays, yet the code pages it touched stay in its resident set. They are
//! clean pages of files (this binary, libc), so dropping them from our page
//! tables is free: the page cache keeps them, and a page used again is
//! simply mapped again. Heap freed by the setup goes back too.
//!
//! What the supervisor then touches while its apps log stays mapped, 64 KiB
//! around each page it faults on (the kernel's fault-around), so the code
//! of that loop is linked together: `hot.ld` (through `build.rs`) puts the
//! functions the log path runs into one section, and the calls the loop
//! makes per read go to the kernel directly (rustix) rather than through
//! libc's wrappers. `docs/logs.md` (Cost) has the figures.

/// Drops clean file pages and free heap from the resident set.
pub fn shrink() {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mappings = clean_file_mappings(&smaps);
    // The big buffer freed before the trim, so it goes back with the rest
    // (freed after, it would make `free` shrink the heap itself, through
    // code of libc's that would stay mapped).
    drop(smaps);
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    // rustix's direct system call, not libc's `madvise`: returning into libc
    // after its code was dropped would map 64 KiB of it again.
    for (start, end) in mappings {
        // SAFETY: [start, end) is a private, read-only mapping of a file in
        // which no page was ever copied on write (`Anonymous: 0 kB`), so its
        // pages are exactly the file's: MADV_DONTNEED only unmaps them, and
        // the next access maps the same bytes again.
        let _ = unsafe {
            rustix::mm::madvise(
                start as *mut std::ffi::c_void,
                end - start,
                rustix::mm::Advice::LinuxDontNeed,
            )
        };
    }
}

/// `(start, end)` of every private, read-only mapping of a file in
/// `/proc/self/smaps` text that holds no anonymous (copied) page. Relocated
/// read-only data (RELRO) has anonymous pages and is left alone.
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        if let Some(range) = header(line) {
            current = range;
        } else if let Some(kb) = line.strip_prefix("Anonymous:") {
            let clean = kb.trim().trim_end_matches("kB").trim() == "0";
            if let (Some(range), true) = (current.take(), clean) {
                out.push(range);
            }
        }
    }
    out
}

/// A mapping's header line: `Some(Some(range))` for a candidate (private,
/// read-only, of a file), `Some(None)` for any other mapping, `None` for a
/// field line.
fn header(line: &str) -> Option<Option<(usize, usize)>> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let (start, end) = (
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    );
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _dev = fields.next()?;
    let inode = fields.next()?;
    let path = fields.next().unwrap_or("");
    let candidate = (perms == "r-xp" || perms == "r--p") && inode != "0" && path.starts_with('/');
    Some(candidate.then_some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_clean_read_only_file_mappings_only() {
        let smaps = "\
1000-3000 r-xp 00001000 fe:01 1234 /usr/lib/rukt/rukt-stage1-nspawn
Rss:                   8 kB
Anonymous:             0 kB
3000-4000 r--p 00101000 fe:01 1234 /usr/lib/rukt/rukt-stage1-nspawn
Anonymous:             4 kB
4000-5000 r--p 00201000 fe:01 1234 /usr/lib/rukt/rukt-stage1-nspawn
Anonymous:             0 kB
5000-6000 rw-p 00000000 00:00 0
Anonymous:             0 kB
7000-8000 r-xp 00000000 00:00 0                  [vdso]
Anonymous:             0 kB
";
        assert_eq!(
            clean_file_mappings(smaps),
            [(0x1000, 0x3000), (0x4000, 0x5000)]
        );
    }

    #[test]
    fn shrinking_keeps_the_process_working() {
        shrink();
        // Code and read-only data come back from the dropped pages.
        let words = ["forty", "two"];
        assert_eq!(format!("{} {}", words.join("-"), 6 * 7), "forty-two 42");
    }
}
