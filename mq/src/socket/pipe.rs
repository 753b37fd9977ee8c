//! The outbound half of a connection: messages a socket queued for one
//! peer, taken by that peer's writer.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;

use crate::Msg;
use crate::wait::{Gave, Notify, Why, reason};
use crate::zmtp::Command;

/// Identifies a pipe within its socket: the socket's side of one peer,
/// whose outbound half is an [`Outbox`].
pub(crate) type PipeId = u64;

/// Bytes queued and not yet taken by the writer after which a push tells
/// its sender that the writer is behind ([`Pushed::WriterBehind`]).
///
/// About what a core's L2 cache holds: the writer then copies messages to
/// the kernel while they are still in cache. A writer of the sender's own
/// worker runs only when the sender lets it (parks or yields); left alone,
/// a sender that finds room queues up to the high-water mark, and the
/// writer copies a mark's worth of messages that left the cache long ago.
/// Small messages never reach it under the default mark (1,000 of 64 bytes
/// are 64 KiB), so their batches stay whole.
pub(crate) const WRITER_BEHIND: usize = 256 * 1024;

/// What [`Outbox::try_push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// No room: the message stays in its slot.
    Full,
    /// Queued.
    Queued,
    /// Queued, and [`WRITER_BEHIND`] bytes or more now wait that the writer
    /// has not taken: the sender should let it run. Said once between two
    /// takes.
    WriterBehind,
}

impl Pushed {
    /// Whether the message was queued.
    pub(crate) fn queued(self) -> bool {
        self != Pushed::Full
    }
}

/// Messages queued for one peer, at most `hwm` of them.
///
/// The socket pushes (under its own lock, so round-robin and routing see a
/// consistent picture); the peer's writer (a connection's writer
/// micro-thread, or an `inproc` pump) takes everything queued at once.
pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    hwm: usize,
    /// `ZMQ_CONFLATE`: a new message replaces what is queued.
    conflate: bool,
    /// The writer waits here for messages.
    data: Notify,
    /// Where senders blocked on a full outbox wait (the socket's
    /// `writable`, which the socket hands to each outbox it makes): the
    /// writer wakes them when it empties a full outbox. It names no type
    /// of the socket, so this layer stays below it.
    senders: Arc<Notify>,
}

struct Queue {
    msgs: VecDeque<Msg>,
    /// Subscriptions for the peer. The socket's own doing, never the
    /// peer's: what a peer asks for goes in `pong`.
    commands: Lane,
    /// The PONG owed to the peer, with its latest PING's context: at most
    /// one, as libzmq keeps (a newer PING replaces an unsent PONG), so a
    /// peer that sends PINGs and reads nothing grows nothing here.
    pong: Option<Bytes>,
    /// Set when the current writer must stop (its connection ended).
    stop: bool,
    /// Where an `inproc` pump that took from this outbox waits for room in
    /// its peer's pipe: stopping the writer wakes it there too.
    pump_waits_on: Option<Arc<Notify>>,
    /// Set when the socket closed: no more messages come; the writer sends
    /// what is queued (until the linger deadline) and ends.
    closing: Option<Option<Instant>>,
    /// Whether the current connection's writer has taken messages to write
    /// (they may still be in flight, or unread by the peer).
    carried: bool,
    /// The bytes of the messages queued since the writer last took.
    untaken: usize,
    /// Whether a push since the writer last took said
    /// [`Pushed::WriterBehind`].
    said_behind: bool,
    /// Whether the peer was owed anything when the socket closed: messages
    /// queued, or written on this connection and perhaps not read yet.
    /// Only then does `close` wait for it.
    owed_at_close: bool,
}

impl Queue {
    /// Drops the queued messages; the commands stay, first now.
    fn clear_msgs(&mut self) {
        self.msgs.clear();
        self.untaken = 0;
        self.commands.shift(|before| *before = 0);
    }
}

/// The subscription commands queued for the peer (SUB, XSUB), each with
/// the number of messages queued before it, which are sent first (an
/// XSUB's subscription does not overtake what its user sent before it).
///
/// Not counted against the high-water mark, and exact while fewer than a
/// mark's worth wait. Beyond that (a peer that reads nothing while its
/// user keeps changing subscriptions), the lane keeps each prefix's last
/// word only: a publisher keeps a set of prefixes per peer, so the last
/// command for a prefix is what decides whether the prefix is in it. A new
/// command then replaces the one queued for its prefix, and goes nowhere
/// if it would leave the peer as it is; so the lane holds no more than a
/// mark's worth plus the prefixes the peer has and the socket wants,
/// however many changes its user makes. (An XPUB upstream that reports
/// every subscription, `ZMQ_XPUB_VERBOSE`, sees fewer repeats then.)
#[derive(Default)]
struct Lane {
    next: u64,
    /// The commands, in the order they were queued.
    queue: BTreeMap<u64, (usize, Command)>,
    /// For each prefix with commands queued, their places in `queue`.
    queued: HashMap<Bytes, Vec<u64>>,
    /// The prefixes this connection's writer has taken a subscription to
    /// and no cancel since: the peer's set, once it reads them.
    taken: HashSet<Bytes>,
}

impl Lane {
    /// Queues `command`, which goes after `before` messages; past `hwm`
    /// commands queued, as the last word on its prefix (see [`Lane`]).
    fn push(&mut self, before: usize, command: Command, hwm: usize) {
        let (Command::Subscribe(prefix) | Command::Cancel(prefix)) = &command else {
            unreachable!("the lane holds subscriptions: {command:?}")
        };
        let prefix = prefix.clone();
        if self.queue.len() >= hwm {
            for at in self.queued.remove(&prefix).unwrap_or_default() {
                self.queue.remove(&at);
            }
            let subscribe = matches!(command, Command::Subscribe(_));
            if self.taken.contains(&prefix) == subscribe {
                return; // the peer has this word already
            }
        }
        let at = self.next;
        self.next += 1;
        self.queue.insert(at, (before, command));
        self.queued.entry(prefix).or_default().push(at);
    }

    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Changes every command's count of messages before it.
    fn shift(&mut self, mut change: impl FnMut(&mut usize)) {
        for (before, _) in self.queue.values_mut() {
            change(before);
        }
    }

    /// Takes every command, in order, for the writer.
    fn take(&mut self) -> impl Iterator<Item = (usize, Command)> + '_ {
        self.queued.clear();
        let taken = &mut self.taken;
        std::mem::take(&mut self.queue)
            .into_values()
            .inspect(move |(_, command)| match command {
                Command::Subscribe(prefix) => {
                    taken.insert(prefix.clone());
                }
                Command::Cancel(prefix) => {
                    taken.remove(prefix);
                }
                _ => {}
            })
    }

    /// A new connection: the peer has nothing yet, and gets `commands`
    /// before anything else.
    fn replace(&mut self, commands: Vec<Command>) {
        *self = Lane::default();
        for command in commands {
            self.push(0, command, usize::MAX);
        }
    }
}

/// What the writer gets from [`Outbox::take`].
pub(crate) enum Take {
    /// Messages and commands to write.
    Msgs(Batch),
    /// The connection is over: stop.
    Stop,
    /// The socket closed and everything queued has been taken (or the
    /// linger deadline passed): end cleanly.
    Drained,
    /// The deadline given to [`Outbox::take_until`] passed with nothing
    /// to take.
    Idle,
}

/// Messages to write, oldest first, and the commands among them.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) msgs: Vec<Msg>,
    /// Each command with the number of `msgs` that go before it, in
    /// order.
    commands: Vec<(usize, Command)>,
}

/// One thing of a [`Batch`], in order.
pub(crate) enum Next<'a> {
    Command(&'a Command),
    Msg(&'a Msg),
}

impl Batch {
    /// The messages and commands in the order they were queued.
    pub(crate) fn in_order(&self) -> impl Iterator<Item = Next<'_>> {
        let mut commands = self.commands.iter().peekable();
        let mut msgs = self.msgs.iter();
        let mut sent = 0;
        std::iter::from_fn(move || {
            if let Some((_, command)) = commands.next_if(|(before, _)| *before <= sent) {
                return Some(Next::Command(command));
            }
            match msgs.next() {
                Some(msg) => {
                    sent += 1;
                    Some(Next::Msg(msg))
                }
                // Commands queued after the last message (or counted
                // against messages dropped since) go last.
                None => commands.next().map(|(_, command)| Next::Command(command)),
            }
        })
    }

    /// Whether there is nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.msgs.is_empty() && self.commands.is_empty()
    }

    /// Adds `command` ahead of everything (a PING).
    pub(crate) fn push_command_first(&mut self, command: Command) {
        self.commands.insert(0, (0, command));
    }
}

impl Outbox {
    /// An outbox of at most `hwm` messages (one with `conflate`), whose
    /// writer wakes `senders` when it makes room in it.
    pub(crate) fn new(hwm: usize, conflate: bool, senders: Arc<Notify>) -> Outbox {
        Outbox {
            queue: Mutex::new(Queue {
                msgs: VecDeque::new(),
                commands: Lane::default(),
                pong: None,
                stop: false,
                pump_waits_on: None,
                closing: None,
                carried: false,
                untaken: 0,
                said_behind: false,
                owed_at_close: false,
            }),
            hwm: hwm.max(1),
            conflate,
            data: Notify::new(),
            senders,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `slot`'s message if there is room (taking it out of `slot`).
    pub(crate) fn try_push(&self, slot: &mut Option<Msg>) -> Pushed {
        let pushed = {
            let mut queue = self.lock();
            if queue.closing.is_some() {
                return Pushed::Full;
            }
            if self.conflate {
                // Only the newest waits; the writer takes whole messages.
                queue.clear_msgs();
            } else if queue.msgs.len() >= self.hwm {
                return Pushed::Full;
            }
            let msg = slot.take().expect("a message to push");
            queue.untaken += msg.size();
            queue.msgs.push_back(msg);
            if queue.untaken >= WRITER_BEHIND && !queue.said_behind {
                queue.said_behind = true;
                Pushed::WriterBehind
            } else {
                Pushed::Queued
            }
        };
        self.data.notify_one();
        pushed
    }

    /// Queues `msg` ahead of everything queued, high-water mark or not: what
    /// a new connection sends first (`ZMQ_PROBE_ROUTER`'s empty message,
    /// `ZMQ_XPUB_WELCOME_MSG`).
    pub(crate) fn push_first(&self, msg: Msg) {
        let mut queue = self.lock();
        queue.msgs.push_front(msg);
        queue.commands.shift(|before| *before += 1);
        drop(queue);
        self.data.notify_one();
    }

    /// How many more messages fit now (none once the socket closed: a send
    /// fails at once then).
    pub(crate) fn room(&self) -> usize {
        let queue = self.lock();
        if queue.closing.is_some() {
            0
        } else {
            self.hwm.saturating_sub(queue.msgs.len())
        }
    }

    /// Waits for messages and takes all of them (the writer's side).
    pub(crate) fn take(&self) -> Take {
        self.take_until(None)
    }

    /// As [`take`](Outbox::take), giving up at `deadline` (a writer with a
    /// heartbeat to send).
    pub(crate) fn take_until(&self, deadline: Option<Instant>) -> Take {
        let taken = self.data.wait_until(Why::on(&reason::OUTBOX, self), deadline, || {
            let mut queue = self.lock();
            if queue.stop {
                return Some(Take::Stop);
            }
            if let Some(deadline) = queue.closing
                && (queue.msgs.is_empty() || deadline.is_some_and(|d| Instant::now() >= d))
            {
                return Some(Take::Drained);
            }
            if queue.msgs.is_empty() && queue.commands.is_empty() && queue.pong.is_none() {
                return None;
            }
            // The PONG owed goes first; then messages and commands, as
            // queued.
            let pong = queue.pong.take().map(|context| (0, Command::Pong { context }));
            let commands = pong.into_iter().chain(queue.commands.take()).collect();
            let was_full = queue.msgs.len() >= self.hwm;
            let msgs: Vec<Msg> = queue.msgs.drain(..).collect();
            queue.untaken = 0;
            queue.said_behind = false;
            if !msgs.is_empty() {
                queue.carried = true;
            }
            drop(queue);
            if was_full {
                self.senders.notify_all();
            }
            Some(Take::Msgs(Batch { msgs, commands }))
        });
        match taken {
            Ok(take) => take,
            Err(Gave::TimedOut) => Take::Idle,
            Err(Gave::Unwinding) => Take::Stop,
        }
    }

    /// Queues a subscription or cancel for the peer (see [`Lane`]).
    pub(crate) fn push_command(&self, command: Command) {
        let mut queue = self.lock();
        let before = queue.msgs.len();
        queue.commands.push(before, command, self.hwm);
        drop(queue);
        self.data.notify_one();
    }

    /// Owes the peer a PONG echoing `context` (its PING's), replacing one
    /// not sent yet.
    pub(crate) fn owe_pong(&self, context: Bytes) {
        self.lock().pong = Some(context);
        self.data.notify_one();
    }

    /// Replaces the queued commands (a new connection's subscriptions,
    /// sent before anything else: nothing an earlier connection left
    /// queued is sent to this one).
    pub(crate) fn replace_commands(&self, commands: Vec<Command>) {
        let notify = !commands.is_empty();
        self.lock().commands.replace(commands);
        if notify {
            self.data.notify_one();
        }
    }

    /// Waits until the writer is told to stop, or `deadline`; whether it
    /// was.
    pub(crate) fn stopped_by(&self, deadline: Instant) -> bool {
        match self
            .data
            .wait_until(Why::on(&reason::OUTBOX, self), Some(deadline), || {
                self.lock().stop.then_some(())
            }) {
            Ok(()) => true,
            Err(Gave::TimedOut) => false,
            // Unwinding: nobody waits for this connection any more.
            Err(Gave::Unwinding) => true,
        }
    }

    /// Tells the current writer to stop (its connection ended).
    pub(crate) fn stop_writer(&self) {
        let pump_waits_on = {
            let mut queue = self.lock();
            queue.stop = true;
            queue.pump_waits_on.clone()
        };
        self.data.notify_all();
        if let Some(room) = pump_waits_on {
            room.notify_all();
        }
    }

    /// Whether the writer was told to stop.
    pub(crate) fn is_stopped(&self) -> bool {
        self.lock().stop
    }

    /// The `inproc` pump of this outbox waits on `room` (its peer pipe's)
    /// while it delivers: [`stop_writer`](Outbox::stop_writer) wakes it
    /// there.
    pub(crate) fn pump_waits_on(&self, room: &Arc<Notify>) {
        self.lock().pump_waits_on = Some(Arc::clone(room));
    }

    /// Readies the outbox for the next connection's writer.
    pub(crate) fn restart(&self) {
        let mut queue = self.lock();
        queue.stop = false;
        // Owed to the connection that ended, not to this one; nor has this
        // one carried anything yet.
        queue.pong = None;
        queue.carried = false;
    }

    /// The socket closed (or, a STREAM, ended this connection): the writer
    /// sends what is queued, until `deadline`, and no more messages come.
    pub(crate) fn close(&self, deadline: Option<Instant>) {
        let mut queue = self.lock();
        queue.closing = Some(deadline);
        queue.owed_at_close = !queue.msgs.is_empty() || queue.carried;
        drop(queue);
        self.data.notify_all();
    }

    /// Whether messages were queued for the peer, or written to it on this
    /// connection, when the socket closed (`close` then waits for the peer
    /// to have read them: see `Socket::close`).
    pub(crate) fn owed_at_close(&self) -> bool {
        self.lock().owed_at_close
    }

    /// When the socket closed, the time until which queued messages may
    /// still be sent (`None` while open or when lingering forever).
    pub(crate) fn linger_deadline(&self) -> Option<Instant> {
        self.lock().closing.flatten()
    }

    /// Whether messages wait to be sent after the socket closed, with time
    /// left to send them (a connector keeps trying to deliver them).
    pub(crate) fn lingering(&self) -> bool {
        let queue = self.lock();
        match queue.closing {
            Some(deadline) => !queue.msgs.is_empty() && deadline.is_none_or(|d| Instant::now() < d),
            None => false,
        }
    }

    /// Drops every queued message (the pipe is gone for good).
    pub(crate) fn discard(&self) {
        self.lock().clear_msgs();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a writer would write, in order: messages' first frames and
    /// commands' names.
    fn written(outbox: &Outbox) -> Vec<String> {
        let Take::Msgs(batch) = outbox.take() else {
            panic!("a batch")
        };
        batch
            .in_order()
            .map(|next| match next {
                Next::Msg(msg) => String::from_utf8_lossy(&msg[0]).into_owned(),
                Next::Command(Command::Subscribe(prefix)) => format!("SUB {}", String::from_utf8_lossy(prefix)),
                Next::Command(Command::Pong { .. }) => "PONG".to_owned(),
                Next::Command(other) => format!("{other:?}"),
            })
            .collect()
    }

    fn push(outbox: &Outbox, body: &'static str) {
        assert!(outbox.try_push(&mut Some(Msg::from(body))).queued(), "room for {body}");
    }

    #[test]
    fn commands_keep_their_place_among_messages() {
        let outbox = Outbox::new(10, false, Arc::default());
        push(&outbox, "m1");
        outbox.push_command(Command::Subscribe(Bytes::from_static(b"A")));
        push(&outbox, "m2");
        outbox.push_command(Command::Subscribe(Bytes::from_static(b"B")));
        // A PONG owed goes first; a message that must go first goes before
        // everything queued.
        outbox.owe_pong(Bytes::new());
        outbox.push_first(Msg::from("first"));
        assert_eq!(written(&outbox), ["PONG", "first", "m1", "SUB A", "m2", "SUB B"]);
    }

    #[test]
    fn a_sender_hears_once_per_take_that_the_writer_is_behind() {
        use Pushed::{Queued, WriterBehind};
        let outbox = Outbox::new(1000, false, Arc::default());
        let pushes = |n| {
            (0..n)
                .map(|_| outbox.try_push(&mut Some(Msg::from(vec![0u8; WRITER_BEHIND / 4]))))
                .collect::<Vec<_>>()
        };
        assert_eq!(pushes(6), [Queued, Queued, Queued, WriterBehind, Queued, Queued]);
        let Take::Msgs(batch) = outbox.take() else {
            panic!("a batch")
        };
        assert_eq!(batch.msgs.len(), 6);
        // The count starts again at each take.
        assert_eq!(pushes(4), [Queued, Queued, Queued, WriterBehind]);
        let Take::Msgs(_) = outbox.take() else {
            panic!("a batch")
        };
        // Messages dropped unwritten (the peer went away) are not behind.
        assert_eq!(pushes(3), [Queued; 3]);
        outbox.discard();
        assert_eq!(pushes(3), [Queued; 3]);
        // A full outbox queues nothing.
        let full = Outbox::new(1, false, Arc::default());
        assert_eq!(full.try_push(&mut Some(Msg::from("m1"))), Queued);
        let mut slot = Some(Msg::from("m2"));
        assert_eq!(full.try_push(&mut slot), Pushed::Full);
        assert!(slot.is_some(), "the message stays in its slot");
    }

    #[test]
    fn commands_outlive_the_messages_dropped_before_them() {
        let outbox = Outbox::new(10, false, Arc::default());
        push(&outbox, "m1");
        push(&outbox, "m2");
        outbox.push_command(Command::Subscribe(Bytes::from_static(b"A")));
        outbox.discard();
        push(&outbox, "m3");
        assert_eq!(written(&outbox), ["SUB A", "m3"]);
        // With CONFLATE, the newest message replaces the others.
        let conflating = Outbox::new(10, true, Arc::default());
        push(&conflating, "old");
        conflating.push_command(Command::Subscribe(Bytes::from_static(b"A")));
        push(&conflating, "new");
        assert_eq!(written(&conflating), ["SUB A", "new"]);
    }

    /// The set of prefixes a publisher ends up with after `commands`.
    fn apply(set: &mut HashSet<Bytes>, commands: impl IntoIterator<Item = Command>) {
        for command in commands {
            match command {
                Command::Subscribe(prefix) => set.insert(prefix),
                Command::Cancel(prefix) => set.remove(&prefix),
                other => panic!("not a subscription: {other:?}"),
            };
        }
    }

    fn taken(outbox: &Outbox) -> Vec<Command> {
        match outbox.take_until(Some(Instant::now())) {
            Take::Msgs(batch) => batch.commands.into_iter().map(|(_, command)| command).collect(),
            Take::Idle => Vec::new(),
            _ => panic!("a batch or nothing"),
        }
    }

    #[test]
    fn a_peer_that_reads_nothing_holds_no_more_than_the_subscriptions() {
        let outbox = Outbox::new(4, false, Arc::default());
        outbox.push_command(Command::Subscribe(Bytes::from_static(b"kept")));
        let mut peer = HashSet::new();
        apply(&mut peer, taken(&outbox));
        // Its user subscribes and cancels without end (100,000 prefixes,
        // some twice) while the peer reads nothing.
        for i in 0..100_000u32 {
            let prefix = Bytes::from(format!("topic {}", i % 50_000));
            outbox.push_command(Command::Subscribe(prefix.clone()));
            outbox.push_command(Command::Cancel(prefix));
            if i == 99_990 {
                outbox.push_command(Command::Subscribe(Bytes::from_static(b"new")));
            }
        }
        outbox.push_command(Command::Cancel(Bytes::from_static(b"kept")));
        let queued = outbox.lock().commands.queue.len();
        assert!(queued <= 4 + 2, "{queued} commands queued");
        // What it reads at last leaves it with the socket's set.
        apply(&mut peer, taken(&outbox));
        assert_eq!(peer, HashSet::from([Bytes::from_static(b"new")]));
    }

    proptest::proptest! {
        /// Whatever the user does and whenever the peer reads, the peer's
        /// set is the one the exact sequence of commands leaves.
        #[test]
        fn the_last_word_on_each_prefix_arrives(
            steps in proptest::collection::vec((0u8..6, 0u8..4), 0..200),
            hwm in 1usize..6,
        ) {
            let outbox = Outbox::new(hwm, false, Arc::default());
            let (mut exact, mut peer) = (HashSet::new(), HashSet::new());
            for (prefix, what) in steps {
                let prefix = Bytes::from(vec![b'a' + prefix]);
                let command = match what {
                    0 => {
                        apply(&mut peer, taken(&outbox));
                        proptest::prop_assert_eq!(&peer, &exact);
                        continue;
                    }
                    1 => Command::Cancel(prefix),
                    _ => Command::Subscribe(prefix),
                };
                apply(&mut exact, [command.clone()]);
                outbox.push_command(command);
            }
            apply(&mut peer, taken(&outbox));
            proptest::prop_assert_eq!(&peer, &exact);
        }
    }
}
