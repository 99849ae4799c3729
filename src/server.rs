//! Starting and stopping the server: binding the listeners (with the Unix socket created at
//! its final permissions, a stale socket file replaced, anything else refused), choosing the
//! engine (io_uring, falling back when the kernel refuses it, with the active-expiry thread
//! for engines that do not run it themselves), the pidfile, and graceful shutdown on
//! SIGINT/SIGTERM (SIGHUP reopens `--logfile` and never stops the server).

use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::config::{Config, EngineKind};
use crate::engine;
use crate::expire;
use crate::net::Listener;
use crate::shared::Shared;

/// The bound listeners plus what must be cleaned up when they go.
pub struct Listeners {
    pub list: Vec<Listener>,
    /// The Unix socket path and inode we created, removed at exit if still ours.
    unix_path: Option<(PathBuf, u64)>,
}

impl Drop for Listeners {
    fn drop(&mut self) {
        if let Some((path, ino)) = &self.unix_path {
            if std::fs::symlink_metadata(path).map(|m| m.ino() == *ino).unwrap_or(false) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// After `kill -9`, the kernel tears a dead io_uring process's rings down asynchronously, so
/// the listening sockets they hold outlive the process briefly: a restart at once found the
/// Unix socket still answering and the TCP port in use about 4 times in 10 (never after a
/// 50 ms pause). Binding retries that long before reporting either.
pub const BIND_RETRY_WINDOW: Duration = Duration::from_secs(2);
/// Pause between those retries.
pub const BIND_RETRY_INTERVAL: Duration = Duration::from_millis(20);
/// Where Linux caps every listen backlog.
const SOMAXCONN_PATH: &str = "/proc/sys/net/core/somaxconn";

/// One bind attempt's failure: worth retrying for a while, or final.
enum BindError {
    /// The address is held by a listener (maybe one a killed server left behind).
    Busy(anyhow::Error),
    Fatal(anyhow::Error),
}

/// Check every flag clap cannot check alone. Runs before anything is bound or logged as
/// ready, so a bad flag never leaves a half-started server behind.
pub fn validate(config: &Config) -> anyhow::Result<()> {
    if config.unixsocket.as_os_str().is_empty() && config.port == 0 {
        bail!("nothing to listen on: give --unixsocket PATH and/or --port N");
    }
    engine::uring::validate_buffers(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Bind the Unix socket (if configured) and the TCP port (if not 0), each with
/// `--tcp-backlog`.
pub fn bind(config: &Config) -> anyhow::Result<Listeners> {
    let mut listeners = Listeners { list: Vec::new(), unix_path: None };
    warn_if_backlog_capped(config.tcp_backlog);
    if !config.unixsocket.as_os_str().is_empty() {
        let path = &config.unixsocket;
        let l = retry_while_busy(|| bind_unix(path, config.unixsocketperm))?;
        set_backlog(l.as_raw_fd(), config.tcp_backlog)?;
        let ino = std::fs::symlink_metadata(path).map(|m| m.ino()).unwrap_or(0);
        listeners.unix_path = Some((path.clone(), ino));
        listeners.list.push(Listener::Unix(l));
    }
    if config.port != 0 {
        let l = retry_while_busy(|| bind_tcp(&config.bind, config.port))?;
        set_backlog(l.as_raw_fd(), config.tcp_backlog)?;
        listeners.list.push(Listener::Tcp(l));
    }
    if listeners.list.is_empty() {
        bail!("nothing to listen on: give --unixsocket PATH and/or --port N");
    }
    Ok(listeners)
}

/// Run `attempt` until it succeeds, fails for good, or has been busy for
/// [`BIND_RETRY_WINDOW`] (then the last busy error is the answer).
fn retry_while_busy<T>(mut attempt: impl FnMut() -> Result<T, BindError>) -> anyhow::Result<T> {
    let deadline = Instant::now() + BIND_RETRY_WINDOW;
    let mut logged = false;
    loop {
        match attempt() {
            Ok(t) => return Ok(t),
            Err(BindError::Fatal(e)) => return Err(e),
            Err(BindError::Busy(e)) if Instant::now() >= deadline => return Err(e),
            Err(BindError::Busy(e)) => {
                if !logged {
                    tracing::info!(
                        "{e:#}; retrying for up to {BIND_RETRY_WINDOW:?} (a server killed just now may still hold it)"
                    );
                    logged = true;
                }
                std::thread::sleep(BIND_RETRY_INTERVAL);
            }
        }
    }
}

/// Bind TCP `addr:port`; `EADDRINUSE` is [`BindError::Busy`].
fn bind_tcp(addr: &str, port: u16) -> Result<TcpListener, BindError> {
    let addr = format!("{addr}:{port}");
    TcpListener::bind(&addr).map_err(|e| {
        let busy = e.kind() == ErrorKind::AddrInUse;
        let e = anyhow::Error::new(e).context(format!("could not bind TCP {addr}"));
        if busy {
            BindError::Busy(e)
        } else {
            BindError::Fatal(e)
        }
    })
}

/// Give a bound listener `backlog` (std's bind listens with 128; Linux lets `listen(2)` be
/// called again on a listening socket to change it).
fn set_backlog(fd: RawFd, backlog: u32) -> anyhow::Result<()> {
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    // SAFETY: `fd` is a bound, listening socket the caller owns; listen(2) only reads it.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        bail!("listen(backlog {backlog}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Redis's warning when `net.core.somaxconn` caps the backlog below `--tcp-backlog`.
fn warn_if_backlog_capped(backlog: u32) {
    let somaxconn = std::fs::read_to_string(SOMAXCONN_PATH).ok().and_then(|s| s.trim().parse::<u32>().ok());
    if let Some(max) = somaxconn.filter(|&max| max < backlog) {
        tracing::warn!(
            "WARNING: The TCP backlog setting of {backlog} cannot be enforced because {SOMAXCONN_PATH} is set to the lower value of {max}."
        );
    }
}

/// Create the Unix socket at `path` with permissions `perm`, with no moment where it exists
/// with wider permissions (the umask is narrowed around bind; this runs before any other
/// thread exists). A stale socket left by a crashed server is replaced; a live server's
/// socket (busy: retried, it may be a killed server's), or any path that is not a socket, is
/// never touched.
fn bind_unix(path: &Path, perm: u32) -> Result<UnixListener, BindError> {
    remove_stale_socket(path)?;
    // SAFETY: umask only changes this process's file-creation mask; restored right after.
    let old = unsafe { libc::umask((!perm & 0o777) as libc::mode_t) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    bound.map_err(|e| {
        let busy = e.kind() == ErrorKind::AddrInUse;
        let e = anyhow::Error::new(e).context(format!("could not bind Unix socket {}", path.display()));
        if busy {
            BindError::Busy(e)
        } else {
            BindError::Fatal(e)
        }
    })
}

/// If a socket file is at `path` and nobody answers on it, remove it. Anything else there is
/// refused; a listener answering is [`BindError::Busy`].
fn remove_stale_socket(path: &Path) -> Result<(), BindError> {
    let fatal = |msg: String| BindError::Fatal(anyhow::anyhow!(msg));
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => Err(BindError::Busy(anyhow::anyhow!(
                "another server is already listening on {}; stop it or choose another --unixsocket",
                path.display()
            ))),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                tracing::info!(path = %path.display(), "removing stale socket file");
                std::fs::remove_file(path)
                    .map_err(|e| fatal(format!("could not remove stale socket {}: {e}", path.display())))
            }
            Err(e) => {
                Err(fatal(format!("{} exists and could not be checked ({e}); refusing to replace it", path.display())))
            }
        },
        Ok(meta) if meta.file_type().is_symlink() => Err(fatal(format!(
            "{} exists and is a symbolic link, not a socket; refusing to replace it (choose another --unixsocket)",
            path.display()
        ))),
        Ok(_) => Err(fatal(format!(
            "{} exists and is not a socket; refusing to replace it (choose another --unixsocket)",
            path.display()
        ))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fatal(format!("could not inspect {}: {e}", path.display()))),
    }
}

/// Install signal handling: the first SIGINT/SIGTERM starts a graceful shutdown, after the
/// save Redis makes then (`durability::shutdown`; later signals are logged, the shutdown is
/// bounded anyway); SIGHUP reopens the log file (logrotate) and
/// is otherwise ignored, as Redis does (its default action would kill the server, leave the
/// socket file and lose every key).
pub fn install_signal_handlers(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
        .context("installing signal handlers")?;
    let shared = shared.clone();
    std::thread::Builder::new().name("ringkv-signals".into()).spawn(move || {
        for sig in signals.forever() {
            match sig {
                libc::SIGHUP => match crate::logfile::reopen() {
                    Ok(true) => tracing::info!(signal = sig, "SIGHUP received: log file reopened"),
                    Ok(false) => tracing::info!(signal = sig, "SIGHUP received: ignored (logging to standard error)"),
                    Err(e) => tracing::warn!(signal = sig, "SIGHUP received: could not reopen the log file: {e}"),
                },
                _ if shared.shutting_down() => tracing::info!(signal = sig, "already shutting down"),
                _ => {
                    tracing::info!(signal = sig, "Received signal, scheduling shutdown...");
                    // Save first when save points are configured; a failed save keeps the
                    // server running, as in Redis (durability::shutdown).
                    let mode = crate::persist::save::ShutdownSave::Default;
                    if crate::durability::shutdown::prepare(&shared, mode, false).is_ok() {
                        shared.begin_shutdown();
                    }
                }
            }
        }
    })?;
    Ok(())
}

/// Serve with the configured engine until shutdown. Listeners must already be bound.
pub fn serve(shared: &Arc<Shared>, listeners: &Listeners) -> anyhow::Result<()> {
    let names: Vec<String> = listeners.list.iter().map(Listener::describe).collect();
    // The `ready` line is logged by the engine that ends up serving (Shared::set_io).
    shared.set_listening(names.join(","));
    crate::clock::init();
    if shared.config.engine != EngineKind::Threads {
        // Event-loop workers run scripts there, so a long script never holds a worker.
        crate::cmd::script::offload::start(shared)?;
    }
    match shared.config.engine {
        // io_uring runs expiry and shutdown inside its rings. If the kernel refuses io_uring
        // (old kernel, seccomp, sysctl, memlock, missing ops), log one line and use epoll.
        EngineKind::Uring => match engine::uring::serve(shared, &listeners.list) {
            Ok(()) => Ok(()),
            Err(engine::uring::ServeError::Unsupported(why)) => {
                tracing::warn!("io_uring unusable, falling back to the epoll engine: {why}");
                expire::with_expiry_thread(shared, || engine::epoll::serve(shared, &listeners.list))
            }
            Err(engine::uring::ServeError::Failed(e)) => Err(e),
        },
        EngineKind::Epoll => expire::with_expiry_thread(shared, || engine::epoll::serve(shared, &listeners.list)),
        EngineKind::Threads => expire::with_expiry_thread(shared, || engine::threads::serve(shared, &listeners.list)),
    }
}

/// Like Redis's adjustOpenFilesLimit: raise the soft RLIMIT_NOFILE so `--maxclients` clients
/// fit; if the hard limit does not allow it, lower maxclients to what fits (with a warning),
/// so that the client over the limit gets `max number of clients reached` instead of the
/// server running out of descriptors.
pub fn adjust_open_files_limit(config: &mut Config) {
    let fit = crate::tunables::fit_maxclients(config.maxclients);
    if fit < config.maxclients {
        tracing::warn!(
            maxclients = config.maxclients,
            "the open files limit is too low for maxclients; maxclients is now {fit}"
        );
        config.maxclients = fit;
    }
}

/// `--pidfile`: written at startup (a failure is logged, as Redis does, not fatal), removed
/// when dropped at exit.
struct PidFile(Option<PathBuf>);

impl PidFile {
    fn create(path: &Path) -> PidFile {
        if path.as_os_str().is_empty() {
            return PidFile(None);
        }
        match std::fs::write(path, format!("{}\n", std::process::id())) {
            Ok(()) => PidFile(Some(path.to_path_buf())),
            Err(e) => {
                tracing::warn!("Failed to write PID file {}: {e}", path.display());
                PidFile(None)
            }
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// How often INFO's instantaneous metrics are sampled (Redis: every 100 ms, in serverCron).
pub const INST_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// The server's cron until shutdown (a detached thread that wakes ten times a second):
/// sample INFO's instantaneous metrics (it only reads counters) and check the save points
/// (`durability::rdb_save::cron`).
fn spawn_sampler(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("ringkv-sampler".into())
        .spawn(move || {
            while !shared.shutting_down() {
                shared.sample_instantaneous();
                crate::durability::rdb_save::cron(&shared);
                std::thread::sleep(INST_SAMPLE_INTERVAL);
            }
        })
        .context("starting the statistics sampler")?;
    Ok(())
}

/// Everything `ringkv-server` does: bind, install signals, serve, clean up.
pub fn run(mut config: Config) -> anyhow::Result<()> {
    validate(&config)?;
    adjust_open_files_limit(&mut config);
    let listeners = bind(&config)?;
    let shared = Arc::new(Shared::new(config));
    install_signal_handlers(&shared)?;
    spawn_sampler(&shared)?;
    let pidfile = PidFile::create(&shared.config.pidfile);
    crate::alloc::loading(true);
    let aof_threads = crate::durability::start(&shared)?;
    crate::alloc::loading(false);
    let served = serve(&shared, &listeners);
    shared.begin_shutdown();
    crate::durability::stop(&shared, aof_threads);
    served?;
    drop(pidfile);
    drop(listeners);
    tracing::info!("bye");
    Ok(())
}
