//! Task sink, as in the ZeroMQ Guide (chapter 1, "Divide and Conquer",
//! `tasksink`): the end of the `taskvent` → `taskwork` → `tasksink`
//! pipeline, which collects the workers' results and times the batch.
//!
//! Run: `cargo run --release --example tasksink -- tcp://*:5558 [tasks]`
//!
//! Binds a PULL socket to `<bind-pull>` and waits for the ventilator's
//! start-of-batch message, which starts the clock. Then it receives one
//! result per task, printing `:` for every tenth and `.` for the others,
//! and prints `Total elapsed time: <ms> msec` once all are in. It exits
//! then.
//!
//! How many results: the `taskvent` example's start message is the number
//! of tasks; the Guide's ventilator sends "0", and then `[tasks]` counts
//! (100 by default, the Guide's batch).

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dhaga::mq::{Result, Socket, SocketType};

/// Results expected when neither the command line nor the start message
/// says (the Guide's batch).
const DEFAULT_TASKS: u64 = 100;

/// Waits for the start of a batch on `results`, then for its results,
/// printing progress to `out`; returns how long the batch took from the
/// start message to the last result.
///
/// The batch has as many results as the start message says, or, if it
/// does not say (the Guide's "0"), `tasks`.
///
/// # Errors
///
/// The socket's, if receiving fails, and `out`'s.
pub(crate) fn collect(results: &Socket, tasks: u64, out: &mut dyn Write) -> Result<Duration> {
    let start = results.recv()?;
    let announced = start
        .first()
        .and_then(|frame| std::str::from_utf8(frame).ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|&n| n > 0);
    let tasks = announced.unwrap_or(tasks);
    let started = Instant::now();

    for task in 0..tasks {
        results.recv()?;
        out.write_all(if task % 10 == 0 { b":" } else { b"." })?;
        out.flush()?;
    }
    let elapsed = started.elapsed();
    writeln!(out, "\nTotal elapsed time: {} msec", elapsed.as_millis())?;
    Ok(elapsed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [bind] => Some((bind.clone(), DEFAULT_TASKS)),
        [bind, tasks] => tasks.parse().ok().map(|tasks| (bind.clone(), tasks)),
        _ => None,
    };
    let Some((bind, tasks)) = parsed else {
        eprintln!("usage: tasksink <bind-pull> [tasks]\n  e.g. tasksink tcp://*:5558 100");
        return ExitCode::from(2);
    };
    let collected = dhaga::run(move || {
        let results = Socket::new(SocketType::Pull);
        results.bind(&bind)?;
        collect(&results, tasks, &mut io::stdout()).map(drop)
    });
    match collected {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tasksink: {e}");
            ExitCode::FAILURE
        }
    }
}
