//! `verdict serve` stops after SIGTERM even when a request never completes: open requests and
//! busy workers get the shutdown grace (`--shutdown-grace`), counted from the signal, and the
//! process then exits instead of waiting for them for ever.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, url_of};

/// One HTTP/1.1 GET on a fresh connection; the status line.
fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines().next().map(str::to_owned)
}

#[sqlx::test(migrator = "db::MIGRATOR")]
async fn serve_exits_after_the_grace_when_a_request_never_completes(pool: sqlx::PgPool) {
    let url = url_of(&pool);
    let runs = std::env::temp_dir().join(format!("verdict-shutdown-{}", std::process::id()));
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["serve", "--workers", "1", "--addr", &addr])
        .args(["--shutdown-grace", "2"])
        .env("DATABASE_URL", &url)
        .env("VERDICT_RUNS_DIR", &runs)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while get(&addr, "/healthz").is_none_or(|status| !status.contains(" 200 ")) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A login whose body never finishes arriving: its handler waits for the rest.
    let mut stuck = TcpStream::connect(&addr).unwrap();
    write!(
        stuck,
        "POST /api/login HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername=a"
    )
    .unwrap();
    stuck.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("`verdict serve` still running 60 s after SIGTERM, with a grace of 2 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "exit status {status}; log:\n{log}");
    assert!(
        log.contains("requests still open"),
        "the log says why it stopped waiting:\n{log}"
    );
    assert!(log.contains("stopped"), "{log}");
    drop(stuck);
    let _ = std::fs::remove_dir_all(&runs);
}
