//! `ringkv-cli` against a real ringkv-server on a Unix socket: one-shot commands, commands
//! piped on standard input, and connection failure. Standard output is a pipe here, so the
//! CLI prints redis-cli's raw format unless `--no-raw` is given.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Server, URING};

/// A server for the CLI to talk to (the default engine; the CLI does not care which).
fn server() -> Server {
    Server::start(URING, &[])
}

/// Runs `ringkv-cli -s <socket> <args>` with `stdin` as its standard input.
fn cli(server: &Server, args: &[&str], stdin: &[u8]) -> Output {
    run_cli(&server.sock, args, stdin)
}

/// Runs a one-shot command that must succeed and returns its standard output.
fn one_shot(server: &Server, args: &[&str]) -> String {
    let out = cli(server, args, b"");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn run_cli(socket: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringkv-cli"))
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringkv-cli");
    // The CLI may exit before reading its stdin (e.g. it cannot connect): a broken pipe here
    // is expected, and the assertions look at its output and exit status instead.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn one_shot_scalar_replies() {
    // Status, bulk, nil, integer and error replies print in raw format, one per line.
    let server = server();
    assert_eq!(one_shot(&server, &["SET", "k", "hello world"]), "OK\n");
    assert_eq!(one_shot(&server, &["GET", "k"]), "hello world\n");
    assert_eq!(one_shot(&server, &["get", "missing"]), "\n");
    assert_eq!(one_shot(&server, &["INCR", "n"]), "1\n");
    assert_eq!(one_shot(&server, &["INCRBY", "n", "-5"]), "-4\n");
    // An error reply is still a reply: printed on stdout, exit status 0 (as redis-cli).
    let out = one_shot(&server, &["NOSUCHCOMMAND", "x"]);
    assert!(out.starts_with("ERR unknown command 'NOSUCHCOMMAND'"), "{out:?}");
    assert!(out.ends_with("\n\n"), "{out:?}");
}

#[test]
fn one_shot_array_replies() {
    // MGET's array prints one element per line raw, numbered with --no-raw.
    let server = server();
    one_shot(&server, &["SET", "a", "1"]);
    one_shot(&server, &["SET", "b", "line1\nline2"]);
    assert_eq!(one_shot(&server, &["MGET", "a", "none", "b"]), "1\n\nline1\nline2\n");
    assert_eq!(
        one_shot(&server, &["--no-raw", "MGET", "a", "none", "b"]),
        "1) \"1\"\n2) (nil)\n3) \"line1\\nline2\"\n"
    );
    assert_eq!(one_shot(&server, &["--no-raw", "GET", "a"]), "\"1\"\n");
    assert_eq!(one_shot(&server, &["--no-raw", "EXISTS", "a"]), "(integer) 1\n");
}

#[test]
fn dash_3_speaks_resp3_and_prints_like_redis_cli() {
    // `-3` sends HELLO 3 first; maps, nulls and verbatim INFO print as redis-cli 7.0 -3 does
    // (TTY and raw), and without `-3` the same map is a flat array.
    let server = server();
    assert_eq!(one_shot(&server, &["-3", "SET", "a", "ohmytext"]), "OK\n");
    assert_eq!(one_shot(&server, &["-3", "SET", "b", "mynewtext"]), "OK\n");
    let config = ["CONFIG", "GET", "maxclients"];
    assert_eq!(one_shot(&server, &[&["-3", "--no-raw"][..], &config].concat()), "1# \"maxclients\" => \"10000\"\n");
    assert_eq!(one_shot(&server, &[&["-3"][..], &config].concat()), "maxclients 10000\n");
    assert_eq!(one_shot(&server, &[&["--no-raw"][..], &config].concat()), "1) \"maxclients\"\n2) \"10000\"\n");
    assert_eq!(one_shot(&server, &["-3", "--no-raw", "GET", "nokey"]), "(nil)\n");
    let lcs = one_shot(&server, &["-3", "--no-raw", "LCS", "a", "b", "IDX", "MINMATCHLEN", "4"]);
    assert_eq!(lcs, "1# \"matches\" => \n   1) 1) 1) (integer) 4\n         2) (integer) 7\n      2) 1) (integer) 5\n         2) (integer) 8\n2# \"len\" => (integer) 6\n");
    let info = one_shot(&server, &["-3", "--no-raw", "INFO", "server"]);
    let head = format!("# Server\r\nredis_version:{}\r\n", ringkv::cmd::server::REDIS_COMPAT_VERSION);
    assert!(info.starts_with(&head), "verbatim text printed as is: {info:?}");
    let hello = one_shot(&server, &["-3", "--no-raw", "HELLO"]);
    assert!(hello.contains("3# \"proto\" => (integer) 3\n"), "{hello}");
}

#[test]
fn one_shot_arguments_are_binary_safe() {
    // Arguments from argv go through unchanged: spaces, quotes, leading dashes.
    let server = server();
    let value = "-v 'quoted' \"double\" \\ end";
    assert_eq!(one_shot(&server, &["SET", "-k", value]), "OK\n");
    assert_eq!(one_shot(&server, &["GET", "-k"]), format!("{value}\n"));
}

#[test]
fn one_shot_select_with_n() {
    // -n selects the database before the command; other databases do not see the key.
    let server = server();
    assert_eq!(one_shot(&server, &["-n", "3", "SET", "k", "in3"]), "OK\n");
    assert_eq!(one_shot(&server, &["-n", "3", "GET", "k"]), "in3\n");
    assert_eq!(one_shot(&server, &["GET", "k"]), "\n");
}

#[test]
fn stdin_runs_one_command_per_line() {
    // Lines from a pipe use redis-cli quoting, skip blanks, report bad quoting, stop at EXIT.
    let server = server();
    let input = b"SET a \"hello world\"\n\
                  \n\
                  GET a\n\
                  GET \"unterminated\n\
                  SET b \"x\\x41\\ny\"\n\
                  GET b\n\
                  SELECT 2\n\
                  GET a\n\
                  exit\n\
                  SET after exit\n";
    let out = cli(&server, &[], input);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "OK\nhello world\nInvalid argument(s)\nOK\nxA\ny\nOK\n\n");
    assert_eq!(one_shot(&server, &["EXISTS", "after"]), "0\n");
}

#[test]
fn stdin_nul_byte_ends_the_line_as_in_redis_cli() {
    // sdssplitargs reads a C string: a NUL ends the line, and a quote open at the NUL is
    // unbalanced. Expected output is what redis-cli 7.0.15 printed for the same input.
    let server = server();
    let input = b"SET k1 a\0b c\nGET k1\nSET k2 \"x\0y\"\nGET k2\nSET k3 q\0\nGET k3\nECHO \"\\x00z\"\n";
    let out = cli(&server, &[], input);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"OK\na\nInvalid argument(s)\n\nOK\nq\n\0z\n");
}

#[test]
fn stdin_reads_to_end_of_input() {
    // Without EXIT, every line runs, the last one even without a trailing newline.
    let server = server();
    let out = cli(&server, &[], b"INCR n\r\nINCR n\nGET n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "1\n2\n2\n");
}

#[test]
fn connection_failure_exits_1() {
    // No server: a redis-cli style message on stderr and exit status 1, in both modes.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    for stdin in [&b""[..], b"PING\n"] {
        let args: &[&str] = if stdin.is_empty() { &["PING"] } else { &[] };
        let out = run_cli(&socket, args, stdin);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let want = format!("Could not connect to ringkv at {}: No such file or directory\n", socket.display());
        assert_eq!(stderr, want);
    }
}

/// HELP is answered locally from the compiled-in docs, in redis-cli's format, even with no
/// server to talk to (one-shot and from standard input).
#[test]
fn help_is_local_and_formatted_like_redis_cli() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no-server.sock");
    let out = run_cli(&nowhere, &["help", "get"], b"");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("\r\n  \x1b[1mGET\x1b[0m \x1b[90mkey\x1b[0m\r\n  \x1b[33msummary:\x1b[0m "), "{text:?}");
    assert!(text.ends_with("\x1b[33mgroup:\x1b[0m string\r\n\r\n"), "{text:?}");
    let out = run_cli(&nowhere, &["HELP", "@string"], b"");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\x1b[1mINCR\x1b[0m") && !text.contains("group:"), "{text:?}");
    let server = server();
    let out = cli(&server, &[], b"? config get\nGET nothing\n");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\x1b[1mCONFIG GET\x1b[0m") && !text.contains("CONFIG SET"), "{text:?}");
    assert!(text.ends_with("\r\n\r\n\n"), "then the GET reply (raw nil is an empty line): {text:?}");
}
