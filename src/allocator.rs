//! Tells glibc's allocator to keep freed memory for reuse instead of handing it back to the
//! kernel, within the memory budget. Every flush allocates and frees buffers of tens of MiB
//! (the batch, Arrow columns, Parquet pages); by default glibc maps blocks that large fresh
//! each time and unmaps them on free, so each flush pays for zeroing and faulting in every
//! page again: about a fifth of the conversion's time in `cargo bench --bench convert` (S1).
//!
//! Kept memory is not in use, but it is resident: a fragmented heap held the end-to-end run
//! at ~560 MiB with a 512 MiB budget. So after each delivery the pipeline asks
//! [`release_above`] to hand free memory back once the process is resident above its budget.
//! Elsewhere than Linux with glibc: nothing.

/// Blocks up to this size come from the heap, and the heap is trimmed only above it.
const KEEP_BYTES: libc::c_int = 1 << 30;

/// Call once, first thing in `main`.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_BYTES);
    }
}

/// [`release_above`] looks at most this often: a trim walks the whole heap, and a flush of
/// thousands of small partitions ends thousands of deliveries a second.
const RELEASE_EVERY_MS: u64 = 250;

/// When the process is resident above `limit` bytes, hands the allocator's free memory back
/// to the kernel (`malloc_trim`); returns whether it did. Looks at most every
/// [`RELEASE_EVERY_MS`].
pub fn release_above(limit: usize) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    static NEXT_MS: AtomicU64 = AtomicU64::new(0);
    let now = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64;
    let next = NEXT_MS.load(Ordering::Relaxed);
    if now < next
        || NEXT_MS
            .compare_exchange(
                next,
                now + RELEASE_EVERY_MS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_err()
    {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if resident_bytes().is_some_and(|resident| resident > limit) {
            // SAFETY: malloc_trim only returns free memory to the kernel; it is thread-safe.
            unsafe { libc::malloc_trim(0) };
            return true;
        }
    }
    let _ = limit;
    false
}

/// The process's resident set, from `/proc/self/statm`.
fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * usize::try_from(page).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resident_set_is_read_and_trimmed_only_above_the_limit() {
        let resident = resident_bytes().expect("/proc/self/statm");
        assert!(resident > 1 << 20, "{resident}");
        assert!(!release_above(usize::MAX));
        // Not again at once: at most every RELEASE_EVERY_MS.
        assert!(!release_above(0));
        std::thread::sleep(std::time::Duration::from_millis(RELEASE_EVERY_MS + 10));
        assert!(release_above(0));
    }
}
