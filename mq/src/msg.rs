//! Messages: one or more frames, each a shared byte buffer.

use std::fmt;
use std::ops::Index;

use bytes::Bytes;

/// A ZeroMQ message: one or more frames, sent and delivered whole.
///
/// Each frame is a [`Bytes`]: cloning a message or a frame shares the
/// buffer instead of copying it, which is how one message reaches many
/// peers and how an `inproc` transfer avoids copying at all. A received
/// frame may share the buffer its connection read it into.
///
/// Single-frame messages convert from the usual byte and string types;
/// multipart messages are built frame by frame or from an iterator.
///
/// # Examples
///
/// ```
/// use dhaga_mq::Msg;
///
/// let single = Msg::from("Hello");
/// assert_eq!(single.len(), 1);
/// assert_eq!(&single[0][..], b"Hello");
///
/// let mut multi: Msg = ["topic", "payload"].into_iter().collect();
/// multi.push_front("");
/// assert_eq!(multi.len(), 3);
/// assert_eq!(multi.pop_front().unwrap(), "");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Msg {
    frames: Vec<Bytes>,
}

impl Msg {
    /// A message with no frames (add some before sending it).
    pub fn new() -> Msg {
        Msg { frames: Vec::new() }
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The frames, first to last.
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// Iterates over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Bytes> {
        self.frames.iter()
    }

    /// The frame at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&Bytes> {
        self.frames.get(index)
    }

    /// The first frame.
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.first()
    }

    /// The last frame.
    pub fn last(&self) -> Option<&Bytes> {
        self.frames.last()
    }

    /// Appends a frame.
    pub fn push_back(&mut self, frame: impl Into<Bytes>) {
        self.frames.push(frame.into());
    }

    /// Prepends a frame (an envelope: a routing id, a delimiter).
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.frames.insert(0, frame.into());
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        (!self.frames.is_empty()).then(|| self.frames.remove(0))
    }

    /// Removes and returns the last frame.
    pub fn pop_back(&mut self) -> Option<Bytes> {
        self.frames.pop()
    }

    /// Removes the first `n` frames and returns them as a message of their
    /// own (an envelope); `self` keeps the rest.
    ///
    /// # Panics
    ///
    /// If `n > self.len()`.
    pub fn split_front(&mut self, n: usize) -> Msg {
        let rest = self.frames.split_off(n);
        Msg {
            frames: std::mem::replace(&mut self.frames, rest),
        }
    }

    /// Puts `envelope`'s frames in front of this message's.
    pub fn prepend(&mut self, envelope: Msg) {
        let rest = std::mem::replace(&mut self.frames, envelope.frames);
        self.frames.extend(rest);
    }

    /// The total size of the frames' bytes.
    pub fn size(&self) -> usize {
        self.frames.iter().map(Bytes::len).sum()
    }

    /// The frames as a vector.
    pub fn into_frames(self) -> Vec<Bytes> {
        self.frames
    }
}

impl Index<usize> for Msg {
    type Output = Bytes;

    fn index(&self, index: usize) -> &Bytes {
        &self.frames[index]
    }
}

impl<F: Into<Bytes>> FromIterator<F> for Msg {
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Msg {
        Msg {
            frames: iter.into_iter().map(Into::into).collect(),
        }
    }
}

impl<F: Into<Bytes>> Extend<F> for Msg {
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        self.frames.extend(iter.into_iter().map(Into::into));
    }
}

impl IntoIterator for Msg {
    type Item = Bytes;
    type IntoIter = std::vec::IntoIter<Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<'a> IntoIterator for &'a Msg {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl From<Vec<Bytes>> for Msg {
    fn from(frames: Vec<Bytes>) -> Msg {
        Msg { frames }
    }
}

macro_rules! single_frame_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Msg {
            /// A single-frame message.
            fn from(frame: $t) -> Msg {
                Msg { frames: vec![Bytes::from(frame)] }
            }
        }
    )*};
}

single_frame_from!(Bytes, Vec<u8>, String, &'static str, &'static [u8]);

impl From<&String> for Msg {
    /// A single-frame message (copies the string).
    fn from(frame: &String) -> Msg {
        Msg {
            frames: vec![Bytes::copy_from_slice(frame.as_bytes())],
        }
    }
}

impl<const N: usize> From<&'static [u8; N]> for Msg {
    /// A single-frame message.
    fn from(frame: &'static [u8; N]) -> Msg {
        Msg {
            frames: vec![Bytes::from_static(frame)],
        }
    }
}

impl fmt::Debug for Msg {
    /// Frames that are UTF-8 print as strings, others as bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for frame in &self.frames {
            match std::str::from_utf8(frame) {
                Ok(text) => list.entry(&text),
                Err(_) => list.entry(frame),
            };
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_split_and_join() {
        let mut msg: Msg = ["id", "", "body"].into_iter().collect();
        let envelope = msg.split_front(2);
        assert_eq!(envelope, Msg::from_iter(["id", ""]));
        assert_eq!(msg, Msg::from("body"));
        msg.prepend(envelope);
        assert_eq!(msg, Msg::from_iter(["id", "", "body"]));
        assert_eq!(msg.size(), 6);
    }

    #[test]
    fn clones_share_frames() {
        let msg = Msg::from(vec![7u8; 1024]);
        let copy = msg.clone();
        assert_eq!(msg[0].as_ptr(), copy[0].as_ptr());
    }
}
