//! Tells glibc's allocator to keep freed memory for reuse instead of handing it back to the
//! kernel. Every flush allocates and frees buffers of tens of MiB (the batch, Arrow columns,
//! Parquet pages); by default glibc maps blocks that large fresh each time and unmaps them
//! on free, so each flush pays for zeroing and faulting in every page again: about a fifth of
//! the conversion's time in `cargo bench --bench convert` (S1). Resident memory stays near
//! the peak the memory budget already allows. Elsewhere than Linux with glibc: nothing.

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
