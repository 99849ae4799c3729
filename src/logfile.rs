//! `--logfile`: the log written to a file that can be reopened, so logrotate can move the
//! file away and send SIGHUP (the server's signal thread calls [`reopen`]). Writes append
//! (`O_APPEND`), one formatted event per write under a mutex that only a reopen contends.
//!
//! The process has at most one log file, so it lives in a process-wide slot set once by
//! `ringkv-server`'s `main` before logging starts.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// An open log file and the path to reopen.
pub struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

static LOG: OnceLock<Arc<LogFile>> = OnceLock::new();

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogFile {
    /// Open `path` for appending (created if missing).
    pub fn open(path: &Path) -> io::Result<Arc<LogFile>> {
        Ok(Arc::new(LogFile { path: path.to_path_buf(), file: Mutex::new(open_append(path)?) }))
    }

    /// Open the file again at its path (after logrotate moved it); on failure the old file
    /// stays in use.
    pub fn reopen(&self) -> io::Result<()> {
        let fresh = open_append(&self.path)?;
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// A writer for one log event (`tracing_subscriber`'s `MakeWriter` takes a closure
    /// returning this).
    pub fn writer(self: &Arc<Self>) -> LogWriter {
        LogWriter(self.clone())
    }
}

/// Writes to the current file of a [`LogFile`].
pub struct LogWriter(Arc<LogFile>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.file.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Make `log` the process's log file (for [`reopen`]). The first call wins.
pub fn install(log: Arc<LogFile>) {
    let _ = LOG.set(log);
}

/// Reopen the process's log file. `Ok(false)` when logging goes to standard error.
pub fn reopen() -> io::Result<bool> {
    match LOG.get() {
        Some(log) => log.reopen().map(|()| true),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_follows_the_path_after_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringkv.log");
        let log = LogFile::open(&path).unwrap();
        log.writer().write_all(b"one\n").unwrap();
        std::fs::rename(&path, dir.path().join("ringkv.log.1")).unwrap();
        log.writer().write_all(b"two\n").unwrap(); // still into the moved file
        log.reopen().unwrap();
        log.writer().write_all(b"three\n").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("ringkv.log.1")).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
    }
}
