//! The argument tree of a command, parsed from its [`super::Doc::syntax`] line (Redis's
//! documentation notation) for `COMMAND DOCS`, which redis-cli turns into `help` text and
//! inline hints. The notation:
//!
//! - `name` — an argument; its type is inferred from the name the way Redis names
//!   arguments (`key`, `newkey`, `source` → key; `count`, `seconds`, `db` → integer;
//!   `pattern` → pattern; `unix-time-*` → unix-time; the rest string);
//! - `TOKEN` (upper case) — a literal word: alone it is a `pure-token`, before an argument
//!   or a group it is that argument's `token`;
//! - `[ ... ]` optional, `< ... >` required group; `a | b` inside a group: one of;
//! - `x [x ...]` — `x` repeated (`multiple`); a group of several arguments is a `block`.
//! - `name:type` — an argument whose type its name does not tell (`timeout:double`,
//!   `stop:integer`); `type` is one of COMMAND DOCS's plain types.
//! - `name=[ ... ]` / `name=< ... >` — a group under Redis's name for it (`condition=[NX | XX]`);
//!   unnamed, a group is named after its parts (`nx_xx`) or its leading token. A named
//!   required group of one argument is a block holding it (`parameter=<parameter>`, as
//!   Redis documents CONFIG GET's repeated argument).
//!
//! The same tree gives a subcommand's arity ([`arity`]), so subcommands need no table of
//! their own.

/// An argument's type, as COMMAND DOCS names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    Oneof,
    Block,
}

impl ArgType {
    pub fn name(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Key => "key",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::Oneof => "oneof",
            ArgType::Block => "block",
        }
    }
}

/// One node of the argument tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub kind: ArgType,
    pub token: Option<String>,
    pub optional: bool,
    pub multiple: bool,
    /// Repeated together with its token (`GET pattern [GET pattern ...]`).
    pub multiple_token: bool,
    /// Children of a `oneof` or `block`.
    pub args: Vec<Arg>,
}

impl Arg {
    fn new(name: String, kind: ArgType) -> Arg {
        Arg { name, kind, token: None, optional: false, multiple: false, multiple_token: false, args: Vec::new() }
    }
    /// The flags COMMAND DOCS lists, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let all = [(self.optional, "optional"), (self.multiple, "multiple"), (self.multiple_token, "multiple_token")];
        all.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect()
    }
}

/// Longest syntax line accepted (they are compile-time constants; this bounds the parser).
const SYNTAX_LEN_MAX: usize = 1024;
/// Deepest nesting of groups accepted.
const DEPTH_MAX: usize = 16;

#[derive(Clone, Debug, PartialEq)]
enum Item {
    Word(String),
    /// `name`: given as `name=[...]`.
    Group {
        optional: bool,
        alts: Vec<Vec<Item>>,
        name: Option<String>,
    },
    Ellipsis,
}

/// The syntax line as people read it (ringkv-cli's `help` and hints): without the
/// `name=` of groups and the `:type` of arguments, which only COMMAND DOCS needs.
pub fn display(syntax: &str) -> String {
    syntax.split(' ').map(display_word).collect::<Vec<_>>().join(" ")
}

fn display_word(word: &str) -> String {
    let mut w = word.to_string();
    // `name=[` / `name=<` → `[` / `<` (a word may open several groups: `id=<client-id`).
    while let Some(eq) = w.find("=[").or_else(|| w.find("=<")) {
        let start = w[..eq].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).map_or(0, |i| i + 1);
        w.replace_range(start..eq + 1, "");
    }
    // `stop:integer]` → `stop]`.
    let end = w.find([']', '>']).unwrap_or(w.len());
    if let Some(colon) = w[..end].rfind(':') {
        if typed_word(&w[..end]).is_some() {
            w.replace_range(colon..end, "");
        }
    }
    w
}

/// Parse a command's Doc row.
pub fn parse_doc(doc: &super::Doc) -> Result<Vec<Arg>, String> {
    parse(doc.syntax)
}

/// Parse a syntax line into its top-level arguments.
pub fn parse(syntax: &str) -> Result<Vec<Arg>, String> {
    if syntax.len() > SYNTAX_LEN_MAX {
        return Err("syntax line too long".into());
    }
    let words = lex(syntax);
    let mut pos = 0;
    let alts = parse_alts(&words, &mut pos, None, 0)?;
    if alts.len() != 1 {
        return Err("'|' outside a group".into());
    }
    convert_seq(&alts[0])
}

fn lex(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    for c in s.chars() {
        match c {
            '[' | ']' | '<' | '>' | '|' => {
                flush(&mut cur, &mut out);
                out.push(c.to_string());
            }
            c if c.is_whitespace() => flush(&mut cur, &mut out),
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// Items up to `close` (or the end), split at `|`.
fn parse_alts(w: &[String], pos: &mut usize, close: Option<&str>, depth: usize) -> Result<Vec<Vec<Item>>, String> {
    if depth > DEPTH_MAX {
        return Err("groups nested too deep".into());
    }
    let mut alts = vec![Vec::new()];
    while *pos < w.len() {
        let t = w[*pos].as_str();
        *pos += 1;
        let item = match t {
            "|" => {
                alts.push(Vec::new());
                continue;
            }
            "]" | ">" if Some(t) == close => return Ok(alts),
            "]" | ">" => return Err(format!("unexpected '{t}'")),
            "[" | "<" => group(w, pos, t, None, depth)?,
            word if word.ends_with('=') && matches!(w.get(*pos).map(String::as_str), Some("[" | "<")) => {
                let open = w[*pos].as_str();
                *pos += 1;
                group(w, pos, open, Some(word[..word.len() - 1].to_string()), depth)?
            }
            "..." => Item::Ellipsis,
            word => Item::Word(word.to_string()),
        };
        alts.last_mut().expect("never empty").push(item);
    }
    match close {
        Some(c) => Err(format!("missing '{c}'")),
        None => Ok(alts),
    }
}

/// The group opened by `open` (already consumed), named `name` if given.
fn group(w: &[String], pos: &mut usize, open: &str, name: Option<String>, depth: usize) -> Result<Item, String> {
    let closer = if open == "[" { "]" } else { ">" };
    Ok(Item::Group { optional: open == "[", alts: parse_alts(w, pos, Some(closer), depth + 1)?, name })
}

/// `name:type` → the name and the type, for the plain types COMMAND DOCS names.
fn typed_word(word: &str) -> Option<(&str, ArgType)> {
    const PLAIN: &[ArgType] =
        &[ArgType::String, ArgType::Integer, ArgType::Double, ArgType::Key, ArgType::Pattern, ArgType::UnixTime];
    let (name, ty) = word.rsplit_once(':')?;
    PLAIN.iter().find(|t| t.name() == ty).map(|t| (name, *t))
}

fn is_token(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_uppercase()) && !word.chars().any(|c| c.is_ascii_lowercase())
}

/// A sequence of items → arguments, attaching tokens and folding `x [x ...]` repetitions.
fn convert_seq(items: &[Item]) -> Result<Vec<Arg>, String> {
    let mut out: Vec<Arg> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        match &items[i] {
            Item::Ellipsis => return Err("'...' outside a repetition".into()),
            Item::Word(w) if is_token(w) => {
                let attach = match items.get(i + 1) {
                    Some(Item::Word(next)) => !is_token(next),
                    Some(Item::Group { .. }) => !is_repetition(&items[i + 1]),
                    _ => false,
                };
                if attach {
                    let mut arg = convert_seq(&items[i + 1..i + 2])?.pop().ok_or("empty group")?;
                    arg.token = Some(w.clone());
                    out.push(arg);
                    i += 2;
                    continue;
                }
                let mut arg = Arg::new(w.to_ascii_lowercase(), ArgType::PureToken);
                arg.token = Some(w.clone());
                out.push(arg);
            }
            Item::Word(w) => match typed_word(w) {
                Some((name, kind)) => out.push(Arg::new(name.to_string(), kind)),
                None => out.push(Arg::new(w.clone(), infer_type(w))),
            },
            Item::Group { optional, alts, name } => {
                if is_repetition(&items[i]) {
                    fold_repetition(&mut out, &alts[0])?;
                    if let (Some(name), Some(last)) = (name, out.last_mut()) {
                        last.name = name.clone();
                    }
                } else {
                    let mut arg = convert_group(alts)?;
                    let single = !matches!(arg.kind, ArgType::Block | ArgType::Oneof);
                    if name.is_some() && !*optional && single {
                        arg = block(vec![arg]);
                    }
                    arg.optional |= *optional;
                    if let Some(name) = name {
                        arg.name = name.clone();
                    }
                    out.push(arg);
                }
            }
        }
        i += 1;
    }
    Ok(out)
}

/// `[x ...]`: a one-alternative group ending in `...`.
fn is_repetition(item: &Item) -> bool {
    matches!(item, Item::Group { alts, .. } if alts.len() == 1 && alts[0].last() == Some(&Item::Ellipsis))
}

/// `x [x ...]`: mark the previous argument(s) as repeated.
fn fold_repetition(out: &mut Vec<Arg>, inner: &[Item]) -> Result<(), String> {
    let repeated = convert_seq(&inner[..inner.len() - 1])?;
    let n = repeated.len();
    // `TOKEN x [x ...]` (e.g. `WEIGHTS weight [weight ...]`): the token is given once.
    let same_but_token = n == 1
        && out.last().is_some_and(|last| last.token.is_some() && Arg { token: None, ..last.clone() } == repeated[0]);
    if n == 0 || out.len() < n || (out[out.len() - n..] != repeated[..] && !same_but_token) {
        return Err("'[x ...]' does not repeat what precedes it".into());
    }
    if same_but_token {
        let mut arg = out.pop().expect("checked");
        arg.multiple = true;
        out.push(arg);
        return Ok(());
    }
    let mut arg = if n == 1 {
        out.pop().expect("checked")
    } else {
        let args = out.split_off(out.len() - n);
        block(args)
    };
    arg.multiple = true;
    arg.multiple_token = arg.token.is_some() && arg.kind != ArgType::PureToken;
    out.push(arg);
    Ok(())
}

/// A group: one alternative → its argument (or a block); several → a oneof.
fn convert_group(alts: &[Vec<Item>]) -> Result<Arg, String> {
    if alts.len() == 1 {
        return convert_alternative(&alts[0]);
    }
    let args = alts.iter().map(|a| convert_alternative(a)).collect::<Result<Vec<_>, _>>()?;
    let name = args.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join("_");
    let mut arg = Arg::new(name, ArgType::Oneof);
    arg.args = args;
    Ok(arg)
}

/// One alternative: a single argument, or a block (named by its leading token if any).
fn convert_alternative(items: &[Item]) -> Result<Arg, String> {
    let mut args = convert_seq(items)?;
    if args.len() == 1 {
        return Ok(args.pop().expect("one"));
    }
    if let [Item::Word(t), rest @ ..] = items {
        if is_token(t) && rest.len() > 1 {
            let mut arg = Arg::new(t.to_ascii_lowercase(), ArgType::Block);
            arg.token = Some(t.clone());
            arg.args = convert_seq(rest)?;
            return Ok(arg);
        }
    }
    match args.len() {
        0 => Err("empty group".into()),
        _ => Ok(block(args)),
    }
}

fn block(args: Vec<Arg>) -> Arg {
    let name = args.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join("_");
    let mut arg = Arg::new(name, ArgType::Block);
    arg.args = args;
    arg
}

/// An argument's type from its name, following Redis's naming.
fn infer_type(name: &str) -> ArgType {
    const INTEGERS: &[&str] = &[
        "count",
        "numkeys",
        "seconds",
        "milliseconds",
        "offset",
        "start",
        "end",
        "db",
        "destination-db",
        "index",
        "index1",
        "index2",
        "increment",
        "decrement",
        "timeout",
        "len",
        "min-match-len",
        "cursor",
        "port",
        "numargs",
        "protover",
        "number-of-replicas",
        "value-int",
    ];
    let numbered_key = name.starts_with("key") && name[3..].bytes().all(|b| b.is_ascii_digit());
    let key = name.ends_with("key") && name != "numkeys" || numbered_key || name == "source" || name == "destination";
    if key {
        ArgType::Key
    } else if INTEGERS.contains(&name) {
        ArgType::Integer
    } else if name == "pattern" {
        ArgType::Pattern
    } else if name.starts_with("unix-time") {
        ArgType::UnixTime
    } else if name == "float" || name == "score" || name.ends_with("-double") {
        ArgType::Double
    } else {
        ArgType::String
    }
}

/// Redis arity of a (sub)command with this argument tree: `words` fixed words (1 for a
/// command, 2 for `parent sub`) plus the required arguments; negative if anything is
/// optional or repeated.
pub fn arity(words: usize, args: &[Arg]) -> i32 {
    let (min, variable) = required(args);
    let n = (words + min) as i32;
    if variable {
        -n
    } else {
        n
    }
}

/// (least number of words, whether more are possible) for a sequence of arguments.
fn required(args: &[Arg]) -> (usize, bool) {
    let mut min = 0;
    let mut variable = false;
    for a in args {
        let token = usize::from(a.token.is_some() && a.kind != ArgType::PureToken);
        let (own, own_var) = match a.kind {
            ArgType::Block => required(&a.args),
            ArgType::Oneof => {
                let each: Vec<(usize, bool)> = a.args.iter().map(|c| required(std::slice::from_ref(c))).collect();
                let least = each.iter().map(|e| e.0).min().unwrap_or(0);
                (least, each.iter().any(|e| e.1 || e.0 != least))
            }
            _ => (1, false),
        };
        variable |= a.optional || a.multiple || own_var;
        if !a.optional {
            min += own + token;
        }
    }
    (min, variable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(args: &[Arg]) -> Vec<(&str, &str)> {
        args.iter().map(|a| (a.name.as_str(), a.kind.name())).collect()
    }

    #[test]
    fn names_and_types_can_be_given() {
        // ZADD and ZUNIONSTORE as Redis 7.0's COMMAND DOCS names and types their arguments.
        let args = parse("key condition=[NX | XX] change=[CH] min:double AGGREGATE aggregate=<SUM | MAX>").unwrap();
        assert_eq!(
            names(&args),
            [
                ("key", "key"),
                ("condition", "oneof"),
                ("change", "pure-token"),
                ("min", "double"),
                ("aggregate", "oneof")
            ]
        );
        assert!(args[1].optional && args[2].optional && !args[4].optional);
        assert_eq!(args[4].token.as_deref(), Some("AGGREGATE"));
        let weights = parse("[WEIGHTS weight:integer [weight:integer ...]]").unwrap();
        assert_eq!((weights[0].kind, weights[0].multiple, weights[0].optional), (ArgType::Integer, true, true));
        let get = parse("parameter=<parameter> [parameter=<parameter> ...]").unwrap();
        assert_eq!((get.len(), get[0].kind, get[0].multiple), (1, ArgType::Block, true));
        assert_eq!(names(&get[0].args), [("parameter", "string")]);
        assert_eq!(
            display("key condition=[NX | XX] min:double [ID id=<client-id:integer [client-id:integer ...]>] ip:port"),
            "key [NX | XX] min [ID <client-id [client-id ...]>] ip:port"
        );
        // Not a type: `ip:port` stays one string argument.
        assert_eq!(names(&parse("ip:port").unwrap()), [("ip:port", "string")]);
        assert_eq!(arity(1, &parse("key value:integer").unwrap()), 3);
    }

    #[test]
    fn set_syntax_parses_into_redis_shapes() {
        let args = parse("key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]").unwrap();
        assert_eq!(
            names(&args),
            [
                ("key", "key"),
                ("value", "string"),
                ("nx_xx", "oneof"),
                ("get", "pure-token"),
                ("seconds_milliseconds_unix-time-seconds_unix-time-milliseconds_keepttl", "oneof")
            ]
        );
        assert!(args[2].optional && args[3].optional && !args[0].optional);
        assert_eq!(args[2].args[0].token.as_deref(), Some("NX"));
        let ex = &args[4].args[0];
        assert_eq!((ex.name.as_str(), ex.kind, ex.token.as_deref()), ("seconds", ArgType::Integer, Some("EX")));
        assert_eq!(args[4].args[2].kind, ArgType::UnixTime);
        assert_eq!(arity(1, &args), -3);
    }

    #[test]
    fn repetitions_become_multiple_and_blocks() {
        let mset = parse("key value [key value ...]").unwrap();
        assert_eq!(names(&mset), [("key_value", "block")]);
        assert!(mset[0].multiple && !mset[0].optional);
        assert_eq!(names(&mset[0].args), [("key", "key"), ("value", "string")]);
        assert_eq!(arity(1, &mset), -3);
        let del = parse("key [key ...]").unwrap();
        assert!(del[0].multiple);
        assert_eq!(arity(1, &del), -2);
        let info = parse("[command-name [command-name ...]]").unwrap();
        assert!(info[0].optional && info[0].multiple);
        assert_eq!(arity(2, &info), -2);
        let sort = parse("key [GET pattern [GET pattern ...]]").unwrap();
        assert!(sort[1].multiple && sort[1].multiple_token && sort[1].optional);
    }

    #[test]
    fn tokens_before_groups_and_blocks() {
        let list = parse("[FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]").unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].kind, list[0].token.as_deref(), list[0].optional),
            (ArgType::Oneof, Some("FILTERBY"), true)
        );
        assert_eq!(names(&list[0].args), [("module-name", "string"), ("category", "string"), ("pattern", "pattern")]);
        assert_eq!(arity(2, &list), -2);
        let bitcount = parse("key [start end [BYTE | BIT]]").unwrap();
        assert_eq!(names(&bitcount), [("key", "key"), ("start_end_byte_bit", "block")]);
        assert_eq!(names(&bitcount[1].args), [("start", "integer"), ("end", "integer"), ("byte_bit", "oneof")]);
        let scan = parse("cursor [MATCH pattern] [COUNT count] [TYPE type]").unwrap();
        assert_eq!(scan[1].token.as_deref(), Some("MATCH"));
        let limit = parse("key [LIMIT offset count]").unwrap();
        assert_eq!((limit[1].name.as_str(), limit[1].kind), ("limit", ArgType::Block));
        assert_eq!(arity(1, &parse("").unwrap()), 1);
        assert_eq!(arity(2, &parse("parameter value [parameter value ...]").unwrap()), -4);
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in ["[a", "a]", "a | b", "<a", "a [b ...]", "[...]", "[]"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
