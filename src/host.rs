//! Facts about this process that other modules name it by: the host name (for lock holders
//! and the default Kinesis worker id).

/// The machine's host name: `$HOSTNAME` when set (containers set it to the pod name), else
/// the kernel's, else `unknown-host`.
pub fn host_name() -> String {
    let from_env = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty());
    from_env
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "unknown-host".into())
}
