//! Memory limits: a request for more memory than this machine can give is
//! refused with a message before anything is allocated.
//!
//! Rust aborts the whole process when an allocation fails, and Linux may kill
//! it later when an allocation it allowed is touched; either would take down
//! the imaging program infocus is linked into, with its user's unsaved work.
//! So every place that sizes a large allocation from outside data (file
//! headers, C dimensions, parameters) first asks [`check`] whether the bytes
//! can be had: not more than the memory available now (RAM not in use plus
//! free swap, as the kernel estimates it) nor than the address-space limit
//! (`ulimit -v`), and the allocator must agree to reserve them. This is a
//! floor, not a promise: a call that passes may still need more as it runs.

use std::fmt;

/// Requests up to this size are not checked.
const SMALL: u128 = 16 << 20;

/// A byte count shown in the largest binary unit that keeps it readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u128);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        let mut v = self.0 as f64;
        let mut u = 0;
        while v >= 1024.0 && u + 1 < UNITS.len() {
            v /= 1024.0;
            u += 1;
        }
        if u == 0 {
            write!(f, "{} bytes", self.0)
        } else if v >= 1e6 {
            write!(f, "{v:.3e} {}", UNITS[u])
        } else {
            write!(f, "{v:.1} {}", UNITS[u])
        }
    }
}

/// The product of `counts` times `size` bytes, exact (no overflow in u128 for
/// any three `usize`s and a small size).
pub fn bytes_of(counts: &[usize], size: usize) -> u128 {
    counts
        .iter()
        .fold(size as u128, |acc, &n| acc.saturating_mul(n as u128))
}

/// The most memory a single request may take now, with where the limit comes
/// from; `None` when the platform does not say.
pub fn available() -> Option<(u128, &'static str)> {
    let mut best: Option<(u128, &'static str)> = None;
    let mut take = |v: u128, why: &'static str| {
        if best.is_none_or(|(b, _)| v < b) {
            best = Some((v, why));
        }
    };
    if let Some(v) = mem_available() {
        take(v, "available memory (RAM and swap)");
    }
    if let Some(v) = address_space_limit() {
        take(v, "the address space left under its limit (ulimit -v)");
    }
    best
}

/// MemAvailable + SwapFree from /proc/meminfo.
fn mem_available() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u128> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: u128 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(field("MemAvailable:")? + field("SwapFree:").unwrap_or(0))
}

/// Address space kept free under `ulimit -v` for what a run maps besides
/// its big buffers (see [`address_space_limit`]).
#[cfg(unix)]
const ADDRESS_SPACE_HEADROOM: u128 = 64 << 20;

#[cfg(unix)]
fn address_space_limit() -> Option<u128> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct, which `r` is.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } == 0;
    if !ok || r.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    // What is left of it: the limit less the address space in use now, less
    // what the process will still map besides the request: thread stacks
    // (8 MiB each by default), allocator arenas, libtorch's and OpenMP's
    // workspaces. Without this headroom a request that just fits is granted
    // and a small allocation after it aborts.
    Some(
        u128::from(r.rlim_cur)
            .saturating_sub(address_space_in_use().unwrap_or(0))
            .saturating_sub(ADDRESS_SPACE_HEADROOM),
    )
}

/// The process's virtual size (the first field of /proc/self/statm, in pages).
#[cfg(unix)]
fn address_space_in_use() -> Option<u128> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u128 = statm.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u128::try_from(page).ok()?)
}

#[cfg(not(unix))]
fn address_space_limit() -> Option<u128> {
    None
}

/// Refuses `bytes` of memory for `what` ("a 3 x 100000 x 100000 focus map")
/// when this machine cannot give them; the message says how much is needed
/// and how much there is. `Err` holds the message, for the caller to wrap in
/// the error its door needs.
pub fn check(bytes: u128, what: &str) -> Result<(), String> {
    // Too small to matter: a process that cannot get this is lost anyway.
    if bytes <= SMALL {
        return Ok(());
    }
    if let Some((avail, why)) = available() {
        if bytes > avail {
            return Err(format!(
                "{what} needs {} of memory, more than the {} of {why}",
                Bytes(bytes),
                Bytes(avail)
            ));
        }
    }
    // The allocator has the last word (over-commit settings, fragmentation):
    // ask it to reserve the bytes, without touching them, and give them back.
    let n = usize::try_from(bytes)
        .ok()
        .filter(|&n| n <= isize::MAX as usize);
    let reserved = n.is_some_and(|n| Vec::<u8>::new().try_reserve_exact(n).is_ok());
    if !reserved {
        return Err(format!(
            "{what} needs {} of memory, more than this process can allocate",
            Bytes(bytes)
        ));
    }
    Ok(())
}

/// A vector with room for `n` elements, or the message of [`check`] instead
/// of an abort.
pub fn vec_with_capacity<T>(n: usize, what: &str) -> Result<Vec<T>, String> {
    let bytes = bytes_of(&[n], size_of::<T>());
    check(bytes, what)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        format!(
            "{what} needs {} of memory, more than this process can allocate",
            Bytes(bytes)
        )
    })?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(Bytes(12).to_string(), "12 bytes");
        assert_eq!(Bytes(3 << 30).to_string(), "3.0 GiB");
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert!(bytes_of(&[usize::MAX, usize::MAX], 4) > u128::from(u64::MAX));
    }

    #[test]
    fn small_requests_pass_and_absurd_ones_say_why() {
        assert!(check(1 << 20, "a small map").is_ok());
        let e = check(bytes_of(&[100_000, 100_000, 100_000], 2), "a huge stack").unwrap_err();
        assert!(e.starts_with("a huge stack needs 1.8 PiB of memory"), "{e}");
        let e = check(u128::MAX, "everything").unwrap_err();
        assert!(e.contains("everything needs"), "{e}");
        assert!(vec_with_capacity::<u64>(usize::MAX / 2, "x").is_err());
        assert!(vec_with_capacity::<u64>(10, "x").unwrap().capacity() >= 10);
    }
}
