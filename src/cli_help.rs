//! What `ringkv-cli` knows about commands without asking the server: `HELP` / `?` output,
//! tab completion and argument hints, from the command docs compiled into the crate
//! ([`crate::cmd::all_docs`]). Each follows redis-cli 7.0 (`cliOutputHelp`,
//! `completionCallback`, `hintsCallback` in redis-cli.c) so the output and behaviour match:
//!
//! - `HELP` prints the generic help; `HELP @group` every command of the group; `HELP word...`
//!   every command whose name starts with those words (`HELP config` lists CONFIG and its
//!   subcommands), each as redis-cli prints it, escape codes included.
//! - Completion replaces the typed prefix with the full upper-case name (`ge` → `GET`,
//!   `GEO...`; `config g` → `CONFIG GET`); after `help `, group names (`@string`) too.
//! - The hint is the syntax of the longest command matching the typed words, minus the
//!   arguments already typed (redis-cli drops one space-separated word per typed argument,
//!   stopping at the first optional `[`).

use crate::cmd::Doc;

/// One command or subcommand, as redis-cli's help table holds it.
pub struct Entry {
    /// Upper case, subcommands as `CONFIG GET`.
    pub full: String,
    pub doc: &'static Doc,
}

/// Every documented command, sorted by full name (redis-cli sorts its table so).
pub fn entries() -> Vec<Entry> {
    let mut all: Vec<Entry> = crate::cmd::all_docs()
        .map(|doc| Entry { full: doc.name.replace('|', " ").to_ascii_uppercase(), doc })
        .collect();
    all.sort_by(|a, b| a.full.cmp(&b.full));
    all
}

/// Every group name, sorted.
pub fn groups() -> Vec<&'static str> {
    let mut g: Vec<&'static str> = crate::cmd::all_docs().map(|d| d.group).collect();
    g.sort_unstable();
    g.dedup();
    g
}

/// redis-cli's `cliOutputGenericHelp`, for ringkv.
fn generic_help() -> String {
    format!(
        "ringkv-cli {}\nTo get help about ringkv commands type:\n      \"help @<group>\" to get a list of commands in <group>\n      \"help <command>\" for help on <command>\n      \"help <tab>\" to get a list of possible help topics\n      \"quit\" to exit\n\nGroups: {}\n",
        env!("CARGO_PKG_VERSION"),
        groups().join(", ")
    )
}

/// redis-cli's `cliOutputCommandHelp`.
fn command_help(out: &mut String, e: &Entry, with_group: bool) {
    let d = e.doc;
    let syntax = crate::cmd::syntax::display(d.syntax);
    out.push_str(&format!("\r\n  \x1b[1m{}\x1b[0m \x1b[90m{}\x1b[0m\r\n", e.full, syntax));
    out.push_str(&format!("  \x1b[33msummary:\x1b[0m {}\r\n", d.summary));
    out.push_str(&format!("  \x1b[33msince:\x1b[0m {}\r\n", d.since));
    if with_group {
        out.push_str(&format!("  \x1b[33mgroup:\x1b[0m {}\r\n", d.group));
    }
}

/// The output of `HELP args...` (`args` without the word HELP).
pub fn help_text(args: &[&str]) -> String {
    let Some(first) = args.first() else { return generic_help() };
    let mut out = String::new();
    for e in entries() {
        if let Some(group) = first.strip_prefix('@') {
            if group.eq_ignore_ascii_case(e.doc.group) {
                command_help(&mut out, &e, false);
            }
            continue;
        }
        let words: Vec<&str> = e.full.split(' ').collect();
        if args.len() <= words.len() && args.iter().zip(&words).all(|(a, w)| a.eq_ignore_ascii_case(w)) {
            command_help(&mut out, &e, true);
        }
    }
    out.push_str("\r\n");
    out
}

/// Is this line a local help request (`HELP ...` or `? ...`)?
pub fn is_help(first_word: &[u8]) -> bool {
    first_word.eq_ignore_ascii_case(b"help") || first_word == b"?"
}

/// Tab completions of `line`: whole-line replacements, as redis-cli offers them.
pub fn completions(line: &str) -> Vec<String> {
    let (start, with_groups) = match line.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("help ") => (5 + (line.len() - 5 - line[5..].trim_start().len()), true),
        _ => (0, false),
    };
    let typed = &line[start..];
    let matches = |name: &str| name.len() >= typed.len() && name[..typed.len()].eq_ignore_ascii_case(typed);
    let mut out: Vec<String> =
        entries().into_iter().filter(|e| matches(&e.full)).map(|e| format!("{}{}", &line[..start], e.full)).collect();
    if with_groups {
        let groups = groups().into_iter().map(|g| format!("@{g}"));
        out.extend(groups.filter(|g| matches(g)).map(|g| format!("{}{g}", &line[..start])));
    }
    out
}

/// The greyed hint after `line`, if it starts with a known command.
pub fn hint(line: &str) -> Option<String> {
    let typed = crate::args::split(line.as_bytes()).ok()?;
    if typed.is_empty() {
        return None;
    }
    let mut best: Option<(usize, Entry)> = None;
    for e in entries() {
        let words: Vec<&str> = e.full.split(' ').collect();
        let n = words.len();
        if n <= typed.len()
            && words.iter().zip(&typed).all(|(w, t)| t.eq_ignore_ascii_case(w.as_bytes()))
            && best.as_ref().is_none_or(|(m, _)| n > *m)
        {
            best = Some((n, e));
        }
    }
    let (matched, entry) = best?;
    let shown = crate::cmd::syntax::display(entry.doc.syntax);
    let mut hint = shown.as_str();
    let mut to_remove = typed.len() - matched;
    while to_remove > 0 && !hint.is_empty() {
        if hint.starts_with('[') {
            break;
        }
        if hint.starts_with(' ') {
            to_remove -= 1;
        }
        hint = &hint[1..];
    }
    let ends_with_space = line.ends_with(|c: char| c.is_ascii_whitespace());
    Some(if ends_with_space { hint.to_string() } else { format!(" {hint}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_for_a_command_a_prefix_and_a_group() {
        let get = help_text(&["get"]);
        assert_eq!(
            get,
            "\r\n  \x1b[1mGET\x1b[0m \x1b[90mkey\x1b[0m\r\n  \x1b[33msummary:\x1b[0m ".to_string()
                + crate::cmd::doc("get").unwrap().summary
                + "\r\n  \x1b[33msince:\x1b[0m 1.0.0\r\n  \x1b[33mgroup:\x1b[0m string\r\n\r\n"
        );
        let config = help_text(&["CONFIG"]);
        assert!(config.contains("\x1b[1mCONFIG\x1b[0m") && config.contains("\x1b[1mCONFIG GET\x1b[0m"), "{config}");
        let only_get = help_text(&["config", "get"]);
        assert!(only_get.contains("CONFIG GET") && !only_get.contains("CONFIG SET"), "{only_get}");
        let strings = help_text(&["@STRING"]);
        assert!(strings.contains("\x1b[1mSET\x1b[0m") && !strings.contains("group:"), "{strings}");
        assert!(!strings.contains("\x1b[1mDEL\x1b[0m"));
        assert_eq!(help_text(&["nosuch"]), "\r\n");
        assert!(help_text(&[]).contains("\"help @<group>\""));
        assert!(is_help(b"HeLp") && is_help(b"?") && !is_help(b"helpx"));
    }

    #[test]
    fn completion_gives_full_upper_case_names() {
        let ge = completions("ge");
        assert!(ge.contains(&"GET".to_string()) && ge.contains(&"GETSET".to_string()), "{ge:?}");
        assert!(ge.iter().all(|c| c.starts_with("GE")));
        assert_eq!(completions("config ge"), vec!["CONFIG GET".to_string()]);
        assert!(completions("zzz").is_empty());
        let help = completions("help @str");
        assert_eq!(help, vec!["help @string".to_string()]);
        assert!(completions("help  se").contains(&"help  SET".to_string()));
        assert!(!completions("se").iter().any(|c| c.starts_with('@')));
    }

    #[test]
    fn hints_drop_the_arguments_already_typed() {
        let set = &crate::cmd::syntax::display(crate::cmd::doc("set").unwrap().syntax);
        assert!(!set.contains('='), "COMMAND DOCS names are not shown: {set}");
        assert_eq!(hint("set").as_deref(), Some(format!(" {set}").as_str()));
        assert_eq!(hint("SET ").as_deref(), Some(set.as_str()));
        let after_key = set.split_once(' ').unwrap().1;
        assert_eq!(hint("set k").as_deref(), Some(format!(" {after_key}").as_str()));
        let after_value = after_key.split_once(' ').unwrap().1;
        assert_eq!(hint("set k v ").as_deref(), Some(after_value));
        assert!(after_value.starts_with('['), "optional arguments stay: {after_value}");
        assert_eq!(hint("set k v nx ").as_deref(), Some(after_value), "stops at the first [");
        let get = crate::cmd::syntax::display(crate::cmd::doc("config|get").unwrap().syntax);
        assert_eq!(hint("config get ").as_deref(), Some(get.as_str()), "the longest match is the subcommand");
        assert_eq!(hint("nosuch x"), None);
        assert_eq!(hint(""), None);
        assert_eq!(hint("\"unbalanced"), None);
    }
}
