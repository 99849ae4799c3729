//! `ringkv-cli`: a command-line client for ringkv that behaves like `redis-cli`.
//!
//! - `ringkv-cli [opts] CMD ARG...` runs one command and prints its reply.
//! - `ringkv-cli [opts]` on a terminal is an interactive prompt with line editing and history.
//! - `ringkv-cli [opts] < file` runs one command per line of standard input.
//!
//! `HELP` / `?` (`HELP @group`, `HELP command`) are answered locally from the command docs
//! compiled into the crate, as are tab completion of command names and the greyed argument
//! hints of the prompt ([`ringkv::cli_help`]), so they work without a server.
//!
//! - `-r N -i S` repeats a one-shot command (N = -1: forever) with S seconds after each; a
//!   typed or piped `N COMMAND` line repeats too. `-x` takes the last argument from stdin.
//! - `--stat`, `--latency[-history]`, `--bigkeys` / `--memkeys`, `--scan [--pattern p]`
//!   are the special modes of [`ringkv::cli_modes`].
//!
//! Replies are printed in redis-cli's TTY format when standard output is a terminal and in its
//! raw format otherwise (`--raw` / `--no-raw` override); `-3` speaks RESP3 and prints maps,
//! sets, doubles and booleans as redis-cli 7.0 does. Connection: `-h`/`-p` select TCP,
//! otherwise `-s SOCKET`, otherwise ringkv-server's default socket `/tmp/ringkv.sock`.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser};
use ringkv::cli_help;
use ringkv::cli_modes::{bigkeys, latency, scan, stat, ModeEnd};
use ringkv::client::{write_reply, Client, Reply};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

/// ringkv-server's default Unix socket.
const DEFAULT_SOCKET: &str = "/tmp/ringkv.sock";
const DEFAULT_HOST: &str = "127.0.0.1";
/// ringkv-server's default TCP port.
const DEFAULT_PORT: u16 = 7379;
/// Interactive history, in the home directory.
const HISTORY_FILE: &str = ".ringkv_history";
/// Longest line read from a piped standard input. A longer line is an error, not an
/// unbounded allocation.
const STDIN_LINE_MAX: usize = 512 * 1024 * 1024;
/// Longest argument `-x` reads from standard input: Redis's default `proto-max-bulk-len`.
const STDIN_ARG_MAX: usize = ringkv::client::BULK_LEN_MAX;
/// redis-cli's message for a typed `N COMMAND` line whose N is not a positive count.
const BAD_REPEAT: &str = "Invalid redis-cli repeat command option value.";

/// `-i`: seconds as a decimal number; negative, NaN or too large is refused instead of
/// panicking in `Duration`.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.trim().parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{e}"))
}

#[derive(Parser)]
#[command(
    name = "ringkv-cli",
    version,
    about = "Command-line client for ringkv (redis-cli compatible)",
    disable_help_flag = true
)]
struct Opts {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Server hostname (selects TCP; default 127.0.0.1)
    #[arg(short = 'h', value_name = "HOST")]
    host: Option<String>,
    /// Server port (selects TCP; default 7379)
    #[arg(short = 'p', value_name = "PORT")]
    port: Option<u16>,
    /// Server Unix socket (default /tmp/ringkv.sock when neither -h nor -p is given)
    #[arg(short = 's', value_name = "SOCKET")]
    socket: Option<PathBuf>,
    /// Password: AUTH is sent on every connection
    #[arg(short = 'a', value_name = "PASSWORD")]
    password: Option<OsString>,
    /// Database number: SELECT is sent on every connection
    #[arg(short = 'n', value_name = "DB", default_value_t = 0)]
    db: u32,
    /// Start the session in RESP3 (HELLO 3) on every connection
    #[arg(short = '3')]
    resp3: bool,
    /// Print replies in raw format even on a terminal (the last of --raw / --no-raw wins)
    #[arg(long, overrides_with = "no_raw")]
    raw: bool,
    /// Print replies in TTY format even when not on a terminal
    #[arg(long, overrides_with = "raw")]
    no_raw: bool,
    /// Run the command N times (-1: forever)
    #[arg(short = 'r', value_name = "REPEAT", allow_negative_numbers = true)]
    repeat: Option<i64>,
    /// Wait this many seconds (0.1 works) after each repeated command; also the cycle of
    /// --stat, --scan and --latency, and the pause per 100 SCANs of --bigkeys / --memkeys
    #[arg(short = 'i', value_name = "INTERVAL", value_parser = parse_interval)]
    interval: Option<Duration>,
    /// Read the last argument from standard input
    #[arg(short = 'x')]
    stdin_arg: bool,
    /// Print rolling stats about the server: keys, mem, clients, requests, connections
    #[arg(long)]
    stat: bool,
    /// Sample PING latency; on a terminal forever, otherwise for one interval (-i, 1 s)
    #[arg(long)]
    latency: bool,
    /// Like --latency, starting a new range every interval (-i, default 15 s)
    #[arg(long)]
    latency_history: bool,
    /// Scan the keyspace for the keys with the most elements
    #[arg(long)]
    bigkeys: bool,
    /// Scan the keyspace for the keys using the most memory (MEMORY USAGE)
    #[arg(long)]
    memkeys: bool,
    /// --memkeys, asking MEMORY USAGE to sample N elements per key
    #[arg(long, value_name = "N")]
    memkeys_samples: Option<u64>,
    /// List all keys with SCAN
    #[arg(long)]
    scan: bool,
    /// Keys pattern for --scan, --bigkeys and --memkeys (default: *)
    #[arg(long, value_name = "PATTERN")]
    pattern: Option<OsString>,
    /// Command and arguments to run once; without one, commands are read from standard input
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Clone)]
enum Target {
    Unix(PathBuf),
    Tcp(String, u16),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Unix(path) => write!(f, "{}", path.display()),
            Target::Tcp(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// One logical connection: reconnects on demand, replaying AUTH and SELECT.
struct Session {
    target: Target,
    /// Arguments of the last successful AUTH (from `-a` or typed), replayed on reconnect.
    auth: Option<Vec<Vec<u8>>>,
    /// The selected database, from `-n` or the last successful SELECT.
    db: u32,
    /// `-3`: send HELLO 3 after AUTH and SELECT on every connection.
    resp3: bool,
    client: Option<Client>,
}

impl Session {
    fn connect(&mut self) -> io::Result<()> {
        self.client = None;
        let mut client = match &self.target {
            Target::Unix(path) => Client::connect_unix(path)?,
            Target::Tcp(host, port) => Client::connect_tcp(host, *port)?,
        };
        if let Some(auth) = &self.auth {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            args.extend(auth.iter().map(Vec::as_slice));
            if let Reply::Error(e) = client.command(&args)? {
                eprintln!("AUTH failed: {}", String::from_utf8_lossy(&e));
            }
        }
        if self.db != 0 {
            let db = self.db.to_string();
            if let Reply::Error(e) = client.command(&[b"SELECT", db.as_bytes()])? {
                eprintln!("SELECT {db} failed: {}", String::from_utf8_lossy(&e));
                self.db = 0;
            }
        }
        if self.resp3 {
            if let Reply::Error(e) = client.command(&[b"HELLO", b"3"])? {
                eprintln!("HELLO 3 failed: {}", String::from_utf8_lossy(&e));
            }
        }
        self.client = Some(client);
        Ok(())
    }

    fn connect_or_report(&mut self) -> bool {
        match self.connect() {
            Ok(()) => true,
            Err(e) => {
                eprintln!("Could not connect to ringkv at {}: {}", self.target, os_message(&e));
                false
            }
        }
    }

    /// Runs one command. If the connection is gone (the server restarted or closed it),
    /// reconnects once and retries, like redis-cli. `None`: no reply could be had, and the
    /// reason has been printed.
    fn execute(&mut self, args: &[Vec<u8>]) -> Option<Reply> {
        if self.client.is_none() && !self.connect_or_report() {
            return None;
        }
        let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let mut result = self.client.as_mut()?.command(&argv);
        if matches!(&result, Err(e) if is_disconnect(e)) {
            if !self.connect_or_report() {
                return None;
            }
            result = self.client.as_mut()?.command(&argv);
        }
        match result {
            Ok(reply) => {
                self.track(args, &reply);
                Some(reply)
            }
            Err(e) => {
                eprintln!("Error: {}", os_message(&e));
                self.client = None;
                None
            }
        }
    }

    /// Remembers a successful SELECT or AUTH so the prompt and reconnects follow it.
    fn track(&mut self, args: &[Vec<u8>], reply: &Reply) {
        if !matches!(reply, Reply::Status(s) if s == b"OK") {
            return;
        }
        let name = args[0].to_ascii_lowercase();
        if name == b"select" && args.len() == 2 {
            if let Some(db) = std::str::from_utf8(&args[1]).ok().and_then(|s| s.parse().ok()) {
                self.db = db;
            }
        } else if name == b"auth" && args.len() > 1 {
            self.auth = Some(args[1..].to_vec());
        }
    }

    fn prompt(&self) -> String {
        if self.client.is_none() {
            return "not connected> ".to_string();
        }
        let db = if self.db == 0 { String::new() } else { format!("[{}]", self.db) };
        match &self.target {
            Target::Unix(_) => format!("ringkv {}{db}> ", self.target),
            Target::Tcp(..) => format!("{}{db}> ", self.target),
        }
    }
}

/// Whether `e` means the connection is gone, so a reconnect and retry may help.
fn is_disconnect(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted | NotConnected | UnexpectedEof)
}

/// The error text without Rust's " (os error N)" suffix, as C's `strerror` prints it.
fn os_message(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => text[..i].to_string(),
        _ => text,
    }
}

/// QUIT or EXIT, in any case and with any arguments, ends the session locally like redis-cli.
/// Splits a typed or piped line with the server's `sdssplitargs` rules; bad quoting gives
/// redis-cli's message.
fn split_line(line: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    ringkv::args::split(line).map_err(|_| "Invalid argument(s)")
}

/// `HELP ...` / `? ...`: print the help locally (no server round trip). False for any other
/// command.
fn local_help(args: &[Vec<u8>]) -> io::Result<bool> {
    if !args.first().is_some_and(|a| cli_help::is_help(a)) {
        return Ok(false);
    }
    let words: Vec<String> = args[1..].iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut stdout = io::stdout().lock();
    stdout.write_all(cli_help::help_text(&words).as_bytes())?;
    stdout.flush()?;
    Ok(true)
}

/// The prompt's completion and hints (see [`ringkv::cli_help`]).
struct CliHelper;

impl Completer for CliHelper {
    type Candidate = Pair;
    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        if pos != line.len() {
            return Ok((pos, Vec::new()));
        }
        let pairs =
            cli_help::completions(line).into_iter().map(|c| Pair { display: c.clone(), replacement: c }).collect();
        Ok((0, pairs))
    }
}

impl Hinter for CliHelper {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        (pos == line.len()).then(|| cli_help::hint(line)).flatten()
    }
}

impl Highlighter for CliHelper {
    /// Hints in grey, as redis-cli shows them (colour 90).
    fn highlight_hint<'h>(&self, hint: &'h str) -> std::borrow::Cow<'h, str> {
        format!("\x1b[90m{hint}\x1b[0m").into()
    }
}

impl Validator for CliHelper {}
impl Helper for CliHelper {}

fn is_quit(args: &[Vec<u8>]) -> bool {
    args[0].eq_ignore_ascii_case(b"quit") || args[0].eq_ignore_ascii_case(b"exit")
}

fn print_reply(reply: &Reply, tty: bool) -> io::Result<()> {
    let mut out = Vec::new();
    write_reply(&mut out, reply, tty);
    let mut stdout = io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()
}

fn main() -> ExitCode {
    let opts = Opts::parse();
    let target = if opts.host.is_some() || opts.port.is_some() {
        Target::Tcp(opts.host.clone().unwrap_or_else(|| DEFAULT_HOST.to_string()), opts.port.unwrap_or(DEFAULT_PORT))
    } else {
        Target::Unix(opts.socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)))
    };
    // `overrides_with`: of --raw / --no-raw only the last one given is set.
    let tty = if opts.raw || opts.no_raw { opts.no_raw } else { io::stdout().is_terminal() };
    // As in redis-cli, `-i 0` is no interval at all.
    let interval = opts.interval.filter(|d| !d.is_zero());
    let auth = opts.password.clone().map(|p| vec![p.into_vec()]);
    let mut session = Session { target, auth, db: opts.db, resp3: opts.resp3, client: None };
    let result = if let Some(result) = run_mode(&mut session, &opts, tty, interval) {
        result
    } else if !opts.command.is_empty() {
        let mut args: Vec<Vec<u8>> = opts.command.iter().map(|a| a.clone().into_vec()).collect();
        // redis-cli's `-r`: -1 (any negative count) repeats forever; the default is once.
        let times = match opts.repeat {
            Some(n) if n < 0 => None,
            Some(n) => Some(n.unsigned_abs()),
            None => Some(1),
        };
        match opts.stdin_arg.then(read_stdin_arg).transpose() {
            Ok(arg) => {
                args.extend(arg);
                one_shot(&mut session, &args, tty, Repeat { times, interval })
            }
            Err(e) => Err(e),
        }
    } else if io::stdin().is_terminal() {
        interactive(&mut session, tty, interval)
    } else {
        from_stdin(&mut session, tty, interval)
    };
    match result {
        Ok(code) => code,
        // Output errors: a closed pipe (`ringkv-cli ... | head`) is not worth a message.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("Error: {}", os_message(&e));
            ExitCode::FAILURE
        }
    }
}

/// `--latency[-history]`, `--bigkeys` / `--memkeys`, `--stat` or `--scan`, in redis-cli's
/// order of precedence when several are given. `None`: no mode was asked for.
fn run_mode(session: &mut Session, opts: &Opts, tty: bool, interval: Option<Duration>) -> Option<io::Result<ExitCode>> {
    let latency = opts.latency || opts.latency_history;
    let keys = opts.bigkeys || opts.memkeys || opts.memkeys_samples.is_some();
    if !(latency || keys || opts.stat || opts.scan) {
        return None;
    }
    if !session.connect_or_report() {
        return Some(Ok(ExitCode::FAILURE));
    }
    let client = session.client.as_mut()?;
    let mut out = io::stdout().lock();
    let pattern = opts.pattern.as_ref().map(|p| p.as_bytes());
    let end = if latency {
        latency::run(client, &mut out, tty, opts.latency_history, interval)
    } else if keys {
        let memkeys = !opts.bigkeys;
        let options = bigkeys::Options { memkeys, memkeys_samples: opts.memkeys_samples, pattern, interval };
        bigkeys::run(client, &mut out, options)
    } else if opts.stat {
        // ringkv extension: `-r N` stops after N lines (redis-cli ignores -r here).
        let rows = opts.repeat.filter(|n| *n >= 0).map(i64::unsigned_abs);
        stat::run(client, &mut out, interval.unwrap_or(stat::INTERVAL_DEFAULT), rows)
    } else {
        scan::run(client, &mut out, tty, pattern, interval)
    };
    Some(end.map(|end| match end {
        ModeEnd::Ok => ExitCode::SUCCESS,
        ModeEnd::Failed => ExitCode::FAILURE,
    }))
}

/// `-x`: all of standard input, as is (a trailing newline included), as the last argument.
fn read_stdin_arg() -> io::Result<Vec<u8>> {
    let mut arg = Vec::new();
    io::stdin().lock().take(STDIN_ARG_MAX as u64 + 1).read_to_end(&mut arg)?;
    if arg.len() > STDIN_ARG_MAX {
        return Err(io::Error::other(format!("standard input longer than {STDIN_ARG_MAX} bytes")));
    }
    Ok(arg)
}

/// How often to run a command and how long to wait after each run.
#[derive(Clone, Copy)]
struct Repeat {
    /// `None`: until interrupted.
    times: Option<u64>,
    interval: Option<Duration>,
}

/// The leading `N` of a typed `N COMMAND ...` line, which redis-cli runs N times. `None`:
/// the first word is not a number; `Some(None)`: a number that is not a positive count.
fn repeat_prefix(args: &[Vec<u8>]) -> Option<Option<u64>> {
    if args.len() < 2 {
        return None;
    }
    let text = std::str::from_utf8(&args[0]).ok()?.trim_start();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<i64>().ok().filter(|&n| n > 0).map(i64::unsigned_abs))
}

/// Runs one command `repeat.times` times, printing every reply and waiting the interval after
/// each, as redis-cli's `cliSendCommand`. HELP is answered once, locally. False when no reply
/// could be had (the reason has been printed).
fn run_repeated(session: &mut Session, args: &[Vec<u8>], tty: bool, repeat: Repeat) -> io::Result<bool> {
    if local_help(args)? {
        return Ok(true);
    }
    let mut done = 0u64;
    while repeat.times.is_none_or(|n| done < n) {
        let Some(reply) = session.execute(args) else {
            return Ok(false);
        };
        print_reply(&reply, tty)?;
        done += 1;
        if let Some(interval) = repeat.interval {
            std::thread::sleep(interval);
        }
    }
    Ok(true)
}

/// Runs a typed or piped line, honouring an `N COMMAND` repeat prefix. False when the
/// server could not be reached.
fn run_line(session: &mut Session, args: &[Vec<u8>], tty: bool, interval: Option<Duration>) -> io::Result<bool> {
    let (times, args) = match repeat_prefix(args) {
        None => (1, args),
        Some(Some(n)) => (n, &args[1..]),
        Some(None) => {
            println!("{BAD_REPEAT}");
            return Ok(true);
        }
    };
    run_repeated(session, args, tty, Repeat { times: Some(times), interval })
}

/// Runs the command given on the command line (`-r` times). Exits 0 when replies (even error
/// replies) were printed, 1 when the server could not be reached, as redis-cli does.
fn one_shot(session: &mut Session, args: &[Vec<u8>], tty: bool, repeat: Repeat) -> io::Result<ExitCode> {
    if local_help(args)? {
        return Ok(ExitCode::SUCCESS);
    }
    if !session.connect_or_report() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(if run_repeated(session, args, tty, repeat)? { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Reads one command per line until end of input or QUIT/EXIT. Unlike redis-cli, which keeps
/// going without a server, exits 1 as soon as the server cannot be reached, so a script
/// notices.
fn from_stdin(session: &mut Session, tty: bool, interval: Option<Duration>) -> io::Result<ExitCode> {
    if !session.connect_or_report() {
        return Ok(ExitCode::FAILURE);
    }
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = Read::take(&mut stdin, STDIN_LINE_MAX as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(ExitCode::SUCCESS);
        }
        if line.len() == STDIN_LINE_MAX && line.last() != Some(&b'\n') {
            eprintln!("Error: input line longer than {STDIN_LINE_MAX} bytes");
            return Ok(ExitCode::FAILURE);
        }
        let args = match split_line(&line) {
            Ok(args) if args.is_empty() => continue,
            Ok(args) => args,
            Err(msg) => {
                println!("{msg}");
                continue;
            }
        };
        if is_quit(&args) {
            return Ok(ExitCode::SUCCESS);
        }
        if !run_line(session, &args, tty, interval)? {
            return Ok(ExitCode::FAILURE);
        }
    }
}

/// The prompt. A lost connection is retried on the next command; the session ends on
/// QUIT/EXIT, Ctrl-D or Ctrl-C.
fn interactive(session: &mut Session, tty: bool, interval: Option<Duration>) -> io::Result<ExitCode> {
    session.connect_or_report();
    let mut editor: Editor<CliHelper, DefaultHistory> = Editor::new().map_err(io::Error::other)?;
    editor.set_helper(Some(CliHelper));
    let history = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(HISTORY_FILE));
    if let Some(path) = &history {
        // A missing or unreadable history file only means no history.
        let _ = editor.load_history(path);
    }
    loop {
        let line = match editor.readline(&session.prompt()) {
            Ok(line) => line,
            Err(ReadlineError::Eof | ReadlineError::Interrupted) => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(io::Error::other(e)),
        };
        // Like redis-cli, keep passwords out of the history file. A line with bad quoting is
        // kept, so it can be recalled and fixed.
        let first_word = line.split_whitespace().next().unwrap_or("");
        if !first_word.is_empty() && !first_word.eq_ignore_ascii_case("auth") {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history {
                let _ = editor.save_history(path);
            }
        }
        let args = match split_line(line.as_bytes()) {
            Ok(args) if args.is_empty() => continue,
            Ok(args) => args,
            Err(msg) => {
                println!("{msg}");
                continue;
            }
        };
        if is_quit(&args) {
            return Ok(ExitCode::SUCCESS);
        }
        // A lost server has been reported; the prompt stays.
        run_line(session, &args, tty, interval)?;
    }
}
