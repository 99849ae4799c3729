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
//! Replies are printed in redis-cli's TTY format when standard output is a terminal and in its
//! raw format otherwise (`--raw` / `--no-raw` override); `-3` speaks RESP3 and prints maps,
//! sets, doubles and booleans as redis-cli 7.0 does. Connection: `-h`/`-p` select TCP,
//! otherwise `-s SOCKET`, otherwise ringkv-server's default socket `/tmp/ringkv.sock`.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use ringkv::cli_help;
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
    /// Print replies in raw format even on a terminal
    #[arg(long, conflicts_with = "no_raw")]
    raw: bool,
    /// Print replies in TTY format even when not on a terminal
    #[arg(long)]
    no_raw: bool,
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
        Target::Tcp(opts.host.unwrap_or_else(|| DEFAULT_HOST.to_string()), opts.port.unwrap_or(DEFAULT_PORT))
    } else {
        Target::Unix(opts.socket.unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)))
    };
    let tty = if opts.raw || opts.no_raw { opts.no_raw } else { io::stdout().is_terminal() };
    let auth = opts.password.map(|p| vec![p.into_vec()]);
    let mut session = Session { target, auth, db: opts.db, resp3: opts.resp3, client: None };
    let result = if !opts.command.is_empty() {
        let args: Vec<Vec<u8>> = opts.command.into_iter().map(OsString::into_vec).collect();
        one_shot(&mut session, &args, tty)
    } else if io::stdin().is_terminal() {
        interactive(&mut session, tty)
    } else {
        from_stdin(&mut session, tty)
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

/// Runs the command given on the command line. Exits 0 when a reply (even an error reply)
/// was printed, 1 when the server could not be reached, as redis-cli does.
fn one_shot(session: &mut Session, args: &[Vec<u8>], tty: bool) -> io::Result<ExitCode> {
    if local_help(args)? {
        return Ok(ExitCode::SUCCESS);
    }
    if !session.connect_or_report() {
        return Ok(ExitCode::FAILURE);
    }
    let Some(reply) = session.execute(args) else {
        return Ok(ExitCode::FAILURE);
    };
    print_reply(&reply, tty)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads one command per line until end of input or QUIT/EXIT. Unlike redis-cli, which keeps
/// going without a server, exits 1 as soon as the server cannot be reached, so a script
/// notices.
fn from_stdin(session: &mut Session, tty: bool) -> io::Result<ExitCode> {
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
        if local_help(&args)? {
            continue;
        }
        match session.execute(&args) {
            Some(reply) => print_reply(&reply, tty)?,
            None => return Ok(ExitCode::FAILURE),
        }
    }
}

/// The prompt. A lost connection is retried on the next command; the session ends on
/// QUIT/EXIT, Ctrl-D or Ctrl-C.
fn interactive(session: &mut Session, tty: bool) -> io::Result<ExitCode> {
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
        if local_help(&args)? {
            continue;
        }
        if let Some(reply) = session.execute(&args) {
            print_reply(&reply, tty)?;
        }
    }
}
