//! The `inspect` example, run as a program: its stall watchdog report, its
//! dump and its deadlock report.

use std::process::{Command, Stdio};

use dhaga_testutil::{PATIENCE, describe, example_program, output_within};

#[test]
fn inspect_shows_the_watchdog_report_a_dump_and_the_deadlock_report() {
    let child = Command::new(example_program("inspect", env!("CARGO"), env!("CARGO_MANIFEST_DIR")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the inspect example");
    let out = output_within(child, PATIENCE, "the inspect example");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stderr.contains("[WARN dhaga::watchdog] micro-thread")
            && stderr.contains("\"hog\" (spawned at examples/inspect.rs:"),
        "the watchdog reports the hog:\n{}",
        describe(&out)
    );
    assert!(
        stdout.contains("\"server\": parked") && stdout.contains("waiting for readable fd"),
        "the dump shows the server waiting in accept:\n{}",
        describe(&out)
    );
    assert!(
        stderr.contains("[ERROR dhaga::deadlock] dhaga: deadlock: all 2 micro-threads")
            && stderr.contains("\"left\": parked")
            && stderr.contains("\"right\": parked"),
        "the deadlock report names both:\n{}",
        describe(&out)
    );
    assert!(
        stdout.contains("inspect::serve"),
        "the server's stack shows where it waits:\n{stdout}"
    );
}
