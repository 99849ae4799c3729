//! `ringkv-cli` against a real ringkv-server on a Unix socket: one-shot commands, commands
//! piped on standard input, connection failure, `-r`/`-i` repeat, `-x`, and the special modes
//! (`--stat`, `--latency`, `--bigkeys`, `--memkeys`, `--scan`). Standard output is a pipe
//! here, so the CLI prints redis-cli's raw format unless `--no-raw` is given. Every run is
//! bounded: modes that would run forever get `-r N` (`--stat`) or are killed once they have
//! printed what the test waits for, with a deadline.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Engine, Server, URING};

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

#[test]
fn raw_and_no_raw_last_one_wins() {
    // As redis-cli 7.0: `--raw --no-raw` prints the TTY format, `--no-raw --raw` the raw one.
    let server = server();
    one_shot(&server, &["SET", "k", "v w"]);
    assert_eq!(one_shot(&server, &["--raw", "--no-raw", "GET", "k"]), "\"v w\"\n");
    assert_eq!(one_shot(&server, &["--no-raw", "--raw", "GET", "k"]), "v w\n");
}

#[test]
fn repeat_runs_the_command_n_times_with_the_interval() {
    // `-r 3 -i 0.1`: three replies, a pause after each (so at least 0.3 s); `-r 0` runs
    // nothing and still exits 0; a typed `N CMD` line repeats too, `0 CMD` is refused.
    let server = server();
    let start = Instant::now();
    assert_eq!(one_shot(&server, &["-r", "3", "-i", "0.1", "INCR", "n"]), "1\n2\n3\n");
    assert!(start.elapsed() >= Duration::from_millis(300), "{:?}", start.elapsed());
    assert_eq!(one_shot(&server, &["-r", "0", "INCR", "n"]), "");
    assert_eq!(one_shot(&server, &["GET", "n"]), "3\n");
    let out = cli(&server, &[], b"2 INCR n\n0 INCR n\n-1 INCR n\n3\n");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let bad = "Invalid redis-cli repeat command option value.\n";
    assert!(text.starts_with(&format!("4\n5\n{bad}{bad}ERR unknown command '3'")), "{text:?}");
    assert_eq!(one_shot(&server, &["GET", "n"]), "5\n");
}

#[test]
fn dash_x_reads_the_last_argument_from_stdin() {
    // All of standard input, newlines included, becomes the last argument.
    let server = server();
    let out = cli(&server, &["-x", "SET", "k"], b"line1\nline2\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"OK\n");
    assert_eq!(one_shot(&server, &["--no-raw", "GET", "k"]), "\"line1\\nline2\\n\"\n");
    // Nothing on stdin: an empty last argument.
    assert_eq!(cli(&server, &["-x", "SET", "e"], b"").stdout, b"OK\n");
    assert_eq!(one_shot(&server, &["STRLEN", "e"]), "0\n");
}

/// `--stat -r 3`: the header, then three lines whose columns come from INFO: keys summed
/// over databases, clients, blocked, requests with the delta since the previous line.
fn stat_lines_follow_info(engine: Engine) {
    let server = Server::start(engine, &[]);
    run_ok(&server, &["MSET", "a", "1", "b", "2"]);
    run_ok(&server, &["-n", "4", "SET", "c", "3"]);
    let text = one_shot(&server, &["--stat", "-r", "3", "-i", "0.05"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0], "------- data ------ --------------------- load -------------------- - child -");
    assert_eq!(lines[1], "keys       mem      clients blocked requests            connections          ");
    let mut previous = None;
    for (i, line) in lines[2..].iter().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 7, "{line:?}");
        assert_eq!(&line[..11], "3          ", "keys column: {line:?}");
        assert!(cols[1].ends_with(['B', 'K', 'M', 'G']), "{line:?}");
        assert_eq!(cols[2], "1", "only the CLI is connected: {line:?}");
        assert_eq!(cols[3], "0", "{line:?}");
        let requests: u64 = cols[4].parse().unwrap();
        let delta: u64 = cols[5].trim_start_matches("(+").trim_end_matches(')').parse().unwrap();
        match previous {
            None => assert_eq!(delta, 0, "the first line has no delta: {line:?}"),
            Some(before) => assert_eq!(requests, before + delta, "line {i}: {line:?}"),
        }
        assert!(delta == 0 || delta >= 1);
        previous = Some(requests);
        let connections: u64 = cols[6].parse().unwrap();
        assert!(connections >= 3, "{line:?}");
    }
}

/// `--bigkeys` reports each type's biggest key and totals; `--memkeys` reports bytes from
/// MEMORY USAGE; `--pattern` limits the scan.
fn bigkeys_and_memkeys_report(engine: Engine) {
    let server = Server::start(engine, &[]);
    run_ok(&server, &["SET", "s", "hello"]);
    run_ok(&server, &["SET", "big string", "0123456789"]);
    run_ok(&server, &["RPUSH", "l", "a", "b", "c"]);
    run_ok(&server, &["SADD", "st", "a", "b"]);
    run_ok(&server, &["HSET", "h", "f", "v"]);
    run_ok(&server, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    let text = one_shot(&server, &["--bigkeys"]);
    assert!(text.starts_with("\n# Scanning the entire keyspace to find biggest keys as well as\n"), "{text}");
    let summary = &text[text.find("-------- summary -------").expect("summary")..];
    let want = "-------- summary -------\n\n\
                Sampled 6 keys in the keyspace!\n\
                Total key length in bytes is 16 (avg len 2.67)\n\n\
                Biggest string found '\"big string\"' has 10 bytes\n\
                Biggest   list found '\"l\"' has 3 items\n\
                Biggest    set found '\"st\"' has 2 members\n\
                Biggest   zset found '\"z\"' has 4 members\n\
                Biggest   hash found '\"h\"' has 1 fields\n\n\
                2 strings with 15 bytes (33.33% of keys, avg size 7.50)\n\
                1 lists with 3 items (16.67% of keys, avg size 3.00)\n\
                1 sets with 2 members (16.67% of keys, avg size 2.00)\n\
                1 zsets with 4 members (16.67% of keys, avg size 4.00)\n\
                1 hashs with 1 fields (16.67% of keys, avg size 1.00)\n\
                0 streams with 0 entries (00.00% of keys, avg size 0.00)\n";
    assert_eq!(summary, want);
    assert!(text.contains("] Biggest zset   found so far '\"z\"' with 4 members\n"), "{text}");
    // ringkv has MEMORY USAGE: --memkeys reports bytes for every type.
    let mem = one_shot(&server, &["--memkeys"]);
    assert!(!mem.contains("MEMORY USAGE is not supported"), "{mem}");
    assert!(mem.contains("Sampled 6 keys in the keyspace!"), "{mem}");
    for key in ["\"big string\"", "\"l\"", "\"st\"", "\"z\"", "\"h\""] {
        assert!(
            mem.contains(&format!("found {key} has ")) || mem.contains(&format!("found '{key}' has ")),
            "{key}: {mem}"
        );
    }
    assert!(mem.contains("1 zsets with ") && mem.contains(" bytes (16.67% of keys"), "{mem}");
    let only_s = one_shot(&server, &["--bigkeys", "--pattern", "s*"]);
    assert!(only_s.contains("Sampled 2 keys in the keyspace!\n"), "{only_s}");
}

/// `--scan` lists every key once (raw: as is; `--no-raw`: quoted), `--pattern` filters.
fn scan_lists_keys(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut want: Vec<String> = (0..30).map(|i| format!("key:{i}")).collect();
    want.push("with space".to_string());
    for key in &want {
        run_ok(&server, &["SET", key, "v"]);
    }
    let mut got: Vec<String> = one_shot(&server, &["--scan"]).lines().map(str::to_string).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let mut some: Vec<String> =
        one_shot(&server, &["--scan", "--pattern", "key:1*"]).lines().map(str::to_string).collect();
    some.sort();
    assert_eq!(
        some,
        ["key:1", "key:10", "key:11", "key:12", "key:13", "key:14", "key:15", "key:16", "key:17", "key:18", "key:19"]
    );
    assert_eq!(one_shot(&server, &["--no-raw", "--scan", "--pattern", "with*"]), "\"with space\"\n");
}

engine_tests!(stat_lines_follow_info, bigkeys_and_memkeys_report, scan_lists_keys);

#[test]
fn latency_raw_prints_one_line_then_exits() {
    // Not on a terminal: samples for the interval, prints `min max avg samples`, exits 0.
    let server = server();
    let start = Instant::now();
    let text = one_shot(&server, &["--latency", "-i", "0.2"]);
    assert!(start.elapsed() >= Duration::from_millis(200), "{:?}", start.elapsed());
    let cols: Vec<&str> = text.trim_end().split(' ').collect();
    assert_eq!(cols.len(), 4, "{text:?}");
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text:?}");
    let (min, max): (u64, u64) = (cols[0].parse().unwrap(), cols[1].parse().unwrap());
    let avg: f64 = cols[2].parse().unwrap();
    let samples: u64 = cols[3].parse().unwrap();
    assert!(min <= max && (min as f64) <= avg && avg <= max as f64, "{text:?}");
    assert!(samples >= 1 && cols[2].split('.').nth(1).map(str::len) == Some(2), "{text:?}");
}

#[test]
fn latency_history_closes_ranges() {
    // Raw --latency-history prints a line per sample and ` -- N.NN seconds range` at the end
    // of each interval; it runs until killed, so the test stops it after the first range.
    let server = server();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringkv-cli"))
        .arg("-s")
        .arg(&server.sock)
        .args(["--latency-history", "-i", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ringkv-cli");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut samples = 0;
    let range = loop {
        let line = lines.next().expect("output").expect("read");
        assert!(Instant::now() < deadline, "no range line");
        if line.starts_with(" -- ") {
            break line;
        }
        assert_eq!(line.split(' ').count(), 4, "{line:?}");
        samples += 1;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(samples >= 1, "{samples}");
    assert!(range.ends_with(" seconds range"), "{range:?}");
    let secs: f64 = range[4..].split(' ').next().unwrap().parse().unwrap();
    assert!(secs >= 0.2, "{range:?}");
}

#[test]
fn modes_without_a_server_exit_1() {
    // Like redis-cli: the connection error, exit status 1, nothing on stdout.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    for mode in ["--stat", "--latency", "--bigkeys", "--memkeys", "--scan"] {
        let out = run_cli(&socket, &[mode], b"");
        assert_eq!(out.status.code(), Some(1), "{mode}: {out:?}");
        assert!(out.stdout.is_empty(), "{mode}: {out:?}");
        assert!(String::from_utf8(out.stderr).unwrap().starts_with("Could not connect to ringkv at "), "{mode}");
    }
}

/// Runs a one-shot command whose reply must not be an error.
fn run_ok(server: &Server, args: &[&str]) {
    let out = one_shot(server, args);
    assert!(!out.starts_with("ERR") && !out.starts_with("WRONGTYPE"), "{args:?}: {out}");
}
