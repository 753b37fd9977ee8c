//! Reading from several sockets with one poller, as in the ZeroMQ Guide
//! (chapter 2, "Handling Multiple Sockets", `mspoller`): tasks from a
//! ventilator (`taskvent`) and weather updates from a weather server
//! (`wuserver`), taken as they come by one micro-thread.
//!
//! Run: `cargo run --release --example mspoller -- tcp://127.0.0.1:5557 tcp://127.0.0.1:5556`
//!
//! Connects a PULL socket to `<vent-connect>` and a SUB socket, subscribed
//! to `"10001 "` (the Guide's New York), to `<weather-connect>`; then waits
//! on both with a [`Poller`] and prints `task: <body>` or `weather:
//! <update>` for each message, forever.
//!
//! dhaga does not need a poller for this (a micro-thread per socket, each a
//! plain `recv` loop, is the simpler way, as `rrbroker` shows); the poller
//! is for code that wants one loop over several sockets, as libzmq's
//! programs have.

use std::io::{self, Write};
use std::process::ExitCode;

use dhaga::mq::{Interest, Poller, Result, Socket, SocketType};

/// The zipcode the Guide's program subscribes to.
pub(crate) const ZIPCODE: &str = "10001 ";

/// What [`serve`] received.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) tasks: u64,
    pub(crate) updates: u64,
}

/// Polls `tasks` and `updates` together and prints every message to `out`,
/// until it has had at least `limit` of each (`None`: forever).
///
/// # Errors
///
/// The sockets' or the poller's, and `out`'s.
pub(crate) fn serve(tasks: &Socket, updates: &Socket, limit: Option<u64>, out: &mut dyn Write) -> Result<Counts> {
    let mut poller = Poller::new();
    let task_item = poller.add(tasks, Interest::READABLE);
    let update_item = poller.add(updates, Interest::READABLE);
    let mut counts = Counts::default();
    while limit.is_none_or(|limit| counts.tasks < limit || counts.updates < limit) {
        poller.poll(None)?;
        if poller.readiness(task_item).is_readable() {
            let task = tasks.recv()?;
            writeln!(out, "task: {task}")?;
            counts.tasks += 1;
        }
        if poller.readiness(update_item).is_readable() {
            let update = updates.recv()?;
            writeln!(out, "weather: {update}")?;
            counts.updates += 1;
        }
    }
    Ok(counts)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [vent, weather] = args.as_slice() else {
        eprintln!(
            "usage: mspoller <vent-connect> <weather-connect>\n  e.g. mspoller tcp://127.0.0.1:5557 tcp://127.0.0.1:5556"
        );
        return ExitCode::from(2);
    };
    let (vent, weather) = (vent.clone(), weather.clone());
    let served = dhaga::run(move || {
        let tasks = Socket::new(SocketType::Pull);
        tasks.connect(&vent)?;
        let updates = Socket::new(SocketType::Sub);
        updates.connect(&weather)?;
        updates.subscribe(ZIPCODE)?;
        serve(&tasks, &updates, None, &mut io::stdout().lock())
    });
    match served {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mspoller: {e}");
            ExitCode::FAILURE
        }
    }
}
