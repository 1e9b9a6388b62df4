//! The `verdict` binary.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    apply_runtime_settings();
    let cli = verdict_server::cli::Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(verdict_server::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    };
    // A training step still running on a blocking thread (its worker was given up on after the
    // shutdown grace) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

/// Settings read from the environment when the process starts, which the training speed
/// depends on (measured with `verdict bench train`, README "Training speed"):
/// - glibc's allocator keeps large blocks in the heap instead of mapping and unmapping them
///   on every step (each fresh mapping costs page faults and zeroing);
/// - candle's CPU thread pool spins only briefly for work before sleeping, so that an idle
///   worker does not take a core from the matrix products on small machines.
///
/// Those not already set are added and the binary re-executes itself once with them; set
/// `VERDICT_RUNTIME_SETTINGS=off` to run with the environment exactly as given.
const RUNTIME_SETTINGS: [(&str, &str); 3] = [
    ("MALLOC_MMAP_THRESHOLD_", "33554432"),
    ("MALLOC_TRIM_THRESHOLD_", "4294967296"),
    ("CANDLE_BARRIER_POOL_SPIN_LIMIT", "2000"),
];

fn apply_runtime_settings() {
    const GUARD: &str = "VERDICT_RUNTIME_SETTINGS";
    if std::env::var_os(GUARD).is_some() {
        return;
    }
    let missing: Vec<_> = RUNTIME_SETTINGS
        .iter()
        .filter(|(k, _)| std::env::var_os(k).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, arg0);
    }
    cmd.args(args).env(GUARD, "applied");
    for (k, v) in missing {
        cmd.env(k, v);
    }
    // Only returns when the exec failed: then run as we are.
    let err = std::os::unix::process::CommandExt::exec(&mut cmd);
    eprintln!("warning: running without the runtime settings ({err})");
}

/// Logs to stderr; `RUST_LOG` filters, `VERDICT_LOG_FORMAT=json` switches to JSON lines.
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("VERDICT_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
