//! Publish-subscribe (rfc.zeromq.org 29/PUBSUB): PUB and XPUB send each
//! message to the peers whose subscriptions match it; SUB and XSUB tell
//! their peers what they subscribe to.
//!
//! A subscription is a prefix of a message's first frame; the empty prefix
//! matches everything. Inside a socket a subscription is a message whose
//! first frame is one byte, 1 (subscribe) or 0 (cancel), followed by the
//! prefix: that is how XSUB's user sends them and XPUB's user receives
//! them, how ZMTP 3.0 peers put them on the wire, and how `inproc` carries
//! them. ZMTP 3.1 peers exchange SUBSCRIBE and CANCEL commands instead; the
//! connection translates (see `connection.rs`).
//!
//! Counting follows libzmq, so that its peers and ours agree:
//! - a subscriber counts its subscriptions to each prefix, sends every
//!   subscribe upstream, and sends a cancel only when the last one is
//!   undone (so "A", "A", cancel "A" is still subscribed to "A");
//! - a publisher keeps, per peer, the *set* of prefixes it subscribed to
//!   (a repeated subscribe changes nothing; the one cancel removes it).
//!
//! Filtering happens at the publisher, before a message is queued for a
//! peer; a peer whose queue is full misses the message (publishers never
//! block). The message's frames are shared, not copied, between peers.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::{BufMut, Bytes, BytesMut};

use crate::Msg;
use crate::socket::core::PipeId;
use crate::socket::pipe::Outbox;
use crate::zmtp::Command;

/// First byte of a subscription message: subscribe (RFC 29, "ZMTP 3.0
/// compatibility"; XPUB/XSUB's user-visible form).
pub(crate) const SUBSCRIBE: u8 = 1;
/// First byte of a subscription message: cancel.
pub(crate) const CANCEL: u8 = 0;

/// A subscription carried as a message.
pub(crate) fn subscription_msg(subscribe: bool, prefix: &[u8]) -> Msg {
    let mut frame = BytesMut::with_capacity(1 + prefix.len());
    frame.put_u8(if subscribe { SUBSCRIBE } else { CANCEL });
    frame.put_slice(prefix);
    Msg::from(frame.freeze())
}

/// Reads a subscription message: `Some((subscribe, prefix))`, or `None` if
/// `msg` is an ordinary message. Only the first frame counts, as in
/// libzmq.
pub(crate) fn parse_subscription(msg: &Msg) -> Option<(bool, Bytes)> {
    let first = msg.first()?;
    match first.first() {
        Some(&SUBSCRIBE) => Some((true, first.slice(1..))),
        Some(&CANCEL) => Some((false, first.slice(1..))),
        _ => None,
    }
}

/// A multiset of prefixes, matched against messages' first frames.
///
/// Matching looks up each distinct prefix length once: with the prefixes
/// people use (a few lengths), that is a handful of hash lookups whatever
/// the number of prefixes.
#[derive(Default)]
pub(crate) struct Prefixes {
    counts: HashMap<Bytes, usize>,
    /// Prefix length → how many distinct prefixes have it.
    lengths: BTreeMap<usize, usize>,
}

impl Prefixes {
    /// Counts one more subscription to `prefix`; `true` if it is the first.
    pub(crate) fn add(&mut self, prefix: Bytes) -> bool {
        let len = prefix.len();
        let count = self.counts.entry(prefix).or_insert(0);
        *count += 1;
        let first = *count == 1;
        if first {
            *self.lengths.entry(len).or_insert(0) += 1;
        }
        first
    }

    /// Undoes one subscription to `prefix`; `true` if that was the last
    /// (`false` also when there was none).
    pub(crate) fn remove(&mut self, prefix: &[u8]) -> bool {
        let Some(count) = self.counts.get_mut(prefix) else {
            return false;
        };
        *count -= 1;
        if *count > 0 {
            return false;
        }
        self.counts.remove(prefix);
        let distinct = self.lengths.get_mut(&prefix.len()).expect("a length per prefix");
        *distinct -= 1;
        if *distinct == 0 {
            self.lengths.remove(&prefix.len());
        }
        true
    }

    pub(crate) fn contains(&self, prefix: &[u8]) -> bool {
        self.counts.contains_key(prefix)
    }

    /// Whether some prefix starts `data`.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        self.lengths
            .range(..=data.len())
            .any(|(&len, _)| self.counts.contains_key(&data[..len]))
    }

    /// The distinct prefixes.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.counts.keys()
    }

    /// How many distinct prefixes there are.
    pub(crate) fn len(&self) -> usize {
        self.counts.len()
    }
}

/// PUB and XPUB: who subscribed to what.
///
/// An XPUB's user receives, in arrival order, the subscriptions it should
/// see and whatever else subscribers send upstream, from one queue of the
/// publisher's own, as libzmq's XPUB does: subscriptions are applied as
/// they arrive whether or not the user reads them (a publisher that never
/// calls `recv` still serves new subscriptions), and a leaving peer's
/// cancels come after its subscribes.
pub(crate) struct Publisher {
    /// Each peer's subscriptions, as a set (see the module docs).
    peers: HashMap<PipeId, Prefixes>,
    /// For each prefix, how many peers subscribed to it.
    all: Prefixes,
    /// XPUB: the user receives subscriptions; PUB drops them.
    xpub: bool,
    /// Pass on every subscribe, not only new prefixes (`ZMQ_XPUB_VERBOSE`
    /// and `ZMQ_XPUB_VERBOSER`).
    verbose_subscribes: bool,
    /// Pass on every cancel, not only the last (`ZMQ_XPUB_VERBOSER`).
    verbose_cancels: bool,
    /// `ZMQ_INVERT_MATCHING`: send to the peers whose subscriptions do not
    /// match.
    pub(crate) invert: bool,
    /// XPUB: what the user has yet to receive.
    pending: VecDeque<Msg>,
}

impl Publisher {
    pub(crate) fn new(xpub: bool) -> Publisher {
        Publisher {
            peers: HashMap::new(),
            all: Prefixes::default(),
            xpub,
            verbose_subscribes: false,
            verbose_cancels: false,
            invert: false,
            pending: VecDeque::new(),
        }
    }

    /// `ZMQ_XPUB_VERBOSE`: every subscribe shows (and, as in libzmq, only
    /// the last cancel).
    pub(crate) fn set_verbose(&mut self, on: bool) {
        self.verbose_subscribes = on;
        self.verbose_cancels = false;
    }

    /// `ZMQ_XPUB_VERBOSER`: every subscribe and every cancel show.
    pub(crate) fn set_verboser(&mut self, on: bool) {
        self.verbose_subscribes = on;
        self.verbose_cancels = on;
    }

    /// Whether `pipe`'s peer subscribed to a prefix of `msg` (with
    /// `invert`, whether it did not).
    pub(crate) fn wants(&self, pipe: PipeId, msg: &Msg) -> bool {
        let topic = msg.first().map_or(&[][..], |f| &f[..]);
        self.peers.get(&pipe).is_some_and(|p| p.matches(topic)) != self.invert
    }

    /// `ZMQ_XPUB_VERBOSE` and `ZMQ_XPUB_VERBOSER` as set.
    pub(crate) fn verbosity(&self) -> (bool, bool) {
        (self.verbose_subscribes, self.verbose_subscribes && self.verbose_cancels)
    }

    /// `ZMQ_TOPICS_COUNT`: the distinct prefixes some peer subscribes to.
    pub(crate) fn topics(&self) -> usize {
        self.all.len()
    }

    /// A message arrived from `pipe`: a subscription is applied; what the
    /// XPUB user should see joins its queue (PUB drops everything).
    pub(crate) fn on_arrival(&mut self, pipe: PipeId, msg: Msg) {
        let Some((subscribe, prefix)) = parse_subscription(&msg) else {
            // A message from downstream: XPUB passes it on.
            if self.xpub {
                self.pending.push_back(msg);
            }
            return;
        };
        let peer = self.peers.entry(pipe).or_default();
        let show = if subscribe {
            let first = !peer.contains(&prefix) && {
                peer.add(prefix.clone());
                self.all.add(prefix)
            };
            first || self.verbose_subscribes
        } else if peer.remove(&prefix) {
            self.all.remove(&prefix) || self.verbose_cancels
        } else {
            // A cancel of what this peer never subscribed to shows, as in
            // libzmq 4.3 (its mtrie reports "not found" like "last").
            true
        };
        if self.xpub && show {
            self.pending.push_back(msg);
        }
    }

    /// `pipe`'s peer left: its subscriptions go. XPUB's user is told of
    /// prefixes nobody subscribes to any more (of all of them with
    /// `ZMQ_XPUB_VERBOSER`).
    pub(crate) fn on_detach(&mut self, pipe: PipeId) {
        let Some(peer) = self.peers.remove(&pipe) else {
            return;
        };
        for prefix in peer.iter() {
            let last = self.all.remove(prefix);
            if self.xpub && (last || self.verbose_cancels) {
                self.pending.push_back(subscription_msg(false, prefix));
            }
        }
    }

    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// XPUB: the next message for `recv`.
    pub(crate) fn take_pending(&mut self) -> Option<Msg> {
        self.pending.pop_front()
    }
}

/// SUB and XSUB: what this socket subscribed to, so that every new peer
/// learns it, and (SUB) to filter what arrives.
pub(crate) struct Subscriber {
    prefixes: Prefixes,
    /// SUB drops messages no subscription matches; XSUB passes everything,
    /// as libzmq's do.
    filter: bool,
    /// `ZMQ_INVERT_MATCHING`: SUB drops the messages a subscription matches.
    pub(crate) invert: bool,
    /// `ZMQ_XSUB_VERBOSE_UNSUBSCRIBE`: every unsubscribe goes upstream, not
    /// only the one that undoes the last subscription to its prefix.
    pub(crate) verbose_unsubscribe: bool,
}

impl Subscriber {
    pub(crate) fn new(filter: bool) -> Subscriber {
        Subscriber {
            prefixes: Prefixes::default(),
            filter,
            invert: false,
            verbose_unsubscribe: false,
        }
    }

    /// `ZMQ_TOPICS_COUNT`: the distinct prefixes subscribed to.
    pub(crate) fn topics(&self) -> usize {
        self.prefixes.len()
    }

    /// Applies a subscription the user made; returns the command to send
    /// to every peer, if any (a cancel goes only when the last subscription
    /// to its prefix is undone, unless `verbose_unsubscribe`).
    pub(crate) fn change(&mut self, subscribe: bool, prefix: Bytes) -> Option<Command> {
        if subscribe {
            self.prefixes.add(prefix.clone());
            Some(Command::Subscribe(prefix))
        } else {
            let last = self.prefixes.remove(&prefix);
            (last || self.verbose_unsubscribe).then_some(Command::Cancel(prefix))
        }
    }

    /// A new peer gets every subscription, once per prefix (a publisher
    /// keeps sets), replacing whatever an earlier connection left queued.
    pub(crate) fn on_attach(&self, outbox: &Outbox) {
        let commands = self.prefixes.iter().cloned().map(Command::Subscribe).collect();
        outbox.replace_commands(commands);
    }

    /// Filters what arrives (SUB). What an unsubscribe leaves unwanted in
    /// the queue is dropped then (`State::drop_unwanted`).
    pub(crate) fn on_arrival(&self, msg: Msg) -> Option<Msg> {
        self.accepts(&msg).then_some(msg)
    }

    /// Whether the user may receive `msg`.
    pub(crate) fn accepts(&self, msg: &Msg) -> bool {
        !self.filter || self.prefixes.matches(msg.first().map_or(&[][..], |f| &f[..])) != self.invert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn prefixes_match_the_start_of_the_first_frame() {
        let mut p = Prefixes::default();
        assert!(!p.matches(b"anything"));
        p.add(b("10001"));
        p.add(b("2"));
        assert!(p.matches(b"10001 23 45"));
        assert!(p.matches(b"2"));
        assert!(p.matches(b"20"));
        assert!(!p.matches(b"1000"));
        assert!(!p.matches(b""));
        p.add(b(""));
        assert!(p.matches(b""));
        assert!(p.matches(b"x"));
    }

    #[test]
    fn one_remove_undoes_one_add() {
        let mut p = Prefixes::default();
        assert!(p.add(b("A")));
        assert!(!p.add(b("A")));
        assert!(!p.remove(b"A"));
        assert!(p.matches(b"AB"));
        assert!(p.remove(b"A"));
        assert!(!p.matches(b"AB"));
        assert!(!p.remove(b"A"), "nothing left to remove");
        assert!(p.lengths.is_empty());
    }

    #[test]
    fn a_subscriber_cancels_upstream_only_at_its_last_unsubscribe() {
        let mut s = Subscriber::new(true);
        assert!(matches!(s.change(true, b("A")), Some(Command::Subscribe(_))));
        assert!(matches!(s.change(true, b("A")), Some(Command::Subscribe(_))));
        assert!(s.change(false, b("A")).is_none());
        assert!(s.on_arrival(Msg::from("A1")).is_some());
        assert!(matches!(s.change(false, b("A")), Some(Command::Cancel(_))));
        assert!(s.on_arrival(Msg::from("A1")).is_none());
        assert!(
            s.change(false, b("A")).is_none(),
            "unsubscribing what is not subscribed"
        );
    }

    #[test]
    fn a_publisher_keeps_a_set_per_peer() {
        let mut p = Publisher::new(false);
        let msg = Msg::from("A1");
        assert!(!p.wants(1, &msg));
        p.on_arrival(1, subscription_msg(true, b"A"));
        p.on_arrival(1, subscription_msg(true, b"A"));
        assert!(p.wants(1, &msg));
        assert!(!p.wants(2, &msg));
        p.on_arrival(1, subscription_msg(false, b"A"));
        assert!(!p.wants(1, &msg), "one cancel removes a peer's subscription");
    }

    /// What an XPUB shows when `msg` arrives from `pipe`.
    fn shown(p: &mut Publisher, pipe: PipeId, msg: Msg) -> Option<Bytes> {
        p.on_arrival(pipe, msg);
        let shown = p.take_pending().map(|m| m[0].clone());
        assert!(p.take_pending().is_none(), "one message at most");
        shown
    }

    #[test]
    fn xpub_shows_new_and_last_subscriptions_only() {
        let mut p = Publisher::new(true);
        assert_eq!(shown(&mut p, 1, subscription_msg(true, b"A")), Some(b("\x01A")));
        assert_eq!(shown(&mut p, 2, subscription_msg(true, b"A")), None);
        assert_eq!(shown(&mut p, 1, subscription_msg(false, b"A")), None);
        assert_eq!(shown(&mut p, 2, subscription_msg(false, b"A")), Some(b("\x00A")));
        // A cancel of nothing shows, as in libzmq.
        assert_eq!(shown(&mut p, 2, subscription_msg(false, b"Q")), Some(b("\x00Q")));
        // Ordinary messages from downstream pass through an XPUB.
        assert_eq!(shown(&mut p, 1, Msg::from("hello")), Some(b("hello")));
        assert_eq!(shown(&mut Publisher::new(false), 1, Msg::from("hello")), None);
    }

    #[test]
    fn xpub_verbose_shows_every_subscribe_and_verboser_every_cancel() {
        let mut p = Publisher::new(true);
        p.set_verbose(true);
        assert!(shown(&mut p, 1, subscription_msg(true, b"A")).is_some());
        assert!(shown(&mut p, 2, subscription_msg(true, b"A")).is_some());
        assert!(shown(&mut p, 1, subscription_msg(false, b"A")).is_none());
        p.set_verboser(true);
        assert!(shown(&mut p, 1, subscription_msg(true, b"A")).is_some());
        assert!(shown(&mut p, 1, subscription_msg(false, b"A")).is_some());
        // As in libzmq, VERBOSE after VERBOSER turns verbose cancels off.
        p.set_verbose(true);
        assert!(shown(&mut p, 1, subscription_msg(true, b"A")).is_some());
        assert!(shown(&mut p, 1, subscription_msg(false, b"A")).is_none());
    }

    #[test]
    fn a_verboser_xpub_hears_every_cancel_of_a_leaving_peer() {
        let mut p = Publisher::new(true);
        p.set_verboser(true);
        p.on_arrival(1, subscription_msg(true, b"A"));
        p.on_arrival(2, subscription_msg(true, b"A"));
        while p.take_pending().is_some() {}
        p.on_detach(1);
        assert_eq!(p.take_pending().map(|m| m[0].clone()), Some(b("\x00A")));
    }

    #[test]
    fn a_leaving_peer_takes_its_subscriptions_with_it() {
        let mut p = Publisher::new(true);
        p.on_arrival(1, subscription_msg(true, b"A"));
        p.on_arrival(1, subscription_msg(true, b"B"));
        p.on_arrival(2, subscription_msg(true, b"B"));
        p.on_detach(1);
        // Shown in order: the subscribes, then the cancel.
        let firsts: Vec<_> = (0..2).map(|_| p.take_pending().unwrap()[0].clone()).collect();
        assert_eq!(firsts, [b("\x01A"), b("\x01B")]);
        assert!(!p.wants(1, &Msg::from("A")));
        assert!(p.wants(2, &Msg::from("B")));
        assert_eq!(p.take_pending().map(|m| m[0].clone()), Some(b("\x00A")));
        assert!(p.take_pending().is_none(), "B still has a subscriber");
    }
}
