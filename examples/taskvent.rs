//! Task ventilator, as in the ZeroMQ Guide (chapter 1, "Divide and
//! Conquer", `taskvent`): the head of a PUSH/PULL pipeline that hands out
//! tasks to workers (`taskwork`) whose results a sink (`tasksink`) collects.
//!
//! Run: `cargo run --release --example taskvent -- tcp://*:5557 tcp://127.0.0.1:5558 [tasks]`
//!
//! Binds a PUSH socket for the workers to `<bind-push>` and connects a
//! second PUSH to the sink at `<sink-connect>`, then waits for Enter (or
//! the end of its input, so `taskvent … < /dev/null` starts at once): PUSH
//! deals tasks round-robin among the workers connected when it sends, so
//! start the workers first. It then
//!
//! 1. sends the sink the start of the batch: the number of tasks, as text
//!    (the Guide sends "0"; its sink ignores the content);
//! 2. sends `[tasks]` tasks (100 by default), each a workload in
//!    milliseconds, as text, drawn at random between 1 and 100;
//! 3. prints `Total expected cost: <sum> msec`, the time one worker alone
//!    would take;
//! 4. closes its sockets, which waits until every task has been handed to
//!    the network (the Guide sleeps a second instead), and exits.
//!
//! With N workers the sink's elapsed time comes close to the expected cost
//! divided by N.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use dhaga::mq::{Error, Result, Socket, SocketType};

/// Tasks in a batch unless the command line says otherwise (the Guide's).
const DEFAULT_TASKS: u32 = 100;
/// The largest workload, in milliseconds (the Guide's).
pub(crate) const MAX_WORKLOAD_MS: u32 = 100;

/// Sends a batch: the start message (the task count) to the `sink`, then
/// `tasks` tasks to the `workers`, each a workload between 1 and
/// `max_workload_ms` milliseconds drawn from a generator seeded with
/// `seed`. Prints progress to `out` and returns the sum of the workloads.
///
/// # Errors
///
/// The sockets', if sending fails, and `out`'s.
pub(crate) fn ventilate(
    workers: &Socket,
    sink: &Socket,
    tasks: u32,
    max_workload_ms: u32,
    seed: u64,
    out: &mut dyn Write,
) -> Result<u64> {
    writeln!(out, "Sending tasks to workers…")?;
    sink.send(tasks.to_string())?;

    let mut random = fastrand::Rng::with_seed(seed);
    let mut total_ms = 0;
    for _ in 0..tasks {
        let workload = random.u32(1..=max_workload_ms.max(1));
        total_ms += u64::from(workload);
        workers.send(workload.to_string())?;
    }
    writeln!(out, "Total expected cost: {total_ms} msec")?;
    Ok(total_ms)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [bind, sink] => Some((bind.clone(), sink.clone(), DEFAULT_TASKS)),
        [bind, sink, tasks] => tasks.parse().ok().map(|tasks| (bind.clone(), sink.clone(), tasks)),
        _ => None,
    };
    let Some((bind, sink_endpoint, tasks)) = parsed else {
        eprintln!(
            "usage: taskvent <bind-push> <sink-connect> [tasks]\n  \
             e.g. taskvent tcp://*:5557 tcp://127.0.0.1:5558 100"
        );
        return ExitCode::from(2);
    };
    let seed = fastrand::u64(..);

    let sent = dhaga::run(move || {
        let workers = Socket::new(SocketType::Push);
        workers.bind(&bind)?;
        let sink = Socket::new(SocketType::Push);
        sink.connect(&sink_endpoint)?;

        print!("Press Enter when the workers are ready: ");
        io::stdout().flush()?;
        // Reading the terminal blocks: off the micro-threads' workers.
        dhaga::spawn_blocking(|| io::stdin().lock().read_line(&mut String::new()))?;

        ventilate(&workers, &sink, tasks, MAX_WORKLOAD_MS, seed, &mut io::stdout())?;
        workers.close();
        sink.close();
        Ok::<_, Error>(())
    });
    match sent {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taskvent: {e}");
            ExitCode::FAILURE
        }
    }
}
