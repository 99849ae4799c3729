//! Tests of the config-file reader and CONFIG REWRITE's text rewrite: every error path
//! (unknown directive, bad value, wrong argument count, unbalanced quotes, include loop,
//! missing include, missing file), quoting, flags overriding the file, and rewrites that keep
//! comments and order.

use super::*;
use crate::config::{EngineKind, LogLevel};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn load_args(args: &[&str]) -> Result<Config, LoadError> {
    load(std::iter::once("ringkv-server").chain(args.iter().copied()).map(OsString::from).collect())
}

fn file_error(args: &[&str]) -> FileError {
    match load_args(args) {
        Err(LoadError::File(e)) => e,
        other => panic!("expected a file error, got {other:?}"),
    }
}

#[test]
fn a_file_sets_directives_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "r.conf",
        "# comment\n\n  PORT 7001\nrequirepass \"a b\\x41\"\nengine epoll\nslowlog-log-slower-than -1\n\
         client-output-buffer-limit pubsub 1mb 2mb 3\nloglevel warning\nunixsocket ''\n",
    );
    let c = load_args(&[conf.to_str().unwrap()]).unwrap();
    assert_eq!((c.port, c.engine, c.loglevel), (7001, EngineKind::Epoll, LogLevel::Warning));
    assert_eq!(c.requirepass.as_deref(), Some("a bA"));
    assert_eq!(c.slowlog_log_slower_than, -1);
    assert_eq!(c.client_output_buffer_limit, vec!["pubsub 1mb 2mb 3".to_string()]);
    assert_eq!(c.unixsocket, PathBuf::new());
    assert_eq!(c.config_file.as_deref(), Some(std::path::absolute(&conf).unwrap().as_path()));
    let c = load_args(&[conf.to_str().unwrap(), "--port", "7002", "--engine", "threads"]).unwrap();
    assert_eq!((c.port, c.engine), (7002, EngineKind::Threads));
    // Repeatable directives accumulate: the file's and the flags'.
    let c = load_args(&[conf.to_str().unwrap(), "--client-output-buffer-limit", "normal 1 2 3"]).unwrap();
    assert_eq!(c.client_output_buffer_limit.len(), 2);
    // No file: flags only, as before.
    assert_eq!(load_args(&["--port", "9"]).unwrap().config_file, None);
}

#[test]
fn every_error_names_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("port 1\nnosuch yes\n", "Bad directive or wrong number of arguments"),
        ("port 1 2\n", "Bad directive or wrong number of arguments"),
        ("port\n", "Bad directive or wrong number of arguments"),
        ("client-output-buffer-limit normal 0 0\n", "Bad directive or wrong number of arguments"),
        ("port seventy\n", "invalid value 'seventy' for '--port <PORT>'"),
        ("threads 0\n", "argument must be between 1 and 1024 inclusive"),
        ("engine foo\n", "invalid value 'foo' for '--engine <ENGINE>'"),
        ("client-output-buffer-limit master 1 2 3\n", "Invalid client class"),
        ("requirepass \"abc\n", "Unbalanced quotes in configuration line"),
        ("requirepass \"abc\"x\n", "Unbalanced quotes in configuration line"),
        ("include\n", "Bad directive or wrong number of arguments"),
        ("include /nonexistent/ringkv.conf\n", "can't open included config file '/nonexistent/ringkv.conf'"),
    ];
    for (i, (text, reason)) in cases.iter().enumerate() {
        let conf = write(dir.path(), &format!("bad{i}.conf"), text);
        let e = file_error(&[conf.to_str().unwrap()]);
        let line = text.lines().count();
        assert_eq!(e.line, line, "{text:?}: {e:?}");
        let shown = e.to_string();
        assert!(shown.contains("*** FATAL CONFIG FILE ERROR"), "{shown}");
        assert!(shown.contains(&format!("{}:{line}: ", conf.display())), "{text:?}: {shown}");
        assert!(shown.contains(reason), "{text:?}: {shown}");
        assert!(shown.contains(&format!(">>> '{}'", text.lines().last().unwrap().trim())), "{shown}");
    }
    let e = file_error(&["/nonexistent/ringkv.conf"]);
    assert!(e.to_string().contains("/nonexistent/ringkv.conf: can't open config file"), "{e}");
}

#[test]
fn includes_are_read_in_place_and_loops_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inner = write(dir.path(), "inner.conf", "port 7100\ntimeout 5\n");
    let outer = write(dir.path(), "outer.conf", &format!("port 7000\ninclude {}\ntimeout 6\n", inner.display()));
    let c = load_args(&[outer.to_str().unwrap()]).unwrap();
    assert_eq!((c.port, c.timeout), (7100, 6), "later lines win, includes in place");
    // An error inside an included file names that file and its line.
    let bad = write(dir.path(), "bad.conf", "# x\nbogus 1\n");
    let outer = write(dir.path(), "outer2.conf", &format!("include {}\n", bad.display()));
    let e = file_error(&[outer.to_str().unwrap()]);
    assert_eq!((e.file.as_str(), e.line), (bad.to_str().unwrap(), 2));
    // a includes b includes a.
    let a = dir.path().join("a.conf");
    let b = write(dir.path(), "b.conf", &format!("include {}\n", a.display()));
    write(dir.path(), "a.conf", &format!("port 1\ninclude {}\n", b.display()));
    let e = file_error(&[a.to_str().unwrap()]);
    assert!(e.reason.contains("include loop"), "{e}");
    assert_eq!(e.file, b.to_str().unwrap());
    // A file including itself.
    let me = dir.path().join("me.conf");
    write(dir.path(), "me.conf", &format!("include {}\n", me.display()));
    assert!(file_error(&[me.to_str().unwrap()]).reason.contains("include loop"));
}

#[test]
fn quote_round_trips_through_the_splitter() {
    for v in [&b"plain"[..], b"", b"a b", b"q\"uote", b"it's", b"back\\slash", b"#hash", b"\x00\xff\n"] {
        let line = format!("requirepass {}", quote(v));
        let words = crate::args::split(line.as_bytes()).unwrap();
        assert_eq!(words, vec![b"requirepass".to_vec(), v.to_vec()], "{line}");
    }
    assert_eq!(quote(b"512mb"), "512mb");
    assert_eq!(quote(b""), "\"\"");
}

fn cur(name: &'static str, lines: &[&str], is_default: bool) -> Current {
    Current { name, lines: lines.iter().map(|l| l.to_string()).collect(), is_default }
}

#[test]
fn rewrite_keeps_comments_and_order_replaces_and_appends() {
    let old = "# my server\nport 7000\n\n# limits\nTIMEOUT 5 \nunknown-thing here\nmaxclients 10\nmaxclients 20\n";
    let current = [
        cur("port", &["port 7000"], false),
        cur("timeout", &["timeout 9"], false),
        cur("maxclients", &["maxclients 30"], false),
        cur("requirepass", &["requirepass \"pw x\""], false),
        cur("databases", &["databases 16"], true),
        cur("client-output-buffer-limit", &["client-output-buffer-limit normal 0 0 0"], true),
    ];
    let new = rewrite_text(old, &current);
    assert_eq!(
        new,
        "# my server\nport 7000\n\n# limits\ntimeout 9\nunknown-thing here\nmaxclients 30\n\
         # Generated by CONFIG REWRITE\nrequirepass \"pw x\"\n"
    );
    // Idempotent: rewriting the rewritten text changes nothing.
    assert_eq!(rewrite_text(&new, &current), new);
    // A directive at its default that the file names keeps its line (with the value).
    let new = rewrite_text("databases 4\n", &current);
    assert!(new.starts_with("databases 16\n"), "{new}");
}

#[test]
fn write_atomically_replaces_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "r.conf", "old\n");
    write_atomically(&p, "new\n").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    assert!(write_atomically(&dir.path().join("no/such/dir.conf"), "x").is_err());
}

#[test]
fn the_shipped_ringkv_conf_parses_and_lists_every_directive() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ringkv.conf");
    let c = load_args(&[path.to_str().unwrap()]).unwrap_or_else(|e| panic!("ringkv.conf: {e:?}"));
    let text = std::fs::read_to_string(&path).unwrap();
    let named: Vec<String> = text.lines().filter_map(directive_of).collect();
    for d in directives() {
        assert!(
            named.contains(&d.name) || text.contains(&format!("# {} ", d.name)),
            "ringkv.conf does not mention {}",
            d.name
        );
    }
    // It holds the defaults: parsing it gives the same settings as no file at all.
    let defaults = Config::defaults();
    assert_eq!(format!("{:?}", Config { config_file: None, ..c }), format!("{defaults:?}"));
}

#[test]
fn save_lines_accumulate_and_an_empty_one_clears() {
    use crate::config::{save_points, SavePoint};
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "s.conf", "save 100 1\nsave 200 2 300 3\n");
    let c = load_args(&[conf.to_str().unwrap()]).unwrap();
    let sp = |seconds, changes| SavePoint { seconds, changes };
    assert_eq!(save_points(&c.save), vec![sp(100, 1), sp(200, 2), sp(300, 3)]);
    let conf = write(dir.path(), "e.conf", "save \"\"\nsave \"5 5\"\n");
    assert_eq!(save_points(&load_args(&[conf.to_str().unwrap()]).unwrap().save), vec![sp(5, 5)]);
    let conf = write(dir.path(), "n.conf", "save \"\"\n");
    assert!(save_points(&load_args(&[conf.to_str().unwrap()]).unwrap().save).is_empty());
    let conf = write(dir.path(), "b.conf", "save 1 2 3\n");
    let e = file_error(&[conf.to_str().unwrap()]);
    assert!(e.line == 1 && e.reason.ends_with("Invalid save parameters"), "{e:?}");
    let conf = write(dir.path(), "z.conf", "save\n");
    assert_eq!(file_error(&[conf.to_str().unwrap()]).reason, "Bad directive or wrong number of arguments");
}
