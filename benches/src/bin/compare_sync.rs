//! Side by side, in one run: dhaga's locks and channels against std's and
//! crossbeam's on OS threads and may's on its coroutines.
//!
//! Run: `cargo run --release -p dhaga-benches --bin compare_sync`
//!
//! | metric | one unit | contenders |
//! | --- | --- | --- |
//! | uncontended lock | one lock + unlock, one unit alone | dhaga `Mutex` (micro-thread, OS thread), std `Mutex`, may `Mutex` |
//! | contended lock | one increment of a shared counter, [`UNITS`] units | dhaga (micro-threads, OS threads), std (OS threads), may (coroutines) |
//! | channel 1:1, N:1, N:N (N = [`UNITS`]) | one message through, N producers and/or consumers | dhaga `bounded`/`unbounded` (micro-threads), dhaga `unbounded` (OS threads), crossbeam-channel (OS threads), may `mpsc`/`mpmc` (coroutines) |
//!
//! # How it measures
//!
//! dhaga and may get [`WORKERS`] worker threads each; every loop runs
//! inside its contender (a micro-thread, a coroutine, or OS threads), and a
//! case's time runs from before its units start to after the last ends.
//! Each case is first run untimed with a growing count until it lasts a
//! quarter of [`MEASUREMENT`] (a warm-up that also picks the count), then
//! [`ROUNDS`] rounds measure every case of a metric once each, in an order
//! that rotates from round to round. The table shows each case's median per
//! unit and its ratio to the metric's first dhaga case.
//!
//! Progress goes to stderr and the table to stdout.

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use dhaga_benches::median;
use dhaga_runtime::Runtime;

/// Worker threads for dhaga and may: the CPUs of the reference machines.
const WORKERS: usize = 2;
/// Units (micro-threads, coroutines, threads) in the contended cases, and
/// producers/consumers in the N:1 and N:N channel cases.
const UNITS: usize = 4;
/// Measured rounds per metric; the table shows each case's median.
const ROUNDS: usize = 5;
/// About how long one timed measurement lasts.
const MEASUREMENT: Duration = Duration::from_millis(100);
/// Capacity of the bounded channels.
const CAPACITY: usize = 128;

/// One contender's way of doing a metric: runs `ops` units and returns the
/// time they took.
struct Case {
    label: &'static str,
    run: Box<dyn Fn(u64) -> Duration>,
}

/// One line group of the table.
struct Metric {
    name: String,
    cases: Vec<Case>,
}

fn main() {
    let started = Instant::now();
    may::config().set_workers(WORKERS);
    let rt = Arc::new(
        Runtime::builder()
            .workers(WORKERS)
            .build()
            .expect("build the dhaga runtime"),
    );
    let title = format!(
        "dhaga sync vs std, crossbeam-channel and may: {} CPUs, {WORKERS} workers for dhaga and may, \
         {UNITS} units where contended, median of {ROUNDS} rounds",
        thread::available_parallelism().map_or(0, |n| n.get()),
    );
    eprintln!("{title}");
    let metrics = [
        uncontended_lock(&rt),
        contended_lock(&rt),
        channel(&rt, 1, 1),
        channel(&rt, UNITS, 1),
        channel(&rt, UNITS, UNITS),
        select(&rt),
    ];
    let mut table = vec![vec![
        "metric".to_owned(),
        "contender".to_owned(),
        "median per unit".to_owned(),
        "vs dhaga".to_owned(),
    ]];
    for metric in &metrics {
        let medians = measure(metric);
        let baseline = medians[0];
        for (k, (case, median)) in metric.cases.iter().zip(&medians).enumerate() {
            table.push(vec![
                if k == 0 { metric.name.clone() } else { String::new() },
                case.label.to_owned(),
                format_ns(*median),
                format!("{}x", three_digits(median / baseline)),
            ]);
        }
    }
    eprintln!("done in {:.0} s\n", started.elapsed().as_secs_f64());
    println!("{title}\n");
    dhaga_benches::print_aligned(&table, 2);
    println!();
    println!("vs dhaga: the case's median divided by the metric's first (dhaga) case; above 1x, dhaga is ahead.");
    println!(
        "may has no bounded channel: its rows use may's unbounded mpsc (1:1, {UNITS}:1) and mpmc ({UNITS}:{UNITS})."
    );
    println!("select: may's select! races coroutines rather than choosing among channel operations, so it has no row.");
}

/// One receiver selecting over two bounded channels, each fed by its own
/// producer: dhaga's `select!` in micro-threads against crossbeam-channel's
/// `select!` between OS threads.
fn select(rt: &Arc<Runtime>) -> Metric {
    let dhaga = {
        let rt = Arc::clone(rt);
        Case {
            label: "dhaga select!, micro-threads",
            run: Box::new(move |ops| {
                rt.block_on(move || {
                    let (tx1, rx1) = dhaga_runtime::sync::bounded::<u64>(CAPACITY);
                    let (tx2, rx2) = dhaga_runtime::sync::bounded::<u64>(CAPACITY);
                    let start = Instant::now();
                    let producers: Vec<_> = [tx1, tx2]
                        .into_iter()
                        .map(|tx| {
                            dhaga_runtime::spawn(move || {
                                for i in 0..ops / 2 {
                                    tx.send(i).unwrap();
                                }
                            })
                        })
                        .collect();
                    let mut received = 0;
                    let (mut open1, mut open2) = (true, true);
                    while open1 && open2 {
                        dhaga_runtime::select! {
                            recv(rx1) -> msg => match msg {
                                Ok(v) => { black_box(v); received += 1; }
                                Err(_) => open1 = false,
                            },
                            recv(rx2) -> msg => match msg {
                                Ok(v) => { black_box(v); received += 1; }
                                Err(_) => open2 = false,
                            },
                        }
                    }
                    // One producer is done: drain the other plainly.
                    let rest = if open1 { &rx1 } else { &rx2 };
                    received += rest.iter().map(black_box).count() as u64;
                    for p in producers {
                        p.join().unwrap();
                    }
                    assert_eq!(received, ops / 2 * 2);
                    start.elapsed()
                })
            }),
        }
    };
    let crossbeam = Case {
        label: "crossbeam select!, OS threads",
        run: Box::new(move |ops| {
            let (tx1, rx1) = crossbeam_channel::bounded::<u64>(CAPACITY);
            let (tx2, rx2) = crossbeam_channel::bounded::<u64>(CAPACITY);
            let start = Instant::now();
            let producers: Vec<_> = [tx1, tx2]
                .into_iter()
                .map(|tx| {
                    thread::spawn(move || {
                        for i in 0..ops / 2 {
                            tx.send(i).unwrap();
                        }
                    })
                })
                .collect();
            let mut received = 0;
            let (mut open1, mut open2) = (true, true);
            while open1 && open2 {
                crossbeam_channel::select! {
                    recv(rx1) -> msg => match msg {
                        Ok(v) => { black_box(v); received += 1; }
                        Err(_) => open1 = false,
                    },
                    recv(rx2) -> msg => match msg {
                        Ok(v) => { black_box(v); received += 1; }
                        Err(_) => open2 = false,
                    },
                }
            }
            let rest = if open1 { &rx1 } else { &rx2 };
            received += rest.iter().map(black_box).count() as u64;
            for p in producers {
                p.join().unwrap();
            }
            assert_eq!(received, ops / 2 * 2);
            start.elapsed()
        }),
    };
    Metric {
        name: "select over 2 channels, per message".to_owned(),
        cases: vec![dhaga, crossbeam],
    }
}

/// Calibrates and measures every case of `metric`; returns the median
/// nanoseconds per unit of each.
fn measure(metric: &Metric) -> Vec<f64> {
    eprintln!("{}:", metric.name);
    let ops: Vec<u64> = metric.cases.iter().map(|case| calibrate(&*case.run)).collect();
    let mut samples = vec![Vec::with_capacity(ROUNDS); metric.cases.len()];
    for round in 0..ROUNDS {
        let mut progress = format!("  round {}/{ROUNDS}:", round + 1);
        for k in 0..metric.cases.len() {
            let i = (round + k) % metric.cases.len();
            let elapsed = (metric.cases[i].run)(ops[i]);
            let per_unit = elapsed.as_nanos() as f64 / ops[i] as f64;
            samples[i].push(per_unit);
            progress += &format!("  [{}] {}", metric.cases[i].label, format_ns(per_unit));
        }
        eprintln!("{progress}");
    }
    samples
        .iter()
        .map(|s| median(s).expect("every case has samples"))
        .collect()
}

/// Runs `run` with a growing count until it lasts a quarter of
/// [`MEASUREMENT`]; returns the count that should last about that long.
fn calibrate(run: &dyn Fn(u64) -> Duration) -> u64 {
    let mut ops = 64;
    loop {
        let elapsed = run(ops).max(Duration::from_nanos(1));
        if elapsed >= MEASUREMENT / 4 {
            let scale = MEASUREMENT.as_secs_f64() / elapsed.as_secs_f64();
            return ((ops as f64 * scale).round() as u64).max(UNITS as u64);
        }
        ops *= 4;
    }
}

/// Spawns a may coroutine: `may::coroutine::spawn` in the one place that
/// needs its `unsafe`.
fn go<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> may::coroutine::JoinHandle<T> {
    // SAFETY: may makes spawning unsafe because a coroutine may move between
    // OS threads while it uses thread-locals, and because a stack overflow is
    // not caught. The closures spawned here use no thread-locals across a
    // yield and need a few hundred bytes of their 32 KiB stack.
    unsafe { may::coroutine::spawn(f) }
}

/// Runs `f` in a may coroutine and returns its result.
fn in_may<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    go(f).join().expect("may driver panicked")
}

fn uncontended_lock(rt: &Arc<Runtime>) -> Metric {
    let rt = Arc::clone(rt);
    Metric {
        name: "uncontended lock + unlock".to_owned(),
        cases: vec![
            Case {
                label: "dhaga Mutex, micro-thread",
                run: Box::new(move |ops| {
                    rt.block_on(move || {
                        let m = dhaga_runtime::sync::Mutex::new(0u64);
                        let start = Instant::now();
                        for _ in 0..ops {
                            *m.lock().unwrap() += 1;
                        }
                        black_box(&m);
                        start.elapsed()
                    })
                }),
            },
            Case {
                label: "dhaga Mutex, OS thread",
                run: Box::new(|ops| {
                    let m = dhaga_runtime::sync::Mutex::new(0u64);
                    let start = Instant::now();
                    for _ in 0..ops {
                        *m.lock().unwrap() += 1;
                    }
                    black_box(&m);
                    start.elapsed()
                }),
            },
            Case {
                label: "std Mutex, OS thread",
                run: Box::new(|ops| {
                    let m = std::sync::Mutex::new(0u64);
                    let start = Instant::now();
                    for _ in 0..ops {
                        *m.lock().unwrap() += 1;
                    }
                    black_box(&m);
                    start.elapsed()
                }),
            },
            Case {
                label: "may Mutex, coroutine",
                run: Box::new(|ops| {
                    in_may(move || {
                        let m = may::sync::Mutex::new(0u64);
                        let start = Instant::now();
                        for _ in 0..ops {
                            *m.lock().unwrap() += 1;
                        }
                        black_box(&m);
                        start.elapsed()
                    })
                }),
            },
        ],
    }
}

fn contended_lock(rt: &Arc<Runtime>) -> Metric {
    let rt = Arc::clone(rt);
    Metric {
        name: "contended lock + unlock".to_owned(),
        cases: vec![
            Case {
                label: "dhaga Mutex, micro-threads",
                run: Box::new(move |ops| {
                    rt.block_on(move || {
                        let m = Arc::new(dhaga_runtime::sync::Mutex::new(0u64));
                        let start = Instant::now();
                        let units: Vec<_> = (0..UNITS)
                            .map(|_| {
                                let m = Arc::clone(&m);
                                dhaga_runtime::spawn(move || {
                                    for _ in 0..ops / UNITS as u64 {
                                        *m.lock().unwrap() += 1;
                                    }
                                })
                            })
                            .collect();
                        for unit in units {
                            unit.join().unwrap();
                        }
                        start.elapsed()
                    })
                }),
            },
            Case {
                label: "dhaga Mutex, OS threads",
                run: Box::new(|ops| {
                    threads_incrementing(ops, Arc::new(dhaga_runtime::sync::Mutex::new(0u64)), |m| {
                        *m.lock().unwrap() += 1;
                    })
                }),
            },
            Case {
                label: "std Mutex, OS threads",
                run: Box::new(|ops| {
                    threads_incrementing(ops, Arc::new(std::sync::Mutex::new(0u64)), |m| {
                        *m.lock().unwrap() += 1;
                    })
                }),
            },
            Case {
                label: "may Mutex, coroutines",
                run: Box::new(|ops| {
                    in_may(move || {
                        let m = Arc::new(may::sync::Mutex::new(0u64));
                        let start = Instant::now();
                        let units: Vec<_> = (0..UNITS)
                            .map(|_| {
                                let m = Arc::clone(&m);
                                go(move || {
                                    for _ in 0..ops / UNITS as u64 {
                                        *m.lock().unwrap() += 1;
                                    }
                                })
                            })
                            .collect();
                        for unit in units {
                            unit.join().unwrap();
                        }
                        start.elapsed()
                    })
                }),
            },
        ],
    }
}

/// [`UNITS`] OS threads each apply `increment` to `lock` `ops / UNITS`
/// times; returns the time until the last is done.
fn threads_incrementing<L: Send + Sync + 'static>(ops: u64, lock: Arc<L>, increment: fn(&L)) -> Duration {
    let start = Instant::now();
    let units: Vec<_> = (0..UNITS)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                for _ in 0..ops / UNITS as u64 {
                    increment(&lock);
                }
            })
        })
        .collect();
    for unit in units {
        unit.join().unwrap();
    }
    start.elapsed()
}

/// `producers` send `ops` messages in all to `consumers`, who receive until
/// every producer is gone: the metric "channel `producers`:`consumers`".
fn channel(rt: &Arc<Runtime>, producers: usize, consumers: usize) -> Metric {
    let dhaga = |label, bounded: bool| {
        let rt = Arc::clone(rt);
        Case {
            label,
            run: Box::new(move |ops| {
                rt.block_on(move || {
                    let (tx, rx) = if bounded {
                        dhaga_runtime::sync::bounded::<u64>(CAPACITY)
                    } else {
                        dhaga_runtime::sync::unbounded::<u64>()
                    };
                    let start = Instant::now();
                    let receivers: Vec<_> = (0..consumers)
                        .map(|_| {
                            let rx = rx.clone();
                            dhaga_runtime::spawn(move || rx.iter().map(black_box).count())
                        })
                        .collect();
                    drop(rx);
                    let senders: Vec<_> = (0..producers)
                        .map(|_| {
                            let tx = tx.clone();
                            dhaga_runtime::spawn(move || {
                                for i in 0..ops / producers as u64 {
                                    tx.send(i).unwrap();
                                }
                            })
                        })
                        .collect();
                    drop(tx);
                    for s in senders {
                        s.join().unwrap();
                    }
                    let received: usize = receivers.into_iter().map(|r| r.join().unwrap()).sum();
                    assert_eq!(received as u64, ops / producers as u64 * producers as u64);
                    start.elapsed()
                })
            }),
        }
    };
    // The same channel between OS threads, as crossbeam's runs: what the
    // channel itself costs, without the scheduler's help (on micro-threads
    // of two workers at most two of the units touch it at once).
    let dhaga_threads = |label| Case {
        label,
        run: Box::new(move |ops| {
            let (tx, rx) = dhaga_runtime::sync::unbounded::<u64>();
            let start = Instant::now();
            let receivers: Vec<_> = (0..consumers)
                .map(|_| {
                    let rx = rx.clone();
                    thread::spawn(move || rx.iter().map(black_box).count())
                })
                .collect();
            drop(rx);
            let senders: Vec<_> = (0..producers)
                .map(|_| {
                    let tx = tx.clone();
                    thread::spawn(move || {
                        for i in 0..ops / producers as u64 {
                            tx.send(i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            for s in senders {
                s.join().unwrap();
            }
            let received: usize = receivers.into_iter().map(|r| r.join().unwrap()).sum();
            assert_eq!(received as u64, ops / producers as u64 * producers as u64);
            start.elapsed()
        }),
    };
    let crossbeam = |label, bounded: bool| Case {
        label,
        run: Box::new(move |ops| {
            let (tx, rx) = if bounded {
                crossbeam_channel::bounded::<u64>(CAPACITY)
            } else {
                crossbeam_channel::unbounded::<u64>()
            };
            let start = Instant::now();
            let receivers: Vec<_> = (0..consumers)
                .map(|_| {
                    let rx = rx.clone();
                    thread::spawn(move || rx.iter().map(black_box).count())
                })
                .collect();
            drop(rx);
            let senders: Vec<_> = (0..producers)
                .map(|_| {
                    let tx = tx.clone();
                    thread::spawn(move || {
                        for i in 0..ops / producers as u64 {
                            tx.send(i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            for s in senders {
                s.join().unwrap();
            }
            let received: usize = receivers.into_iter().map(|r| r.join().unwrap()).sum();
            assert_eq!(received as u64, ops / producers as u64 * producers as u64);
            start.elapsed()
        }),
    };
    let may_case = if consumers == 1 {
        Case {
            label: "may mpsc, coroutines",
            run: Box::new(move |ops| {
                in_may(move || {
                    let (tx, rx) = may::sync::mpsc::channel::<u64>();
                    let start = Instant::now();
                    let receiver = go(move || rx.iter().map(black_box).count());
                    let senders: Vec<_> = (0..producers)
                        .map(|_| {
                            let tx = tx.clone();
                            go(move || {
                                for i in 0..ops / producers as u64 {
                                    tx.send(i).unwrap();
                                }
                            })
                        })
                        .collect();
                    drop(tx);
                    for s in senders {
                        s.join().unwrap();
                    }
                    let received = receiver.join().unwrap();
                    assert_eq!(received as u64, ops / producers as u64 * producers as u64);
                    start.elapsed()
                })
            }),
        }
    } else {
        Case {
            label: "may mpmc, coroutines",
            run: Box::new(move |ops| {
                in_may(move || {
                    let (tx, rx) = may::sync::mpmc::channel::<u64>();
                    let start = Instant::now();
                    let receivers: Vec<_> = (0..consumers)
                        .map(|_| {
                            let rx = rx.clone();
                            go(move || rx.iter().map(black_box).count())
                        })
                        .collect();
                    drop(rx);
                    let senders: Vec<_> = (0..producers)
                        .map(|_| {
                            let tx = tx.clone();
                            go(move || {
                                for i in 0..ops / producers as u64 {
                                    tx.send(i).unwrap();
                                }
                            })
                        })
                        .collect();
                    drop(tx);
                    for s in senders {
                        s.join().unwrap();
                    }
                    let received: usize = receivers.into_iter().map(|r| r.join().unwrap()).sum();
                    assert_eq!(received as u64, ops / producers as u64 * producers as u64);
                    start.elapsed()
                })
            }),
        }
    };
    Metric {
        name: format!("channel {producers}:{consumers}, per message"),
        cases: vec![
            dhaga("dhaga bounded, micro-threads", true),
            dhaga("dhaga unbounded, micro-threads", false),
            dhaga_threads("dhaga unbounded, OS threads"),
            crossbeam("crossbeam bounded, OS threads", true),
            crossbeam("crossbeam unbounded, OS threads", false),
            may_case,
        ],
    }
}

/// Formats nanoseconds as ns, µs or ms with three significant digits.
fn format_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{} ns", three_digits(ns))
    } else if ns < 1_000_000.0 {
        format!("{} us", three_digits(ns / 1_000.0))
    } else {
        format!("{} ms", three_digits(ns / 1_000_000.0))
    }
}

/// Three significant digits at most: 0.612, 6.12, 61.2, 612, 6120.
fn three_digits(value: f64) -> String {
    match value.abs() {
        v if v < 10.0 => format!("{value:.2}"),
        v if v < 100.0 => format!("{value:.1}"),
        _ => format!("{value:.0}"),
    }
}
