//! `verdict serve` on its embedded PostgreSQL lives through a database restart: while the
//! database is down it answers 503 at once, and when the cluster comes back (here on a new
//! port, because its old one was taken meanwhile) the server follows it without a restart.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn verdict(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verdict"));
    cmd.arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    cmd
}

fn run(data: &Path, args: &[&str]) -> String {
    let out = verdict(data).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "verdict {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The running cluster's port, from `verdict db status` ("… running on 127.0.0.1:PORT").
fn cluster_port(data: &Path) -> u16 {
    let status = run(data, &["db", "status"]);
    status
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {status:?}"))
}

/// `(status, body)` of a plain HTTP/1.1 GET.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let status = reply.split(' ').nth(1)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Polls `/healthz` until it answers `want`.
fn wait_for_health(port: u16, want: u16, server: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(server.try_wait().unwrap().is_none(), "the server exited");
        if http_get(port, "/healthz").is_some_and(|(s, _)| s == want) {
            return;
        }
        assert!(Instant::now() < deadline, "/healthz never answered {want}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

struct Stop<'a>(&'a Path, Child);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = self.1.kill();
        let _ = self.1.wait();
        let _ = verdict(self.0).args(["db", "stop"]).output();
    }
}

#[test]
fn the_server_follows_its_embedded_database_through_a_restart() {
    let dir = tempfile::Builder::new()
        .prefix("vrestart")
        .tempdir_in("/tmp")
        .unwrap();
    // As root the cluster runs as `postgres`, which must reach the folder.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let data = dir.path().join("data");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = verdict(&data)
        .args([
            "serve",
            "--workers",
            "0",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = Stop(&data, server);
    wait_for_health(port, 200, &mut guard.1);
    let old_port = cluster_port(&data);

    run(&data, &["db", "stop"]);
    // Down: 503 without a long wait, for the health check and for the API.
    let asked = Instant::now();
    let (status, _) = http_get(port, "/healthz").unwrap();
    assert_eq!(status, 503);
    let (status, body) = http_get(port, "/api/v1/leaderboard").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"unavailable\""), "{body}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );

    // Back on another port: the old one is taken meanwhile.
    let squatter = TcpListener::bind(("127.0.0.1", old_port)).unwrap();
    run(&data, &["db", "start"]);
    wait_for_health(port, 200, &mut guard.1);
    let (status, body) = http_get(port, "/api/v1/leaderboard").unwrap();
    assert_eq!(status, 200, "{body}");
    drop(squatter);

    // Restarted with its port free, it comes back where it was.
    let new_port = cluster_port(&data);
    assert_ne!(new_port, old_port);
    run(&data, &["db", "stop"]);
    run(&data, &["db", "start"]);
    assert_eq!(cluster_port(&data), new_port);
    wait_for_health(port, 200, &mut guard.1);
}
