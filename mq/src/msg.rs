//! Messages: one or more frames, each a shared byte buffer.

use std::fmt;
use std::ops::Index;
use std::sync::Arc;

use bytes::Bytes;

use crate::zmtp::Metadata;

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
#[derive(Clone, Default)]
pub struct Msg {
    frames: Frames,
    /// The properties of the connection a received message came over.
    properties: Option<Arc<Metadata>>,
}

/// The frames of a message. Most messages have one frame, kept inline: a
/// message then costs no allocation beyond its bytes' own.
#[derive(Clone, Default)]
enum Frames {
    #[default]
    None,
    One(Bytes),
    Many(Vec<Bytes>),
}

impl Frames {
    fn as_slice(&self) -> &[Bytes] {
        match self {
            Frames::None => &[],
            Frames::One(frame) => std::slice::from_ref(frame),
            Frames::Many(frames) => frames,
        }
    }

    /// The frames as a vector, to change them in place (allocating only for
    /// a message that had one frame).
    fn as_vec(&mut self) -> &mut Vec<Bytes> {
        if !matches!(self, Frames::Many(_)) {
            let frames = std::mem::take(self).into_vec();
            *self = Frames::Many(frames);
        }
        match self {
            Frames::Many(frames) => frames,
            _ => unreachable!("made a vector above"),
        }
    }

    fn push(&mut self, frame: Bytes) {
        match self {
            Frames::None => *self = Frames::One(frame),
            _ => self.as_vec().push(frame),
        }
    }

    fn into_vec(self) -> Vec<Bytes> {
        match self {
            Frames::None => Vec::new(),
            Frames::One(frame) => vec![frame],
            Frames::Many(frames) => frames,
        }
    }

    fn from_vec(mut frames: Vec<Bytes>) -> Frames {
        match frames.len() {
            0 => Frames::None,
            1 => Frames::One(frames.pop().expect("one frame")),
            _ => Frames::Many(frames),
        }
    }
}

impl PartialEq for Msg {
    fn eq(&self, other: &Msg) -> bool {
        self.frames() == other.frames()
    }
}

impl Eq for Msg {}

impl std::hash::Hash for Msg {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.frames().hash(state);
    }
}

impl Msg {
    fn with_frames(frames: Frames) -> Msg {
        Msg {
            frames,
            properties: None,
        }
    }

    /// A property of the connection this message was received on (libzmq's
    /// `zmq_msg_gets`, pyzmq's `Frame.get`): the peer's handshake
    /// properties (`Socket-Type`, `Identity`, and any the peer added), the
    /// `User-Id` and the properties its ZAP handler gave it, and
    /// `Peer-Address` (a TCP peer's IP address). Names ignore ASCII case.
    /// `None` for other names, for messages made here, and for messages
    /// that came over `inproc`.
    pub fn property(&self, name: &str) -> Option<&Bytes> {
        self.properties.as_deref()?.get(name)
    }

    /// A property as text (libzmq's `zmq_msg_gets`): see
    /// [`property`](Msg::property); `None` too if it is not UTF-8.
    pub fn gets(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.property(name)?).ok()
    }

    /// Gives a received message its connection's properties.
    pub(crate) fn set_properties(&mut self, properties: &Arc<Metadata>) {
        self.properties = Some(Arc::clone(properties));
    }

    /// The properties of the connection a message was received on.
    pub(crate) fn properties(&self) -> Option<&Arc<Metadata>> {
        self.properties.as_ref()
    }

    /// The text of a one-frame message: `None` if it has another number of
    /// frames or the frame is not UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self.frames() {
            [frame] => std::str::from_utf8(frame).ok(),
            _ => None,
        }
    }

    /// A message with no frames (add some before sending it).
    pub fn new() -> Msg {
        Msg::with_frames(Frames::None)
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        self.frames().len()
    }

    /// Whether the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames().is_empty()
    }

    /// The frames, first to last.
    pub fn frames(&self) -> &[Bytes] {
        self.frames.as_slice()
    }

    /// Iterates over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Bytes> {
        self.frames().iter()
    }

    /// The frame at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&Bytes> {
        self.frames().get(index)
    }

    /// The first frame.
    pub fn first(&self) -> Option<&Bytes> {
        self.frames().first()
    }

    /// The last frame.
    pub fn last(&self) -> Option<&Bytes> {
        self.frames().last()
    }

    /// Appends a frame.
    pub fn push_back(&mut self, frame: impl Into<Bytes>) {
        self.frames.push(frame.into());
    }

    /// Prepends a frame (an envelope: a routing id, a delimiter).
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        match &mut self.frames {
            Frames::None => self.frames = Frames::One(frame.into()),
            frames => frames.as_vec().insert(0, frame.into()),
        }
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        match std::mem::take(&mut self.frames) {
            Frames::None => None,
            Frames::One(frame) => Some(frame),
            Frames::Many(mut frames) => {
                let first = frames.remove(0);
                self.frames = Frames::from_vec(frames);
                Some(first)
            }
        }
    }

    /// Removes and returns the last frame.
    pub fn pop_back(&mut self) -> Option<Bytes> {
        match std::mem::take(&mut self.frames) {
            Frames::None => None,
            Frames::One(frame) => Some(frame),
            Frames::Many(mut frames) => {
                let last = frames.pop();
                self.frames = Frames::from_vec(frames);
                last
            }
        }
    }

    /// Removes the first `n` frames and returns them as a message of their
    /// own (an envelope); `self` keeps the rest.
    ///
    /// # Panics
    ///
    /// If `n > self.len()`.
    pub fn split_front(&mut self, n: usize) -> Msg {
        let mut front = std::mem::take(&mut self.frames).into_vec();
        let rest = front.split_off(n);
        self.frames = Frames::from_vec(rest);
        Msg::with_frames(Frames::from_vec(front))
    }

    /// Puts `envelope`'s frames in front of this message's.
    pub fn prepend(&mut self, envelope: Msg) {
        let rest = std::mem::replace(&mut self.frames, envelope.frames);
        for frame in rest.into_vec() {
            self.frames.push(frame);
        }
    }

    /// The total size of the frames' bytes.
    pub fn size(&self) -> usize {
        self.frames().iter().map(Bytes::len).sum()
    }

    /// The frames as a vector.
    pub fn into_frames(self) -> Vec<Bytes> {
        self.frames.into_vec()
    }
}

impl Index<usize> for Msg {
    type Output = Bytes;

    fn index(&self, index: usize) -> &Bytes {
        &self.frames()[index]
    }
}

impl<F: Into<Bytes>> FromIterator<F> for Msg {
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Msg {
        Msg::with_frames(Frames::from_vec(iter.into_iter().map(Into::into).collect()))
    }
}

impl<F: Into<Bytes>> Extend<F> for Msg {
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        for frame in iter {
            self.frames.push(frame.into());
        }
    }
}

impl IntoIterator for Msg {
    type Item = Bytes;
    type IntoIter = std::vec::IntoIter<Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a Msg {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.frames().iter()
    }
}

impl From<Vec<Bytes>> for Msg {
    fn from(frames: Vec<Bytes>) -> Msg {
        Msg::with_frames(Frames::from_vec(frames))
    }
}

macro_rules! single_frame_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Msg {
            /// A single-frame message.
            fn from(frame: $t) -> Msg {
                Msg::with_frames(Frames::One(Bytes::from(frame)))
            }
        }
    )*};
}

single_frame_from!(Bytes, Vec<u8>, String);

/// Single-frame messages from borrowed bytes, which are copied: any `&str`
/// or `&[u8]` can be sent (`sock.send(name.as_str())`, `sock.send(&buf[..n])`).
/// To send a `'static` buffer without a copy, make it a
/// [`Bytes::from_static`].
macro_rules! single_frame_copied_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Msg {
            /// A single-frame message (copies the bytes).
            fn from(frame: $t) -> Msg {
                let bytes: &[u8] = frame.as_ref();
                Msg::with_frames(Frames::One(Bytes::copy_from_slice(bytes)))
            }
        }
    )*};
}

single_frame_copied_from!(&str, &[u8], &String, &Vec<u8>);

impl From<&Bytes> for Msg {
    /// A single-frame message sharing the buffer (no copy).
    fn from(frame: &Bytes) -> Msg {
        Msg::with_frames(Frames::One(frame.clone()))
    }
}

impl<const N: usize> From<&[u8; N]> for Msg {
    /// A single-frame message (copies the bytes).
    fn from(frame: &[u8; N]) -> Msg {
        Msg::with_frames(Frames::One(Bytes::copy_from_slice(frame)))
    }
}

impl fmt::Display for Msg {
    /// The frames as text, bytes that are not UTF-8 as U+FFFD, separated by
    /// `|`: for printing text messages (`println!("Received {msg}")`) and
    /// logs. [`Msg::as_str`] gives a one-frame message's text exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, frame) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(&String::from_utf8_lossy(frame))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Msg {
    /// Frames that are UTF-8 print as strings, others as bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for frame in self.frames() {
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
    fn text_of_messages() {
        assert_eq!(Msg::from("Hello").as_str(), Some("Hello"));
        assert_eq!(Msg::from(vec![0xFFu8]).as_str(), None, "not UTF-8");
        assert_eq!(Msg::from_iter(["a", "b"]).as_str(), None, "two frames");
        assert_eq!(Msg::new().as_str(), None);
        assert_eq!(Msg::from_iter(["id", "", "body"]).to_string(), "id||body");
        assert_eq!(Msg::from(vec![b'a', 0xFF]).to_string(), "a\u{FFFD}");
        assert_eq!(Msg::new().to_string(), "");
    }

    #[test]
    fn borrowed_bytes_and_strings_convert() {
        let name = String::from("alice");
        let buf = vec![1u8, 2, 3, 4];
        let n = 2;
        assert_eq!(Msg::from(name.as_str()), Msg::from("alice"));
        assert_eq!(Msg::from(&name), Msg::from(name.clone()));
        assert_eq!(Msg::from(&buf[..n]), Msg::from(vec![1u8, 2]));
        assert_eq!(Msg::from(&buf), Msg::from(buf.clone()));
        assert_eq!(Msg::from(&[9u8; 3]), Msg::from(vec![9u8; 3]));
        let shared = Bytes::from_static(b"shared");
        let msg = Msg::from(&shared);
        assert_eq!(msg[0].as_ptr(), shared.as_ptr(), "a &Bytes is shared, not copied");
    }

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

    proptest::proptest! {
        /// Every operation does to a message what it does to a vector of
        /// frames, whatever inline or vector form the message is in.
        #[test]
        fn operations_match_a_vector_model(ops in proptest::collection::vec((0u8..6, 0u8..4), 0..40)) {
            let mut msg = Msg::new();
            let mut model: Vec<Bytes> = Vec::new();
            for (i, (op, n)) in ops.into_iter().enumerate() {
                let frame = Bytes::from(format!("{i}"));
                match op {
                    0 => { msg.push_back(frame.clone()); model.push(frame); }
                    1 => { msg.push_front(frame.clone()); model.insert(0, frame); }
                    2 => { let m = (!model.is_empty()).then(|| model.remove(0)); proptest::prop_assert_eq!(msg.pop_front(), m); }
                    3 => proptest::prop_assert_eq!(msg.pop_back(), model.pop()),
                    4 => {
                        let n = usize::from(n).min(model.len());
                        let front = msg.split_front(n);
                        let rest = model.split_off(n);
                        proptest::prop_assert_eq!(front.frames(), &model[..]);
                        model = rest;
                    }
                    _ => {
                        let envelope: Msg = (0..n).map(|k| format!("e{k}")).collect();
                        let mut joined: Vec<Bytes> = envelope.frames().to_vec();
                        joined.append(&mut model);
                        msg.prepend(envelope);
                        model = joined;
                    }
                }
                proptest::prop_assert_eq!(msg.frames(), &model[..]);
                proptest::prop_assert_eq!(msg.len(), model.len());
                proptest::prop_assert_eq!(msg.is_empty(), model.is_empty());
            }
            proptest::prop_assert_eq!(msg.into_frames(), model);
        }
    }

    #[test]
    fn clones_share_frames() {
        let msg = Msg::from(vec![7u8; 1024]);
        let copy = msg.clone();
        assert_eq!(msg[0].as_ptr(), copy[0].as_ptr());
    }
}
