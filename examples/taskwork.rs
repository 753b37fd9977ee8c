//! Task worker, as in the ZeroMQ Guide (chapter 1, "Divide and Conquer",
//! `taskwork`): the middle of the `taskvent` → `taskwork` → `tasksink`
//! pipeline. Start as many as you like.
//!
//! Run: `cargo run --release --example taskwork -- tcp://127.0.0.1:5557 tcp://127.0.0.1:5558`
//!
//! Connects a PULL socket to the ventilator at `<pull-connect>` and a PUSH
//! socket to the sink at `<push-connect>`. For each task (a workload in
//! milliseconds, as text) it prints the workload and a dot, sleeps that
//! long — the "work", which parks only this micro-thread — and sends the
//! sink an empty result.
//!
//! The Guide's worker runs forever (its later version listens for a KILL
//! broadcast on a SUB socket). This one ends by itself: it waits for its
//! first task as long as it takes, then exits once no task has come for
//! [`IDLE`] (its batch is over), or at once when a task reads `KILL`
//! (which any PUSH peer can send, e.g. pyzmq). Before exiting it closes its
//! sockets, which waits until its last result has been handed to the
//! network.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use dhaga::mq::{Error, Result, Socket, SocketType};

/// How long a worker that has had tasks waits for the next one before it
/// takes the batch to be over and exits.
pub(crate) const IDLE: Duration = Duration::from_secs(2);

/// The task that stops a worker at once.
pub(crate) const KILL: &str = "KILL";

/// Takes tasks from `tasks` and sends a result for each to `results`,
/// printing progress to `out`, until a [`KILL`] task or until no task has
/// come for `idle` after the first one. Returns how many tasks it did.
///
/// # Errors
///
/// The sockets', if receiving or sending fails (other than the idle
/// timeout), and `out`'s.
pub(crate) fn work(tasks: &Socket, results: &Socket, idle: Duration, out: &mut dyn Write) -> Result<u64> {
    let mut done = 0;
    loop {
        let task = match tasks.recv() {
            Ok(task) => task,
            Err(Error::TimedOut) => return Ok(done),
            Err(e) => return Err(e),
        };
        let text = task
            .first()
            .map(|frame| String::from_utf8_lossy(frame).into_owned())
            .unwrap_or_default();
        if text == KILL {
            return Ok(done);
        }
        // The Guide's worker treats anything that is not a number as 0.
        let workload: u64 = text.trim().parse().unwrap_or(0);
        write!(out, "{workload}.")?;
        out.flush()?;
        dhaga::sleep(Duration::from_millis(workload));
        results.send("")?;
        done += 1;
        if done == 1 {
            // From now on, a pause this long means the batch is over.
            tasks.set_recv_timeout(Some(idle));
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [pull, push] = args.as_slice() else {
        eprintln!(
            "usage: taskwork <pull-connect> <push-connect>\n  \
             e.g. taskwork tcp://127.0.0.1:5557 tcp://127.0.0.1:5558"
        );
        return ExitCode::from(2);
    };
    let (pull, push) = (pull.clone(), push.clone());
    let worked = dhaga::run(move || {
        let tasks = Socket::new(SocketType::Pull);
        tasks.connect(&pull)?;
        let results = Socket::new(SocketType::Push);
        results.connect(&push)?;
        let done = work(&tasks, &results, IDLE, &mut io::stdout())?;
        println!();
        eprintln!("taskwork: {done} tasks done, exiting");
        results.close();
        Ok::<_, Error>(())
    });
    match worked {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taskwork: {e}");
            ExitCode::FAILURE
        }
    }
}
