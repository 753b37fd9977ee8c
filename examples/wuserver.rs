//! Weather update server, as in the ZeroMQ Guide (chapter 1, "Getting the
//! Message Out", `wuserver`): a PUB socket that publishes random weather
//! updates forever.
//!
//! Run: `cargo run --release --example wuserver -- tcp://*:5556`
//!
//! Binds a PUB socket to `<bind>` and publishes, as fast as it can, updates
//! of the form `"%05d %d %d"`: a zipcode (0 to 99999, five digits), a
//! temperature (-80 to 134 °F) and a relative humidity (10 to 59 %), drawn
//! at random as the Guide's are. Subscribers choose their zipcodes by
//! prefix: the `wuclient` example, the Guide's `wuclient.c` (libzmq), or
//! pyzmq:
//!
//! ```text
//! python3 -c 'import zmq; s = zmq.Context().socket(zmq.SUB); s.connect("tcp://127.0.0.1:5556"); s.subscribe(b"10001 "); print(s.recv())'
//! ```
//!
//! A PUB never waits: an update for a subscriber whose queue is full (its
//! high-water mark, 1000 by default) is dropped for that subscriber, and
//! one nobody subscribed to goes nowhere. So the publishing loop never
//! parks, and a micro-thread that never parks keeps its worker to itself:
//! the micro-threads that write the updates to the network, which may run
//! on the publisher's worker, wait for it. A PUB's `send` yields by itself
//! when it had to drop an update (a writer is behind), so they are never
//! starved; the loop also yields every [`YIELD_EVERY`] updates, so that
//! they keep up and nothing is dropped merely because a writer had no
//! turn. libzmq writes on separate I/O threads instead.

use std::process::ExitCode;

use dhaga::mq::{Result, Socket, SocketType};

/// Updates published between two yields: fewer than the high-water mark,
/// so a subscriber's queue never fills merely because its writer had no
/// turn.
const YIELD_EVERY: u64 = 100;

/// Zipcodes are drawn from `0..ZIPCODES` (the Guide's `randof (100000)`).
const ZIPCODES: u32 = 100_000;
/// Temperatures are drawn from `TEMPERATURE_MIN..TEMPERATURE_MIN + TEMPERATURES`
/// (the Guide's `randof (215) - 80`).
const TEMPERATURE_MIN: i32 = -80;
const TEMPERATURES: u32 = 215;
/// Relative humidities are drawn from `HUMIDITY_MIN..HUMIDITY_MIN + HUMIDITIES`
/// (the Guide's `randof (50) + 10`).
const HUMIDITY_MIN: u32 = 10;
const HUMIDITIES: u32 = 50;

/// Publishes random weather updates on `publisher`, drawn from a generator
/// seeded with `seed`, until it fails. Yields every [`YIELD_EVERY`]
/// updates (see the module docs), which is also where a cancelled
/// publisher stops.
///
/// # Errors
///
/// The socket's, if publishing fails (it was closed, ...).
pub(crate) fn publish(publisher: &Socket, seed: u64) -> Result<()> {
    let mut random = fastrand::Rng::with_seed(seed);
    let mut until_yield = YIELD_EVERY;
    loop {
        publisher.send(update(&mut random))?;
        until_yield -= 1;
        if until_yield == 0 {
            dhaga::yield_now();
            until_yield = YIELD_EVERY;
        }
    }
}

/// One update: `"<zipcode> <temperature> <humidity>"`, the zipcode with
/// five digits (`"%05d %d %d"`).
fn update(random: &mut fastrand::Rng) -> String {
    let zipcode = random.u32(..ZIPCODES);
    let temperature = TEMPERATURE_MIN + random.u32(..TEMPERATURES) as i32;
    let humidity = HUMIDITY_MIN + random.u32(..HUMIDITIES);
    format!("{zipcode:05} {temperature} {humidity}")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint] = args.as_slice() else {
        eprintln!("usage: wuserver <bind>\n  e.g. wuserver tcp://*:5556");
        return ExitCode::from(2);
    };
    let endpoint = endpoint.clone();
    let seed = fastrand::u64(..);
    let published = dhaga::run(move || {
        let publisher = Socket::new(SocketType::Pub);
        publisher.bind(&endpoint)?;
        publish(&publisher, seed)
    });
    match published {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wuserver: {e}");
            ExitCode::FAILURE
        }
    }
}
