//! Starting and stopping the server: binding the listeners (with the Unix socket created at
//! its final permissions, a stale socket file replaced, anything else refused), choosing the
//! engine (io_uring, falling back when the kernel refuses it), active expiry for engines that
//! do not run it themselves, and graceful shutdown on SIGINT/SIGTERM.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::config::{Config, EngineKind};
use crate::engine::{self, Listener};
use crate::shared::Shared;

/// How often active expiry runs, and how long one cycle may take (Redis: 10 Hz, 25% of it).
pub const EXPIRE_CYCLE_INTERVAL: Duration = Duration::from_millis(100);
pub const EXPIRE_CYCLE_BUDGET: Duration = Duration::from_millis(25);

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

/// Bind the Unix socket (if configured) and the TCP port (if not 0).
pub fn bind(config: &Config) -> anyhow::Result<Listeners> {
    let mut listeners = Listeners { list: Vec::new(), unix_path: None };
    if !config.unixsocket.as_os_str().is_empty() {
        let path = &config.unixsocket;
        let l = bind_unix(path, config.unixsocketperm)?;
        let ino = std::fs::symlink_metadata(path).map(|m| m.ino()).unwrap_or(0);
        listeners.unix_path = Some((path.clone(), ino));
        listeners.list.push(Listener::Unix(l));
    }
    if config.port != 0 {
        let addr = format!("{}:{}", config.bind, config.port);
        let l = std::net::TcpListener::bind(&addr).with_context(|| format!("could not bind TCP {addr}"))?;
        listeners.list.push(Listener::Tcp(l));
    }
    if listeners.list.is_empty() {
        bail!("nothing to listen on: give --unixsocket PATH and/or --port N");
    }
    Ok(listeners)
}

/// Create the Unix socket at `path` with permissions `perm`, with no moment where it exists
/// with wider permissions (the umask is narrowed around bind; this runs before any other
/// thread exists). A stale socket left by a crashed server is replaced; a live server's
/// socket, or any path that is not a socket, is never touched.
fn bind_unix(path: &Path, perm: u32) -> anyhow::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => bail!(
                "another server is already listening on {}; stop it or choose another --unixsocket",
                path.display()
            ),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                tracing::info!(path = %path.display(), "removing stale socket file");
                std::fs::remove_file(path)
                    .with_context(|| format!("could not remove stale socket {}", path.display()))?;
            }
            Err(e) => bail!("{} exists and could not be checked ({e}); refusing to replace it", path.display()),
        },
        Ok(meta) if meta.file_type().is_symlink() => bail!(
            "{} exists and is a symbolic link, not a socket; refusing to replace it (choose another --unixsocket)",
            path.display()
        ),
        Ok(_) => {
            bail!("{} exists and is not a socket; refusing to replace it (choose another --unixsocket)", path.display())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => bail!("could not inspect {}: {e}", path.display()),
    }
    // SAFETY: umask only changes this process's file-creation mask; restored right after.
    let old = unsafe { libc::umask((!perm & 0o777) as libc::mode_t) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    bound.with_context(|| format!("could not bind Unix socket {}", path.display()))
}

/// Run active expiry once (engines without their own timer call this from a thread).
pub fn expire_tick(shared: &Shared) {
    let removed = shared.store.active_expire_cycle(crate::store::now_ms(), EXPIRE_CYCLE_BUDGET);
    if removed > 0 {
        shared.stats.expired_keys.fetch_add(removed as u64, Relaxed);
    }
}

/// A thread that runs [`expire_tick`] every [`EXPIRE_CYCLE_INTERVAL`] until shutdown.
pub fn spawn_expiry_thread(shared: &Arc<Shared>) -> std::thread::JoinHandle<()> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("ringkv-expire".into())
        .spawn(move || {
            while !shared.shutting_down() {
                std::thread::sleep(EXPIRE_CYCLE_INTERVAL);
                expire_tick(&shared);
            }
        })
        .expect("spawn expiry thread")
}

/// Install SIGINT/SIGTERM handling: the first signal starts a graceful shutdown.
pub fn install_signal_handlers(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let mut signals =
        signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM]).context("installing signal handlers")?;
    let shared = shared.clone();
    std::thread::Builder::new().name("ringkv-signals".into()).spawn(move || {
        if let Some(sig) = signals.forever().next() {
            tracing::info!(signal = sig, "shutting down");
            shared.begin_shutdown();
        }
    })?;
    Ok(())
}

/// Serve with the configured engine until shutdown. Listeners must already be bound.
pub fn serve(shared: &Arc<Shared>, listeners: &Listeners) -> anyhow::Result<()> {
    let names: Vec<String> = listeners.list.iter().map(Listener::describe).collect();
    let engine = shared.config.engine;
    tracing::info!(
        engine = engine.name(),
        listeners = %names.join(","),
        threads = shared.config.worker_threads(),
        "ringkv {} ready",
        env!("CARGO_PKG_VERSION")
    );
    match engine {
        // io_uring runs expiry and shutdown inside its rings. If the kernel refuses io_uring
        // (old kernel, seccomp, sysctl, memlock, missing ops), log one line and use epoll.
        EngineKind::Uring => match crate::ring::serve(shared, &listeners.list) {
            Ok(()) => Ok(()),
            Err(crate::ring::ServeError::Unsupported(why)) => {
                tracing::warn!("io_uring unusable, falling back to the epoll engine: {why}");
                with_expiry_thread(shared, || engine::epoll::serve(shared, &listeners.list))
            }
            Err(crate::ring::ServeError::Failed(e)) => Err(e),
        },
        EngineKind::Epoll => with_expiry_thread(shared, || engine::epoll::serve(shared, &listeners.list)),
        EngineKind::Threads => with_expiry_thread(shared, || engine::threads::serve(shared, &listeners.list)),
    }
}

/// Run `serve` with the active-expiry thread beside it (for engines without their own timer).
fn with_expiry_thread(shared: &Arc<Shared>, serve: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let expiry = spawn_expiry_thread(shared);
    let r = serve();
    shared.begin_shutdown();
    let _ = expiry.join();
    r
}

/// Descriptors kept free for listeners, rings, eventfds, logs (Redis's
/// CONFIG_MIN_RESERVED_FDS).
pub const RESERVED_FDS: u64 = 32;

/// Like Redis's adjustOpenFilesLimit: raise the soft RLIMIT_NOFILE so `--maxclients` clients
/// fit; if the hard limit does not allow it, lower maxclients to what fits (with a warning),
/// so that the client over the limit gets `max number of clients reached` instead of the
/// server running out of descriptors.
pub fn adjust_open_files_limit(config: &mut Config) {
    let fit = fit_maxclients(config.maxclients);
    if fit < config.maxclients {
        tracing::warn!(
            maxclients = config.maxclients,
            "the open files limit is too low for maxclients; maxclients is now {fit}"
        );
        config.maxclients = fit;
    }
}

/// Raise the soft RLIMIT_NOFILE (up to the hard limit) so `wanted` clients fit; returns how
/// many clients fit now (`wanted` or fewer). Also used by CONFIG SET maxclients.
pub fn fit_maxclients(wanted: usize) -> usize {
    // Every engine holds one descriptor per client.
    let need: libc::rlim_t = (wanted as u64).saturating_add(RESERVED_FDS);
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= need {
        return wanted;
    }
    let raised = libc::rlimit { rlim_cur: need.min(lim.rlim_max), rlim_max: lim.rlim_max };
    // SAFETY: setrlimit reads the struct we pass; raising the soft limit up to the hard one
    // needs no privilege.
    let have =
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 { raised.rlim_cur } else { lim.rlim_cur };
    if have >= need {
        return wanted;
    }
    have.saturating_sub(RESERVED_FDS).max(1) as usize
}

/// Everything `ringkv-server` does: bind, install signals, serve, clean up.
pub fn run(mut config: Config) -> anyhow::Result<()> {
    adjust_open_files_limit(&mut config);
    let listeners = bind(&config)?;
    let shared = Arc::new(Shared::new(config));
    install_signal_handlers(&shared)?;
    serve(&shared, &listeners)?;
    drop(listeners);
    tracing::info!("bye");
    Ok(())
}
