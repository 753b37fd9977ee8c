//! The limit on open files, for the examples that open a descriptor per
//! connection (`echo_load`, `router_soak`, `compare`). Each includes this
//! file with `#[path]`; `common/` holds no example of its own.

/// Raises this process's soft limit on open files (`RLIMIT_NOFILE`, which
/// `ulimit -n` shows) to `needed`, as far as the hard limit allows. Child
/// processes inherit the raised limit.
///
/// # Errors
///
/// A message if the hard limit is below `needed` (it names the limit and
/// where to ask for a higher one), or if the limit cannot be read or set.
pub(crate) fn raise(needed: u64) -> Result<(), String> {
    // The soft limit now: `needed`, or the hard limit if that is lower.
    let limit =
        rlimit::increase_nofile_limit(needed).map_err(|e| format!("cannot raise the limit on open files: {e}"))?;
    if limit >= needed {
        Ok(())
    } else {
        Err(format!(
            "{needed} file descriptors are needed, but the hard limit on open files is {limit}; \
             ask for a higher one (/etc/security/limits.conf)"
        ))
    }
}
