//! Keeping the supervisor small while it waits. Setting a pod up runs much
//! of libcontainer's code; once the apps run, the supervisor only reaps and
//! relays, yet the code pages it touched stay in its resident set. They are
//! clean pages of files (this binary, libc), so dropping them from our page
//! tables is free: the page cache keeps them, and a page used again is
//! simply mapped again. Heap freed by the setup goes back too.

/// Drops executable file pages and free heap from the resident set.
pub fn shrink() {
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for (start, end) in maps.lines().filter_map(text_mapping) {
        // SAFETY: [start, end) is a private, read-only, executable mapping of
        // a file (never written: no text relocations in our binaries and
        // libraries), so MADV_DONTNEED only unmaps pages that the next
        // access maps again from the same file, unchanged.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// `(start, end)` of a `/proc/self/maps` line describing a private
/// executable mapping of a file.
fn text_mapping(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _dev = fields.next()?;
    let inode = fields.next()?;
    let path = fields.next()?;
    if perms != "r-xp" || inode == "0" || !path.starts_with('/') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    Some((
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_executable_file_mappings_only() {
        let text =
            "55d0c0a00000-55d0c0b00000 r-xp 00001000 fe:01 1234 /usr/lib/rukt/rukt-stage1-nspawn";
        assert_eq!(text_mapping(text), Some((0x55d0c0a00000, 0x55d0c0b00000)));
        for other in [
            "55d0c0b00000-55d0c0c00000 r--p 00101000 fe:01 1234 /usr/lib/rukt/rukt-stage1-nspawn",
            "7ffd1000-7ffd3000 r-xp 00000000 00:00 0 [vdso]",
            "7f000000-7f001000 rw-p 00000000 00:00 0",
        ] {
            assert_eq!(text_mapping(other), None, "{other}");
        }
    }

    #[test]
    fn shrinking_keeps_the_process_working() {
        shrink();
        // Code runs again from the dropped pages.
        assert_eq!(format!("{}", 6 * 7), "42");
    }
}
