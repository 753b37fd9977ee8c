use dhaga_mq::{Msg, Socket, SocketType};

#[test]
fn req_rep_tcp() {
    dhaga_runtime::run(|| {
        let server = Socket::new(SocketType::Rep);
        server.bind("tcp://127.0.0.1:*").unwrap();
        let ep = server.last_endpoint().unwrap();
        let h = dhaga_runtime::spawn(move || {
            for _ in 0..100 {
                let m = server.recv().unwrap();
                server.send(m).unwrap();
            }
        });
        let client = Socket::new(SocketType::Req);
        client.connect(&ep).unwrap();
        for i in 0..100 {
            client.send(format!("hi {i}")).unwrap();
            assert_eq!(client.recv().unwrap(), Msg::from(format!("hi {i}")));
        }
        h.join().unwrap();
    });
}

#[test]
fn libzmq_rep_dhaga_req() {
    let ctx = zmq::Context::new();
    let rep = ctx.socket(zmq::REP).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let ep = rep.get_last_endpoint().unwrap().unwrap();
    let t = std::thread::spawn(move || {
        for _ in 0..10 {
            let m = rep.recv_multipart(0).unwrap();
            rep.send_multipart(m, 0).unwrap();
        }
    });
    dhaga_runtime::run(move || {
        let client = Socket::new(SocketType::Req);
        client.connect(&ep).unwrap();
        for i in 0..10 {
            let msg: Msg = [format!("a{i}"), String::new(), "c".repeat(300)].into_iter().collect();
            client.send(msg.clone()).unwrap();
            assert_eq!(client.recv().unwrap(), msg);
        }
    });
    t.join().unwrap();
}

#[test]
fn dhaga_rep_libzmq_req() {
    let server = Socket::new(SocketType::Rep);
    server.bind("tcp://127.0.0.1:*").unwrap();
    let ep = server.last_endpoint().unwrap();
    let h = dhaga_runtime::spawn(move || {
        for _ in 0..10 {
            let m = server.recv().unwrap();
            server.send(m).unwrap();
        }
    });
    let ctx = zmq::Context::new();
    let req = ctx.socket(zmq::REQ).unwrap();
    req.connect(&ep).unwrap();
    for i in 0..10 {
        req.send(format!("x{i}").as_bytes(), 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), format!("x{i}").into_bytes());
    }
    h.join().unwrap();
    drop(req);
    drop(ctx);
}

#[test]
fn inproc_push_pull() {
    let ctx = dhaga_mq::Context::new();
    let push = ctx.socket(SocketType::Push);
    push.connect("inproc://x").unwrap();
    let pull = ctx.socket(SocketType::Pull);
    pull.bind("inproc://x").unwrap();
    for i in 0..2000 {
        push.send(format!("{i}")).unwrap();
    }
    for i in 0..2000 {
        assert_eq!(pull.recv().unwrap(), Msg::from(format!("{i}")));
    }
}
