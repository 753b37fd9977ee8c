//! Weather update client, as in the ZeroMQ Guide (chapter 1, "Getting the
//! Message Out", `wuclient`): a SUB socket that collects the updates of
//! one zipcode from a weather server (`wuserver`) and averages their
//! temperatures.
//!
//! Run: `cargo run --release --example wuclient -- tcp://127.0.0.1:5556 '10001 ' 100`
//!
//! Connects a SUB socket to `<connect>`, subscribes to `<zip-prefix>` (the
//! updates whose text starts with it: `"10001 "` is the Guide's New York,
//! `"1"` a tenth of all zipcodes), prints each of the first `<n>` updates it
//! receives, then `Average temperature for zipcode '<zip-prefix>' was
//! <t>F` (the mean, rounded toward zero as the Guide's integer division
//! does) and exits. Any PUB peer sending `"%05d %d %d"` updates can stand on
//! the other side: the `wuserver` example, the Guide's `wuserver.c`
//! (libzmq), or pyzmq.
//!
//! A subscriber misses what was published before its subscription reached
//! the publisher (the Guide's "slow joiner"); with a server that publishes
//! forever, that only means the first matching update comes a little later.

use std::io::{self, Write};
use std::num::NonZeroU64;
use std::process::ExitCode;

use dhaga::mq::{Error, Msg, Result, Socket, SocketType};

/// Subscribes `subscriber` to `filter`, then receives `n` updates, prints
/// each to `out`, and prints their average temperature, which it returns.
///
/// # Errors
///
/// The socket's, if receiving fails; [`Error::Io`] with
/// [`io::ErrorKind::InvalidData`] for a message that is not a weather
/// update (`"<zipcode> <temperature> <humidity>"`, three integers); and
/// `out`'s.
pub(crate) fn collect(subscriber: &Socket, filter: &str, n: NonZeroU64, out: &mut dyn Write) -> Result<i64> {
    subscriber.subscribe(filter)?;
    let mut total_temperature = 0i64;
    for _ in 0..n.get() {
        let update = subscriber.recv()?;
        let (text, [_zipcode, temperature, _humidity]) = parse(&update)?;
        writeln!(out, "{text}")?;
        total_temperature += temperature;
    }
    // Division rounds toward zero, as the Guide's C does.
    let average = total_temperature / n.get() as i64;
    writeln!(out, "Average temperature for zipcode '{filter}' was {average}F")?;
    Ok(average)
}

/// An update's text and its three numbers (the Guide reads them with
/// `sscanf (string, "%d %d %d", ...)`).
fn parse(update: &Msg) -> Result<(String, [i64; 3])> {
    let text = update
        .first()
        .map(|frame| String::from_utf8_lossy(frame).into_owned())
        .unwrap_or_default();
    let mut numbers = text.split_whitespace().map(str::parse::<i64>);
    let mut next = || numbers.next().and_then(|n| n.ok());
    match (next(), next(), next()) {
        (Some(zipcode), Some(temperature), Some(humidity)) => Ok((text, [zipcode, temperature, humidity])),
        _ => Err(Error::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a weather update (\"<zipcode> <temperature> <humidity>\"): {text:?}"),
        ))),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [endpoint, filter, n] => n
            .parse::<NonZeroU64>()
            .ok()
            .map(|n| (endpoint.clone(), filter.clone(), n)),
        _ => None,
    };
    let Some((endpoint, filter, n)) = parsed else {
        eprintln!(
            "usage: wuclient <connect> <zip-prefix> <n>   (n at least 1)\n  \
             e.g. wuclient tcp://127.0.0.1:5556 '10001 ' 100"
        );
        return ExitCode::from(2);
    };
    let collected = dhaga::run(move || {
        println!("Collecting updates from weather server…");
        let subscriber = Socket::new(SocketType::Sub);
        subscriber.connect(&endpoint)?;
        collect(&subscriber, &filter, n, &mut io::stdout())
    });
    match collected {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wuclient: {e}");
            ExitCode::FAILURE
        }
    }
}
