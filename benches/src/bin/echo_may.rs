//! The echo server of `examples/echo.rs`, written for may: the other
//! coroutine runtime the comparison measures dhaga against
//! (`echo_may <addr>`, 2 workers).

use std::io::{Read, Write};

use may::net::{TcpListener, TcpStream};

fn handle(mut stream: TcpStream) {
    let mut buf = vec![0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".into());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    may::config().set_workers(workers);
    let listener = TcpListener::bind(&addr)?;
    println!("listening on {} (may)", listener.local_addr()?);
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = stream?;
        let _ = stream.set_nodelay(true);
        // SAFETY: may requires `unsafe` to spawn because a coroutine must
        // not use thread-local storage across a switch or block its worker;
        // this handler does neither (plain socket I/O through may's types).
        unsafe { may::coroutine::spawn(move || handle(stream)) };
    }
    Ok(())
}
