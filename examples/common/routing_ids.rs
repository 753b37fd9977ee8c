//! Printable routing ids, as the Guide's `s_set_id` makes them, for the
//! examples whose sockets name themselves (`asyncsrv`'s clients, `rtreq`'s
//! and `ppworker`'s workers). Each includes this file with `#[path]`;
//! `common/` holds no example of its own.

use std::collections::HashSet;

/// `n` different random routing ids, each `%04X-%04X` (two random 16-bit
/// numbers in hexadecimal) as the Guide's `s_set_id`. The Guide's may
/// repeat (among 10 000 of them, about one chance in a hundred), and a
/// ROUTER refuses a second peer with an id it knows; these do not.
pub(crate) fn printable(n: usize) -> Vec<String> {
    let mut dice = fastrand::Rng::new();
    let mut seen = HashSet::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let id = dice.u32(..);
        if seen.insert(id) {
            ids.push(format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF));
        }
    }
    ids
}
