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
//! connection translates (see `peer/reader.rs` and `peer/writer.rs`).
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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Msg;
use crate::socket::pipe::{Outbox, PipeId};
use crate::zmtp::{Command, Metadata};

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

/// Reads a subscription frame: `Some((subscribe, prefix))`, or `None` for
/// an ordinary frame.
fn parse_subscription(frame: &Bytes) -> Option<(bool, Bytes)> {
    match frame.first() {
        Some(&SUBSCRIBE) => Some((true, frame.slice(1..))),
        Some(&CANCEL) => Some((false, frame.slice(1..))),
        _ => None,
    }
}

/// Splits what an XSUB's user sends, or what arrives at an XPUB, into its
/// subscriptions (`(subscribe, prefix)`, in order) and the ordinary
/// message the other frames make, if any, as libzmq reads them frame by
/// frame: the first frame is looked at, and the others too unless
/// `only_first` (`ZMQ_ONLY_FIRST_SUBSCRIBE`) and the first one was an
/// ordinary frame. So `[1 "A", 1 "B"]` subscribes to two prefixes, and
/// with `only_first` `["data", 1 "B"]` is one ordinary message.
pub(crate) fn split_subscriptions(msg: Msg, only_first: bool) -> (Vec<(bool, Bytes)>, Option<Msg>) {
    let mut subscriptions = Vec::new();
    let mut rest = Vec::new();
    let mut look = true;
    for (i, frame) in msg.iter().enumerate() {
        let subscription = if look { parse_subscription(frame) } else { None };
        if i == 0 {
            look = !only_first || subscription.is_some();
        }
        match subscription {
            Some(subscription) => subscriptions.push(subscription),
            None => rest.push(frame.clone()),
        }
    }
    let rest = (!rest.is_empty()).then(|| {
        let mut rest = Msg::from(rest);
        if let Some(properties) = msg.properties() {
            rest.set_properties(properties);
        }
        rest
    });
    (subscriptions, rest)
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
    /// `ZMQ_ONLY_FIRST_SUBSCRIBE`: see [`split_subscriptions`].
    pub(crate) only_first_subscribe: bool,
    /// `ZMQ_XPUB_MANUAL`: peers' subscriptions are not applied; the user
    /// receives every one and applies them with `subscribe` and
    /// `unsubscribe`, for the peer of the subscription last received.
    manual: bool,
    /// XPUB_MANUAL: each attached peer's subscriptions as it sent them
    /// (cancelled for the user when it leaves).
    requested: HashMap<PipeId, Prefixes>,
    /// XPUB_MANUAL: the peer whose subscription the user received last.
    last_requester: Option<PipeId>,
    /// XPUB: what the user has yet to receive.
    pending: Pending,
    /// The receive high-water mark, as the last arrival had it.
    hwm: usize,
}

/// An XPUB's own queue: what its user has yet to receive, in order.
///
/// Bounded without losing anything that matters. The notices that the set
/// of prefixes changed (a first subscribe, a last cancel; not verbose, not
/// manual) all show while the user keeps up; once a high-water mark's
/// worth waits, a change undone before the user saw it goes with it, so
/// they hold no more than the subscriptions themselves do, however fast a
/// peer subscribes and cancels (and an XPUB whose user never reads still
/// applies every subscription, as in libzmq). Everything else (verbose and
/// manual notices, what subscribers send) is counted, and the socket holds
/// a peer back while a high-water mark's worth of it waits.
#[derive(Default)]
struct Pending {
    next: u64,
    /// Everything, by arrival.
    queue: BTreeMap<u64, Entry>,
    /// For each prefix with a change notice queued, the latest: where, and
    /// which change.
    changes: HashMap<Bytes, (u64, bool)>,
    /// How many entries are [`Entry::Held`].
    held: usize,
}

enum Entry {
    /// A change of the set of prefixes: its message is the subscription
    /// message.
    Change(Msg),
    Held(Msg, Source),
}

impl Pending {
    /// Queues the notice that `prefix` was first subscribed or last
    /// cancelled. With `behind` (the user is a high-water mark behind), the
    /// latest queued notice of the opposite change is withdrawn instead
    /// (the user never needs to hear of either), and a second notice of
    /// the same change is one too many.
    fn change(&mut self, subscribe: bool, prefix: Bytes, notice: Msg, behind: bool) {
        if behind && let Some(&(at, queued)) = self.changes.get(&prefix) {
            if queued != subscribe {
                self.queue.remove(&at);
                self.changes.remove(&prefix);
            }
            return;
        }
        self.changes.insert(prefix, (self.next, subscribe));
        self.queue.insert(self.next, Entry::Change(notice));
        self.next += 1;
    }

    fn hold(&mut self, msg: Msg, source: Source) {
        self.queue.insert(self.next, Entry::Held(msg, source));
        self.next += 1;
        self.held += 1;
    }

    fn pop(&mut self) -> Option<(Msg, Source)> {
        let (at, entry) = self.queue.pop_first()?;
        Some(match entry {
            Entry::Change(msg) => {
                if let Some((_, prefix)) = parse_subscription(&msg[0])
                    && self.changes.get(&prefix).is_some_and(|&(latest, _)| latest == at)
                {
                    self.changes.remove(&prefix);
                }
                (msg, Source::Notice)
            }
            Entry::Held(msg, source) => {
                self.held -= 1;
                (msg, source)
            }
        })
    }

    fn len(&self) -> usize {
        self.queue.len()
    }
}

/// Where a message of an XPUB's own queue came from, which (XPUB_MANUAL)
/// says to whom the user's `subscribe` applies once it is received.
#[derive(Clone, Copy)]
enum Source {
    /// A peer's subscription or cancel: to that peer.
    Request(PipeId),
    /// A leaving peer's cancel, or a subscription shown by itself: to
    /// nobody.
    Notice,
    /// A message subscribers sent: as before it.
    Downstream,
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
            only_first_subscribe: false,
            manual: false,
            requested: HashMap::new(),
            last_requester: None,
            pending: Pending::default(),
            hwm: usize::MAX,
        }
    }

    /// `ZMQ_XPUB_MANUAL`.
    pub(crate) fn set_manual(&mut self, on: bool) {
        self.manual = on;
    }

    /// XPUB_MANUAL: applies the user's subscribe or unsubscribe to the peer
    /// whose subscription it received last, if that peer is still there.
    pub(crate) fn manual_change(&mut self, subscribe: bool, prefix: Bytes) {
        let Some(pipe) = self.last_requester.filter(|pipe| self.requested.contains_key(pipe)) else {
            return;
        };
        let peer = self.peers.entry(pipe).or_default();
        if subscribe {
            if !peer.contains(&prefix) {
                peer.add(prefix.clone());
                self.all.add(prefix);
            }
        } else if peer.remove(&prefix) {
            self.all.remove(&prefix);
        }
    }

    /// Whether this is an XPUB with `ZMQ_XPUB_MANUAL`.
    pub(crate) fn is_manual(&self) -> bool {
        self.xpub && self.manual
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

    /// A message arrived from `pipe`: its subscriptions are applied (with
    /// XPUB_MANUAL, recorded for the user to apply); what the XPUB user
    /// should see joins its queue (PUB drops everything). The socket holds
    /// back a peer while that queue is at the receive high-water mark, so a
    /// peer flooding subscriptions at a user who does not read them costs
    /// bounded memory (and an XPUB whose user never receives stops taking
    /// subscriptions once a high-water mark's worth waits).
    pub(crate) fn on_arrival(&mut self, pipe: PipeId, msg: Msg, hwm: usize) {
        self.hwm = hwm;
        let properties = msg.properties().cloned();
        let (subscriptions, rest) = split_subscriptions(msg, self.only_first_subscribe);
        for (subscribe, prefix) in subscriptions {
            self.on_subscription(pipe, subscribe, prefix, properties.as_ref());
        }
        // What else came from downstream: XPUB passes it on.
        if let Some(rest) = rest.filter(|_| self.xpub) {
            self.pending.hold(rest, Source::Downstream);
        }
    }

    /// A subscription or cancel arrived from `pipe` (on a connection with
    /// `properties`, which the user's copy keeps).
    fn on_subscription(&mut self, pipe: PipeId, subscribe: bool, prefix: Bytes, properties: Option<&Arc<Metadata>>) {
        let notice = || {
            let mut notice = subscription_msg(subscribe, &prefix);
            if let Some(properties) = properties {
                notice.set_properties(properties);
            }
            notice
        };
        if self.is_manual() {
            let requested = self.requested.entry(pipe).or_default();
            if subscribe {
                if !requested.contains(&prefix) {
                    requested.add(prefix.clone());
                }
            } else {
                requested.remove(&prefix);
            }
            self.pending.hold(notice(), Source::Request(pipe));
            return;
        }
        let peer = self.peers.entry(pipe).or_default();
        // Whether the user hears of it: every time (verbose), or as a
        // change of the set of prefixes.
        let (every_time, change) = if subscribe {
            let first = !peer.contains(&prefix) && {
                peer.add(prefix.clone());
                self.all.add(prefix.clone())
            };
            (self.verbose_subscribes, first)
        } else if peer.remove(&prefix) {
            (self.verbose_cancels, self.all.remove(&prefix))
        } else {
            // A cancel of what this peer never subscribed to shows, as in
            // libzmq 4.3 (its mtrie reports "not found" like "last").
            (self.verbose_cancels, true)
        };
        if !self.xpub {
            return;
        }
        if every_time {
            self.pending.hold(notice(), Source::Notice);
        } else if change {
            let behind = self.pending.len() >= self.hwm;
            self.pending.change(subscribe, prefix.clone(), notice(), behind);
        }
    }

    /// `pipe`'s peer left: its subscriptions go. XPUB's user is told of
    /// prefixes nobody subscribes to any more (of all of them with
    /// `ZMQ_XPUB_VERBOSER`).
    ///
    /// With XPUB_MANUAL the user is told instead of every subscription the
    /// peer asked for and did not cancel, as libzmq does.
    pub(crate) fn on_detach(&mut self, pipe: PipeId) {
        let manual = self.is_manual();
        if let Some(requested) = self.requested.remove(&pipe).filter(|_| manual) {
            for prefix in requested.iter() {
                self.pending.hold(subscription_msg(false, prefix), Source::Notice);
            }
        }
        let Some(peer) = self.peers.remove(&pipe) else {
            return;
        };
        for prefix in peer.iter() {
            let last = self.all.remove(prefix);
            if !self.xpub || manual {
                continue;
            }
            if self.verbose_cancels {
                self.pending.hold(subscription_msg(false, prefix), Source::Notice);
            } else if last {
                let behind = self.pending.len() >= self.hwm;
                self.pending
                    .change(false, prefix.clone(), subscription_msg(false, prefix), behind);
            }
        }
    }

    /// How many messages the user has yet to receive.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// How many of those count against the receive high-water mark (all
    /// but the notices of changes, which are bounded by themselves).
    pub(crate) fn held_len(&self) -> usize {
        self.pending.held
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending.len() > 0
    }

    /// XPUB: the next message for `recv`. With XPUB_MANUAL, a peer's
    /// subscription makes that peer the one the user's `subscribe` applies
    /// to from now on; a leaving peer's cancel, nobody (as in libzmq).
    pub(crate) fn take_pending(&mut self) -> Option<Msg> {
        let (msg, source) = self.pending.pop()?;
        match source {
            Source::Request(pipe) => self.last_requester = Some(pipe),
            Source::Notice => self.last_requester = None,
            Source::Downstream => {}
        }
        Some(msg)
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
    /// `ZMQ_ONLY_FIRST_SUBSCRIBE` (XSUB): see [`split_subscriptions`].
    pub(crate) only_first_subscribe: bool,
}

impl Subscriber {
    pub(crate) fn new(filter: bool) -> Subscriber {
        Subscriber {
            prefixes: Prefixes::default(),
            filter,
            invert: false,
            verbose_unsubscribe: false,
            only_first_subscribe: false,
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

    /// The default receive high-water mark.
    const HWM: usize = 1000;

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
        p.on_arrival(1, subscription_msg(true, b"A"), HWM);
        p.on_arrival(1, subscription_msg(true, b"A"), HWM);
        assert!(p.wants(1, &msg));
        assert!(!p.wants(2, &msg));
        p.on_arrival(1, subscription_msg(false, b"A"), HWM);
        assert!(!p.wants(1, &msg), "one cancel removes a peer's subscription");
    }

    /// What an XPUB shows when `msg` arrives from `pipe`.
    fn shown(p: &mut Publisher, pipe: PipeId, msg: Msg) -> Option<Bytes> {
        p.on_arrival(pipe, msg, HWM);
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
        p.on_arrival(1, subscription_msg(true, b"A"), HWM);
        p.on_arrival(2, subscription_msg(true, b"A"), HWM);
        while p.take_pending().is_some() {}
        p.on_detach(1);
        assert_eq!(p.take_pending().map(|m| m[0].clone()), Some(b("\x00A")));
    }

    #[test]
    fn a_leaving_peer_takes_its_subscriptions_with_it() {
        let mut p = Publisher::new(true);
        p.on_arrival(1, subscription_msg(true, b"A"), HWM);
        p.on_arrival(1, subscription_msg(true, b"B"), HWM);
        p.on_arrival(2, subscription_msg(true, b"B"), HWM);
        p.on_detach(1);
        // Shown in order: the subscribes, then the cancel.
        let firsts: Vec<_> = (0..2).map(|_| p.take_pending().unwrap()[0].clone()).collect();
        assert_eq!(firsts, [b("\x01A"), b("\x01B")]);
        assert!(!p.wants(1, &Msg::from("A")));
        assert!(p.wants(2, &Msg::from("B")));
        assert_eq!(p.take_pending().map(|m| m[0].clone()), Some(b("\x00A")));
        assert!(p.take_pending().is_none(), "B still has a subscriber");
    }

    #[test]
    fn every_subscription_frame_counts_unless_only_the_first_may() {
        let msg: Msg = [b("\x01A"), b("data"), b("\x01B")].into_iter().collect();
        let (subscriptions, rest) = split_subscriptions(msg.clone(), false);
        assert_eq!(subscriptions, [(true, b("A")), (true, b("B"))]);
        assert_eq!(rest, Some(Msg::from("data")));
        // Only the first frame decides: a subscription, so the others are
        // looked at too.
        let (subscriptions, rest) = split_subscriptions(msg, true);
        assert_eq!(subscriptions.len(), 2);
        assert_eq!(rest, Some(Msg::from("data")));
        // An ordinary first frame: the message is ordinary, whatever follows.
        let data: Msg = [b("data"), b("\x00B")].into_iter().collect();
        let (subscriptions, rest) = split_subscriptions(data.clone(), true);
        assert!(subscriptions.is_empty());
        assert_eq!(rest, Some(data.clone()));
        let (subscriptions, rest) = split_subscriptions(data, false);
        assert_eq!(subscriptions, [(false, b("B"))]);
        assert_eq!(rest, Some(Msg::from("data")));
    }

    #[test]
    fn a_manual_xpub_applies_only_what_its_user_says_for_the_last_requester() {
        let mut p = Publisher::new(true);
        p.set_manual(true);
        p.on_arrival(1, subscription_msg(true, b"A"), HWM);
        p.on_arrival(2, subscription_msg(true, b"B"), HWM);
        assert!(!p.wants(1, &Msg::from("A1")), "nothing applies by itself");
        // Every request shows, a repeated one too.
        p.on_arrival(2, subscription_msg(true, b"B"), HWM);
        assert_eq!(p.take_pending(), Some(subscription_msg(true, b"A")));
        p.manual_change(true, b("A-only"));
        assert_eq!(p.take_pending(), Some(subscription_msg(true, b"B")));
        p.manual_change(true, b("B"));
        assert!(p.wants(1, &Msg::from("A-only 1")) && !p.wants(1, &Msg::from("A1")));
        assert!(p.wants(2, &Msg::from("B1")) && !p.wants(2, &Msg::from("A-only")));
        assert_eq!(p.topics(), 2);
        assert!(p.take_pending().is_some());
        // A leaving peer's requests come back as cancels; what the user
        // applied for it goes.
        p.on_detach(2);
        assert_eq!(p.take_pending(), Some(subscription_msg(false, b"B")));
        assert!(p.take_pending().is_none());
        assert_eq!(p.topics(), 1);
        // The last requester left: the user's subscribe applies to nobody.
        p.manual_change(true, b("C"));
        assert!(!p.wants(2, &Msg::from("C")));
        assert_eq!(p.topics(), 1);
    }

    #[test]
    fn a_manual_xpub_forgets_its_requester_at_a_departure_cancel() {
        let mut p = Publisher::new(true);
        p.set_manual(true);
        p.on_arrival(1, subscription_msg(true, b"T"), HWM);
        p.on_arrival(2, subscription_msg(true, b"T"), HWM);
        assert!(p.take_pending().is_some());
        p.manual_change(true, b("T"));
        assert!(p.take_pending().is_some());
        p.manual_change(true, b("T"));
        p.on_detach(1);
        assert_eq!(p.take_pending(), Some(subscription_msg(false, b"T")));
        // The cancel came from a peer that left: unsubscribe applies to
        // nobody, and peer 2 keeps its subscription.
        p.manual_change(false, b("T"));
        assert!(p.wants(2, &Msg::from("T1")));
    }

    #[test]
    fn changes_undone_while_the_user_is_behind_cost_nothing() {
        let mut p = Publisher::new(true);
        // A peer that subscribes and cancels without end, to a user who
        // reads nothing: beyond the mark, the queue grows no more.
        for _ in 0..1000 {
            for prefix in [b"A", b"B", b"C"] {
                p.on_arrival(1, subscription_msg(true, prefix), 4);
                p.on_arrival(1, subscription_msg(false, prefix), 4);
            }
        }
        assert!(p.pending_len() <= 5, "{} queued", p.pending_len());
        assert_eq!(p.held_len(), 0, "no back-pressure needed");
        // While the user keeps up, every change shows, in order.
        let mut p = Publisher::new(true);
        p.on_arrival(1, subscription_msg(true, b"A"), 4);
        p.on_arrival(1, subscription_msg(false, b"A"), 4);
        assert_eq!(p.take_pending(), Some(subscription_msg(true, b"A")));
        assert_eq!(p.take_pending(), Some(subscription_msg(false, b"A")));
        // Verbose: every subscribe shows, and counts against the mark.
        p.set_verbose(true);
        for _ in 0..3 {
            p.on_arrival(1, subscription_msg(true, b"B"), 4);
        }
        assert_eq!((p.pending_len(), p.held_len()), (3, 3));
    }
}
