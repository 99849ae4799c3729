//! Save points, saving at shutdown and stop-writes-on-bgsave-error through the real binary,
//! on every engine: a reached save point starts a BGSAVE whose file a restart loads;
//! SIGTERM and SHUTDOWN save when save points are configured, SHUTDOWN NOSAVE never,
//! SHUTDOWN SAVE always; a save that fails refuses the shutdown unless FORCE; a failed
//! BGSAVE makes writes fail with Redis's MISCONF until a save succeeds; FLUSHALL writes the
//! empty file; CONFIG GET/SET save and `save` lines in the config file.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{line_cmd, Engine, Launch, Server};

/// Redis 7.0's `shared.bgsaveerr`, as a client reads it.
const MISCONF: &str = "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Longest a save point may take to fire in these tests (`save 1 1`: just over a second).
const SAVE_POINT_WAIT: Duration = Duration::from_secs(20);

fn start(engine: Engine, dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    Launch::new(engine).args(&args).start()
}

fn call(server: &Server, line: &str) -> String {
    line_cmd(&mut server.unix(), line)
}

/// CONFIG GET `name`'s value.
fn config_get(server: &Server, name: &str) -> String {
    let got: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(&mut server.redis()).unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    got[1].clone()
}

/// Send a SHUTDOWN line; what the server sent before closing the connection.
fn shutdown(server: &Server, line: &str) -> Vec<u8> {
    use std::io::Write;
    let mut c = server.unix();
    c.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    common::read_until_closed(&mut c)
}

fn field(server: &Server, name: &str) -> String {
    common::info_field(&server.info("persistence"), name).unwrap_or_default()
}

fn wait_for(what: &str, server: &Server, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + SAVE_POINT_WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen in time\n{}", server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn save_point_triggers_a_bgsave_and_a_restart_loads_it(engine: Engine) {
    // `save 1 1`: one change, then the cron starts a BGSAVE (no command asked for it); the
    // file it writes is what the next start loads.
    let data = tempfile::tempdir().unwrap();
    let server = start(engine, data.path(), &["--save", "1 1"]);
    assert_eq!(config_get(&server, "save"), "1 1");
    assert_eq!(field(&server, "rdb_saves"), "0");
    assert_eq!(call(&server, "SET k v"), "+OK");
    assert_eq!(call(&server, "RPUSH l a b c"), ":3");
    let changes: u64 = field(&server, "rdb_changes_since_last_save").parse().unwrap();
    assert!(changes >= 2, "{changes}");
    wait_for("the save point's BGSAVE", &server, || {
        field(&server, "rdb_saves") == "1" && field(&server, "rdb_bgsave_in_progress") == "0"
    });
    assert!(data.path().join("dump.rdb").exists());
    assert_eq!(field(&server, "rdb_changes_since_last_save"), "0");
    assert_eq!(field(&server, "rdb_last_bgsave_status"), "ok");
    assert!(server.stderr().contains("1 changes in 1 seconds. Saving..."), "{}", server.stderr());
    drop(server); // SIGKILL: only the save point's file remains
    let server = start(engine, data.path(), &["--save", ""]);
    assert_eq!(call(&server, "STRLEN k"), ":1");
    assert_eq!(call(&server, "LLEN l"), ":3");
}

fn sigterm_saves_with_save_points_and_shutdown_nosave_does_not(engine: Engine) {
    // Default save points: SIGTERM writes the file before exiting; SHUTDOWN NOSAVE exits
    // without writing (the key set after the first restart is gone after the second).
    let data = tempfile::tempdir().unwrap();
    let server = start(engine, data.path(), &[]);
    assert_eq!(config_get(&server, "save"), "3600 1 300 100 60 10000");
    assert_eq!(call(&server, "SET kept 1"), "+OK");
    assert!(server.stop().success());
    assert!(data.path().join("dump.rdb").exists(), "SIGTERM with save points writes dump.rdb");
    let mut server = start(engine, data.path(), &[]);
    assert_eq!(call(&server, "EXISTS kept"), ":1");
    assert_eq!(call(&server, "SET lost 1"), "+OK");
    assert_eq!(shutdown(&server, "SHUTDOWN NOSAVE"), b"");
    assert!(server.wait_exit().is_some_and(|s| s.success()), "{}", server.stderr());
    let server = start(engine, data.path(), &["--save", ""]);
    assert_eq!(call(&server, "EXISTS kept"), ":1");
    assert_eq!(call(&server, "EXISTS lost"), ":0", "SHUTDOWN NOSAVE wrote nothing");
}

fn shutdown_save_saves_without_save_points(engine: Engine) {
    // No save points: a plain SHUTDOWN writes nothing, SHUTDOWN SAVE writes the file.
    let data = tempfile::tempdir().unwrap();
    let mut server = start(engine, data.path(), &["--save", ""]);
    assert_eq!(call(&server, "SET k 1"), "+OK");
    assert_eq!(shutdown(&server, "SHUTDOWN"), b"");
    assert!(server.wait_exit().is_some());
    assert!(!data.path().join("dump.rdb").exists(), "no save points: SHUTDOWN does not save");
    let mut server = start(engine, data.path(), &["--save", ""]);
    assert_eq!(call(&server, "SET k 2"), "+OK");
    assert_eq!(shutdown(&server, "SHUTDOWN SAVE"), b"");
    assert!(server.wait_exit().is_some());
    let server = start(engine, data.path(), &["--save", ""]);
    let got: Option<String> = redis::cmd("GET").arg("k").query(&mut server.redis()).unwrap();
    assert_eq!(got.as_deref(), Some("2"));
}

fn a_failed_save_refuses_shutdown_unless_force(engine: Engine) {
    // The directory disappears after startup, so every save fails: SHUTDOWN (save points
    // configured) and SHUTDOWN SAVE are refused with Redis's text and the server keeps
    // serving; SHUTDOWN SAVE FORCE exits anyway.
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("gone");
    std::fs::create_dir(&dir).unwrap();
    let mut server = start(engine, &dir, &["--save", "3600 1"]);
    std::fs::remove_dir(&dir).unwrap();
    let refused = "-ERR Errors trying to SHUTDOWN. Check logs.";
    assert_eq!(call(&server, "SHUTDOWN"), refused);
    assert_eq!(call(&server, "SHUTDOWN SAVE"), refused);
    assert_eq!(call(&server, "PING"), "+PONG", "still serving");
    assert_eq!(shutdown(&server, "SHUTDOWN SAVE FORCE"), b"");
    assert!(server.wait_exit().is_some_and(|s| s.success()), "{}", server.stderr());
}

fn a_failed_bgsave_stops_writes_until_a_save_succeeds(engine: Engine) {
    // stop-writes-on-bgsave-error yes (the default) with save points: after a failed BGSAVE
    // writes get MISCONF, reads work; a later good save lifts it. Without save points (or
    // with the option off) a failed BGSAVE stops nothing.
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let server = start(engine, &dir, &["--save", "3600 1"]);
    assert_eq!(call(&server, "SET k v"), "+OK");
    std::fs::remove_dir(&dir).unwrap();
    assert_eq!(call(&server, "BGSAVE"), "+Background saving started");
    wait_for("the BGSAVE to fail", &server, || field(&server, "rdb_last_bgsave_status") == "err");
    assert_eq!(call(&server, "SET k w"), MISCONF);
    assert_eq!(call(&server, "GET k"), "$1", "reads keep working");
    assert_eq!(call(&server, "CONFIG SET save \"\""), "+OK");
    assert_eq!(call(&server, "SET k w"), "+OK", "no save points: no MISCONF");
    assert_eq!(call(&server, "CONFIG SET save \"3600 1\""), "+OK");
    assert_eq!(call(&server, "DEL k"), MISCONF);
    assert_eq!(call(&server, "CONFIG SET stop-writes-on-bgsave-error no"), "+OK");
    assert_eq!(call(&server, "SET k x"), "+OK");
    assert_eq!(call(&server, "CONFIG SET stop-writes-on-bgsave-error yes"), "+OK");
    assert_eq!(call(&server, "SET k y"), MISCONF);
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(call(&server, "BGSAVE"), "+Background saving started");
    wait_for("the BGSAVE to succeed", &server, || field(&server, "rdb_last_bgsave_status") == "ok");
    assert_eq!(call(&server, "SET k z"), "+OK", "a good save lifts MISCONF");
}

fn flushall_writes_the_empty_file_with_save_points(engine: Engine) {
    // Redis 7.0: FLUSHALL with save points saves at once (an empty file) and resets the
    // change count.
    let data = tempfile::tempdir().unwrap();
    let server = start(engine, data.path(), &["--save", "3600 1"]);
    assert_eq!(call(&server, "SET k v"), "+OK");
    assert_eq!(call(&server, "FLUSHALL"), "+OK");
    assert!(data.path().join("dump.rdb").exists());
    assert_eq!(field(&server, "rdb_changes_since_last_save"), "0");
    assert_eq!(call(&server, "SET k2 v"), "+OK");
    drop(server);
    let server = start(engine, data.path(), &["--save", ""]);
    assert_eq!(call(&server, "DBSIZE"), ":0");
}

fn save_lines_in_the_config_file_accumulate(engine: Engine) {
    // `save` lines add up; CONFIG SET replaces them; errors are Redis's.
    let data = tempfile::tempdir().unwrap();
    let conf = data.path().join("s.conf");
    std::fs::write(&conf, "save 100 1\nsave 200 2\n").unwrap();
    let server = Launch::new(engine).conf(&conf).args(&["--dir", data.path().to_str().unwrap()]).start();
    assert_eq!(config_get(&server, "save"), "100 1 200 2");
    assert_eq!(call(&server, "CONFIG SET save \"30 3\""), "+OK");
    assert_eq!(config_get(&server, "save"), "30 3");
    let err = "-ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters";
    assert_eq!(call(&server, "CONFIG SET save \"30\""), err);
    assert_eq!(config_get(&server, "save"), "30 3");
}

engine_tests!(
    save_point_triggers_a_bgsave_and_a_restart_loads_it,
    sigterm_saves_with_save_points_and_shutdown_nosave_does_not,
    shutdown_save_saves_without_save_points,
    a_failed_save_refuses_shutdown_unless_force,
    a_failed_bgsave_stops_writes_until_a_save_succeeds,
    flushall_writes_the_empty_file_with_save_points,
    save_lines_in_the_config_file_accumulate,
);
