//! The embedded PostgreSQL cluster: Verdict's default database when no `DATABASE_URL` is set.
//!
//! The cluster lives in `<data-dir>/postgres`, is created with the system's `initdb` on first
//! use and started with `pg_ctl`, listening on a Unix socket in `<data-dir>/run` and on a
//! localhost port: the last start's (`<data-dir>/postgres.port`) when it is free, so that a
//! restarted cluster is where its clients were, else a free one. A second process on the same
//! data dir finds it running and reuses it.
//! PostgreSQL refuses to run as root, so when Verdict runs as root the server processes run as
//! the `postgres` system user (Debian's package creates it) and own the cluster's folders.

use std::fmt;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

/// Database and superuser name inside the embedded cluster.
const DB_NAME: &str = "verdict";

/// An embedded cluster rooted in a Verdict data dir.
#[derive(Debug, Clone)]
pub struct Cluster {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    /// `Some((uid, gid))` of the `postgres` user when running as root.
    run_as: Option<(u32, u32)>,
}

/// Whether the cluster's server is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Running, listening on this TCP port.
    Running {
        /// Localhost port.
        port: u16,
    },
    /// Initialised but stopped.
    Stopped,
    /// `initdb` has not run yet.
    Uninitialised,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Running { port } => write!(f, "running on 127.0.0.1:{port}"),
            Self::Stopped => f.write_str("stopped"),
            Self::Uninitialised => f.write_str("not initialised"),
        }
    }
}

impl Cluster {
    /// Locates the PostgreSQL binaries for a cluster in `data_dir`.
    ///
    /// # Errors
    /// When `initdb`/`pg_ctl` cannot be found, with a message saying how to install them.
    pub fn new(data_dir: &Path) -> Result<Self> {
        let bin_dir = find_bin_dir().context(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under \
             /usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: `apt-get install -y \
             postgresql`), or set DATABASE_URL to use an existing PostgreSQL server",
        )?;
        let data_dir = absolute(data_dir)?;
        let run_as = if is_root()? {
            Some(postgres_user()?)
        } else {
            None
        };
        Ok(Self {
            data_dir,
            bin_dir,
            run_as,
        })
    }

    fn pgdata(&self) -> PathBuf {
        self.data_dir.join("postgres")
    }

    fn run_dir(&self) -> PathBuf {
        self.data_dir.join("run")
    }

    fn password_file(&self) -> PathBuf {
        self.data_dir.join("postgres.password")
    }

    /// The server's log file.
    #[must_use]
    pub fn log_file(&self) -> PathBuf {
        self.run_dir().join("postgres.log")
    }

    /// Reports whether the cluster exists and runs.
    ///
    /// # Errors
    /// When `pg_ctl` cannot be run.
    pub fn status(&self) -> Result<Status> {
        if !self.pgdata().join("PG_VERSION").exists() {
            return Ok(Status::Uninitialised);
        }
        let out = self
            .pg_command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(self.pgdata())
            .output()
            .context("running pg_ctl status")?;
        if !out.status.success() {
            return Ok(Status::Stopped);
        }
        Ok(Status::Running {
            port: self.read_port()?,
        })
    }

    /// Initialises the cluster if needed, starts it unless it already runs, makes sure the
    /// `verdict` database exists, and returns its connection URL.
    ///
    /// # Errors
    /// When `initdb` or `pg_ctl` fail; the message includes their output and the log's path.
    pub fn ensure_running(&self) -> Result<String> {
        let created = match self.status()? {
            Status::Running { .. } => false,
            Status::Uninitialised => {
                self.init()?;
                self.start()?;
                true
            }
            Status::Stopped => {
                self.start()?;
                false
            }
        };
        let port = self.read_port()?;
        if created {
            tracing::info!(data_dir = %self.data_dir.display(), port, "embedded PostgreSQL created");
        }
        self.create_database_if_missing()?;
        self.url(port)
    }

    /// Stops the server (fast shutdown). Stopping a stopped cluster is not an error.
    ///
    /// # Errors
    /// When `pg_ctl stop` fails on a running cluster.
    pub fn stop(&self) -> Result<bool> {
        if !matches!(self.status()?, Status::Running { .. }) {
            return Ok(false);
        }
        let out = self
            .pg_command("pg_ctl")
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(self.pgdata())
            .output()
            .context("running pg_ctl stop")?;
        check(&out, "pg_ctl stop")?;
        Ok(true)
    }

    /// The connection URL of the running cluster.
    ///
    /// # Errors
    /// When the password file cannot be read.
    pub fn url(&self, port: u16) -> Result<String> {
        let password = std::fs::read_to_string(self.password_file())
            .with_context(|| format!("reading {}", self.password_file().display()))?;
        Ok(format!(
            "postgres://{DB_NAME}:{}@127.0.0.1:{port}/{DB_NAME}",
            password.trim()
        ))
    }

    fn init(&self) -> Result<()> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data dir {}", self.data_dir.display()))?;
        for dir in [self.pgdata(), self.run_dir()] {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            self.hand_over(&dir)?;
        }
        let password = random_password()?;
        write_private(&self.password_file(), &password)?;
        // initdb reads the superuser's password from a file it can open: a temporary copy that
        // the server's user owns, removed right after.
        let pwfile = self.run_dir().join("initdb.pw");
        write_private(&pwfile, &password)?;
        self.hand_over(&pwfile)?;
        self.check_reachable()?;
        let out = self
            .pg_command("initdb")
            .arg("-D")
            .arg(self.pgdata())
            .args([
                "-U",
                DB_NAME,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
            ])
            .args(["--auth-host=scram-sha-256", "--pwfile"])
            .arg(&pwfile)
            .output()
            .context("running initdb")?;
        let _ = std::fs::remove_file(&pwfile);
        check(&out, "initdb")?;
        Ok(())
    }

    /// Where the last start's port is kept, so that a restart listens where clients were
    /// connected.
    fn port_file(&self) -> PathBuf {
        self.data_dir.join("postgres.port")
    }

    /// The port of the last start when it is free again, else a free one (recorded).
    fn choose_port(&self) -> Result<u16> {
        let last = std::fs::read_to_string(self.port_file())
            .ok()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .filter(|&p| p != 0 && TcpListener::bind(("127.0.0.1", p)).is_ok());
        let port = match last {
            Some(port) => port,
            None => free_port()?,
        };
        std::fs::write(self.port_file(), port.to_string())
            .with_context(|| format!("writing {}", self.port_file().display()))?;
        Ok(port)
    }

    fn start(&self) -> Result<()> {
        let port = self.choose_port()?;
        let socket_dir = self.run_dir();
        if socket_dir.as_os_str().len() > 90 {
            bail!(
                "the data dir path is too long for a PostgreSQL socket ({}); use a shorter \
                 --data-dir",
                socket_dir.display()
            );
        }
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            socket_dir.display()
        );
        let out = self
            .pg_command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(self.pgdata())
            .arg("-l")
            .arg(self.log_file())
            .arg("-o")
            .arg(options)
            .output()
            .context("running pg_ctl start")?;
        if !out.status.success() {
            // Another process may have started it in the meantime: reuse it then.
            if matches!(self.status()?, Status::Running { .. }) {
                return Ok(());
            }
            bail!(
                "pg_ctl start failed: {}; see {}",
                summarize(&out),
                self.log_file().display()
            );
        }
        Ok(())
    }

    fn create_database_if_missing(&self) -> Result<()> {
        let port = self.read_port()?;
        let psql = |sql: &str, db: &str| -> Result<Output> {
            self.pg_command("psql")
                .args(["-X", "-q", "-t", "-A", "-h"])
                .arg(self.run_dir())
                .arg("-p")
                .arg(port.to_string())
                .args(["-U", DB_NAME, "-d", db, "-c", sql])
                .output()
                .context("running psql")
        };
        let out = psql(
            "select 1 from pg_database where datname = 'verdict'",
            "postgres",
        )?;
        check(&out, "psql")?;
        if String::from_utf8_lossy(&out.stdout).trim() != "1" {
            let out = psql("create database verdict", "postgres")?;
            check(&out, "create database")?;
        }
        Ok(())
    }

    /// The port from `postmaster.pid` (its fourth line).
    fn read_port(&self) -> Result<u16> {
        let pid_file = self.pgdata().join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("reading {}", pid_file.display()))?;
        let line = text.lines().nth(3).unwrap_or_default();
        line.trim()
            .parse()
            .with_context(|| format!("no port in {}", pid_file.display()))
    }

    /// A command for one of the PostgreSQL binaries, as the `postgres` user when we are root.
    fn pg_command(&self, name: &str) -> Command {
        let program = if name == "psql" && !self.bin_dir.join("psql").exists() {
            PathBuf::from("psql")
        } else {
            self.bin_dir.join(name)
        };
        self.command_as_server(program)
    }

    fn command_as_server(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = match self.run_as {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.env("LC_ALL", "C")
            .env_remove("PGDATA")
            .env_remove("PGPORT")
            .env_remove("PGHOST");
        cmd
    }

    fn hand_over(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("giving {} to the postgres user", path.display()))?;
        }
        Ok(())
    }

    /// As root, checks that the `postgres` user can reach the data dir before initdb runs.
    fn check_reachable(&self) -> Result<()> {
        let reachable = self.run_as.is_none()
            || self
                .command_as_server("test")
                .arg("-w")
                .arg(self.pgdata())
                .status()
                .is_ok_and(|s| s.success());
        if !reachable {
            bail!(
                "PostgreSQL runs as the `postgres` user when Verdict runs as root, and that user \
                 cannot reach {}: choose a --data-dir whose parent folders are readable by all",
                self.data_dir.display()
            );
        }
        Ok(())
    }
}

fn check(out: &Output, what: &str) -> Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        bail!("{what} failed: {}", summarize(out))
    }
}

fn summarize(out: &Output) -> String {
    let text = format!(
        "{} {}",
        String::from_utf8_lossy(&out.stderr).trim(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    let text = text.trim().replace('\n', " | ");
    if text.is_empty() {
        format!("exit status {}", out.status)
    } else {
        text
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

fn is_root() -> Result<bool> {
    Ok(std::fs::metadata("/proc/self")
        .context("reading /proc/self")?
        .uid()
        == 0)
}

/// uid and gid of the `postgres` system user, from /etc/passwd.
fn postgres_user() -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 3 && fields[0] == "postgres" {
            return Ok((fields[2].parse()?, fields[3].parse()?));
        }
    }
    bail!(
        "PostgreSQL refuses to run as root and there is no `postgres` user to run it as: \
         run Verdict as another user, install Debian's `postgresql` package, or set DATABASE_URL"
    )
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`: from PATH (symlinks resolved), else the
/// newest `/usr/lib/postgresql/<version>/bin`.
fn find_bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let pg_ctl = dir.join("pg_ctl");
            if let Ok(real) = std::fs::canonicalize(&pg_ctl)
                && let Some(parent) = real.parent()
                && complete(parent)
            {
                return Some(parent.to_path_buf());
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn random_password() -> Result<String> {
    let mut bytes = [0u8; 18];
    let mut file = std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?;
    std::io::Read::read_exact(&mut file, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(content.as_bytes())?;
    Ok(())
}
