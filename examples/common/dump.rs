//! Messages shown frame by frame, as the Guide's `s_dump` and `zmsg_dump`
//! show them, for `identity`, `ppqueue` and `ppworker`. Each includes this
//! file with `#[path]`; `common/` holds no example of its own.

#![allow(dead_code, reason = "each example uses a part")]

use std::io::{self, Write};

use dhaga::mq::Msg;

/// A frame's content as `s_dump` prints it: as text if every byte is
/// printable ASCII (32 to 127, DEL included, as `s_dump` counts), in
/// hexadecimal otherwise.
pub(crate) fn text_or_hex(frame: &[u8]) -> String {
    if frame.iter().all(|&b| (32..=127).contains(&b)) {
        String::from_utf8_lossy(frame).into_owned()
    } else {
        frame.iter().map(|b| format!("{b:02X}")).collect()
    }
}

/// One frame as `s_dump` prints it: `[<size>] <content>`, the size in
/// three digits (no space after an empty frame's).
pub(crate) fn frame_line(frame: &[u8]) -> String {
    match text_or_hex(frame) {
        content if content.is_empty() => format!("[{:03}]", frame.len()),
        content => format!("[{:03}] {content}", frame.len()),
    }
}

/// Prints `msg` to `out` as `s_dump` does: a line of 40 dashes, then one
/// [`frame_line`] per frame.
///
/// # Errors
///
/// `out`'s.
pub(crate) fn dump(msg: &Msg, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", "-".repeat(40))?;
    for frame in msg {
        writeln!(out, "{}", frame_line(frame))?;
    }
    Ok(())
}
