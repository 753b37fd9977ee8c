//! A crate outside the workspace that depends on dhaga by path with
//! `default-features = false`: it builds with the runtime and `dhaga::net`
//! alone, none of mq's dependencies come with it, and a micro-thread echo
//! round trip runs in it.
//!
//! The crate is written under cargo's per-test scratch directory and built
//! offline against this workspace's lock file (the dependencies are already
//! in cargo's cache once the workspace has built), in a target directory
//! kept there between runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// How long one cargo command may take: a first build of the runtime, net
/// and their dependencies on a busy 2-CPU machine, with room to spare.
const CARGO_DEADLINE: Duration = Duration::from_secs(900);

const MAIN_RS: &str = r#"
use std::io::{Read, Write};

use dhaga::net::{TcpListener, TcpStream};

fn main() {
    let reply = dhaga::run(|| -> std::io::Result<[u8; 5]> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = dhaga::spawn(move || -> std::io::Result<()> {
            let (mut stream, _) = listener.accept()?;
            let mut buf = [0; 5];
            stream.read_exact(&mut buf)?;
            stream.write_all(&buf)
        });
        let mut client = TcpStream::connect(addr)?;
        client.write_all(b"hello")?;
        let mut reply = [0; 5];
        client.read_exact(&mut reply)?;
        server.join().expect("the server micro-thread panicked")?;
        Ok(reply)
    })
    .expect("the echo round trip failed");
    assert_eq!(&reply, b"hello");
    println!("standalone: echoed {}", String::from_utf8_lossy(&reply));
}
"#;

/// Writes the crate and returns its directory.
fn write_crate(scratch: &Path) -> PathBuf {
    let dir = scratch.join("crate");
    fs::create_dir_all(dir.join("src")).unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    let manifest = format!(
        "[package]\n\
         name = \"dhaga-standalone-check\"\n\
         version = \"0.0.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\n\
         [dependencies]\n\
         dhaga = {{ path = {repo:?}, default-features = false }}\n\n\
         # Not a member of the workspace this file happens to sit under.\n\
         [workspace]\n"
    );
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    fs::write(dir.join("src/main.rs"), MAIN_RS).unwrap();
    // The workspace's versions, which cargo's cache holds: offline works.
    fs::copy(Path::new(repo).join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

/// Runs `cargo <args>` in `dir`, offline, failing the test if it does not
/// finish within [`CARGO_DEADLINE`] or fails.
fn cargo(dir: &Path, target: &Path, args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start cargo");
    let what = format!("`cargo {}` in {}", args.join(" "), dir.display());
    let output = dhaga_testutil::output_within(child, CARGO_DEADLINE, &what);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn runtime_and_net_alone_build_and_run_without_mq() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("standalone");
    let dir = write_crate(&scratch);
    let target = scratch.join("target");

    let tree = cargo(&dir, &target, &["tree", "--edges", "normal", "--prefix", "none"]);
    let tree = String::from_utf8_lossy(&tree.stdout);
    assert!(
        tree.contains("dhaga-runtime") && tree.contains("dhaga-net"),
        "dependency tree:\n{tree}"
    );
    // (`log` does come: the runtime's watchdog and deadlock reports go
    // through it.)
    for unwanted in ["dhaga-mq ", "bytes "] {
        assert!(
            !tree.lines().any(|line| line.starts_with(unwanted)),
            "`{}` comes with default-features = false:\n{tree}",
            unwanted.trim()
        );
    }

    let run = cargo(&dir, &target, &["run", "--quiet"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(stdout.trim(), "standalone: echoed hello");
}
