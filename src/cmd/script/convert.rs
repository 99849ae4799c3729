//! Type conversions between Redis replies and Lua values, exactly as Redis 7.0's
//! `script_lua.c` does them (`redisProtocolToLuaType` and `luaReplyToRedisReply`).
//!
//! Redis → Lua: a command called from a script writes its reply into a scratch
//! [`reply::Out`] in the script's protocol (`redis.setresp`), and [`reply_to_lua`] parses
//! those bytes: integer → number, bulk → string, null bulk / null array → `false` (RESP2) or
//! `nil` (RESP3 null), status → `{ok=...}`, error → `{err=...}`, array → table; RESP3 map →
//! `{map={...}}`, set → `{set={k=true}}`, double → `{double=n}`, boolean → `true`/`false`,
//! big number → `{big_number="..."}`, verbatim → `{verbatim_string={format=, string=}}`.
//!
//! Lua → Redis: [`lua_to_reply`] writes the script's result: string → bulk, number →
//! integer (truncated), boolean → `:1` / null (RESP2 script) or a boolean (RESP3 script),
//! table with `err` / `ok` / `double` / `big_number` / `verbatim_string` / `map` / `set`
//! fields → that reply (checked in that order, as Redis),
//! other tables → array up to the first nil, anything else → null.

use mlua::{Lua, Table, Value};

use crate::reply::{self, Out};

/// Deepest nesting converted either way, and by the bundled libraries. Redis stops at the
/// Lua C stack limit ("reached lua stack limit", LUAI_MAXCCALLS = 200 C levels); the bound
/// keeps a hostile reply or table from exhausting a worker's native stack (2 MiB threads,
/// unoptimised builds included).
pub const NESTING_MAX: usize = 128;

/// Most elements pre-allocated for one aggregate from the count a reply announces (the
/// table still grows past it as elements arrive).
const PREALLOC_MAX: usize = 1024;

/// Convert one encoded reply (complete, as a command handler wrote it) to a Lua value.
/// Returns the value and whether the reply was an error (the value is then `{err=...}`).
pub fn reply_to_lua(lua: &Lua, bytes: &[u8]) -> mlua::Result<(Value, bool)> {
    let mut p = Parser { lua, buf: bytes, pos: 0 };
    let is_error = bytes.first() == Some(&b'-');
    let v = p.value(0)?;
    Ok((v, is_error))
}

struct Parser<'a> {
    lua: &'a Lua,
    buf: &'a [u8],
    pos: usize,
}

fn bad() -> mlua::Error {
    mlua::Error::RuntimeError("malformed reply from a command called by a script".into())
}

impl Parser<'_> {
    fn line(&mut self) -> mlua::Result<&[u8]> {
        let rest = &self.buf[self.pos..];
        let end = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        self.pos += end + 2;
        Ok(&rest[..end])
    }

    fn int(line: &[u8]) -> mlua::Result<i64> {
        crate::args::parse_i64(line).ok_or_else(bad)
    }

    fn blob(&mut self, len: i64) -> mlua::Result<&[u8]> {
        let len = usize::try_from(len).map_err(|_| bad())?;
        let start = self.pos;
        if self.buf.len() < start + len + 2 {
            return Err(bad());
        }
        self.pos += len + 2;
        Ok(&self.buf[start..start + len])
    }

    fn tagged(&self, field: &str, v: impl mlua::IntoLua) -> mlua::Result<Value> {
        let t = self.lua.create_table_with_capacity(0, 1)?;
        t.raw_set(field, v)?;
        Ok(Value::Table(t))
    }

    fn value(&mut self, depth: usize) -> mlua::Result<Value> {
        if depth > NESTING_MAX || self.pos >= self.buf.len() {
            return Err(bad());
        }
        let kind = self.buf[self.pos];
        self.pos += 1;
        let lua = self.lua;
        let line = self.line()?.to_vec();
        match kind {
            b':' => Ok(Value::Number(Self::int(&line)? as f64)),
            b'$' if line == b"-1" => Ok(Value::Boolean(false)),
            b'*' if line == b"-1" => Ok(Value::Boolean(false)),
            b'$' => {
                let n = Self::int(&line)?;
                let s = lua.create_string(self.blob(n)?)?;
                Ok(Value::String(s))
            }
            b'+' => self.tagged("ok", lua.create_string(&line)?),
            b'-' => self.tagged("err", lua.create_string(error_text(&line))?),
            b'*' | b'~' | b'>' => {
                let n = Self::int(&line)?.max(0) as usize;
                let t = lua.create_table_with_capacity(n.min(PREALLOC_MAX), 0)?;
                for i in 1..=n {
                    let v = self.value(depth + 1)?;
                    if kind == b'~' {
                        t.raw_set(v, true)?;
                    } else {
                        t.raw_seti(i, v)?;
                    }
                }
                if kind == b'~' {
                    return self.tagged("set", t);
                }
                Ok(Value::Table(t))
            }
            b'%' => {
                let n = Self::int(&line)?.max(0) as usize;
                let t = lua.create_table_with_capacity(0, n.min(PREALLOC_MAX))?;
                for _ in 0..n {
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    t.raw_set(k, v)?;
                }
                self.tagged("map", t)
            }
            b'_' => Ok(Value::Nil),
            b'#' => Ok(Value::Boolean(line == b"t")),
            b',' => {
                let text = std::str::from_utf8(&line).map_err(|_| bad())?;
                let v = crate::cmd::parse_f64(text.as_bytes()).ok_or_else(bad)?;
                self.tagged("double", v)
            }
            b'(' => self.tagged("big_number", lua.create_string(&line)?),
            b'=' => {
                let n = Self::int(&line)?;
                let body = self.blob(n)?;
                let (format, text) = if body.len() >= 4 { (&body[..3], &body[4..]) } else { (&b"txt"[..], body) };
                let t = lua.create_table_with_capacity(0, 2)?;
                t.raw_set("format", lua.create_string(format)?)?;
                t.raw_set("string", lua.create_string(text)?)?;
                self.tagged("verbatim_string", t)
            }
            _ => Err(bad()),
        }
    }
}

/// The `err` field Redis stores for an error reply `-CODE msg` (its `luaPushErrorBuff`):
/// the code and the message, or `ERR` and the whole text when there is no space.
pub fn error_text(line: &[u8]) -> Vec<u8> {
    match line.iter().position(|&b| b == b' ') {
        Some(_) => line.to_vec(),
        None => [&b"ERR "[..], line].concat(),
    }
}

/// Write a script's result `v` as a reply. `resp3_script`: the script called
/// `redis.setresp(3)` (booleans are then real booleans rather than `:1` / null).
pub fn lua_to_reply(out: &mut Out, v: &Value, resp3_script: bool, depth: usize) {
    match v {
        Value::String(s) => reply::bulk(out, &s.as_bytes()),
        Value::Integer(i) => reply::integer(out, *i),
        Value::Number(n) => reply::integer(out, number_to_i64(*n)),
        Value::Boolean(b) if resp3_script => reply::boolean(out, *b),
        Value::Boolean(true) => reply::integer(out, 1),
        Value::Table(t) if depth < NESTING_MAX => table_to_reply(out, t, resp3_script, depth),
        Value::Table(_) => reply::error(out, "ERR reached lua stack limit"),
        _ => reply::null(out),
    }
}

/// Lua's `(long long)` cast of a double as Redis does it (`lua_tointeger` on x86-64:
/// truncation, out-of-range and NaN give i64::MIN).
fn number_to_i64(n: f64) -> i64 {
    if n.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// `text` with CR and LF made spaces (Redis's `sdsmapchars(.., "\r\n", "  ", 2)`), so a
/// one-line reply cannot break the protocol's framing.
fn no_crlf(text: &[u8]) -> Vec<u8> {
    text.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect()
}

fn table_to_reply(out: &mut Out, t: &Table, resp3_script: bool, depth: usize) {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        let text = String::from_utf8_lossy(&e.as_bytes()).into_owned();
        out.push(b'-');
        out.extend_from_slice(&no_crlf(text.as_bytes()));
        out.extend_from_slice(b"\r\n");
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        return reply::simple(out, &no_crlf(&s.as_bytes()));
    }
    if let Ok(d) = t.raw_get::<Value>("double") {
        if let Some(n) = d.as_number().or_else(|| d.as_integer().map(|i| i as f64)) {
            return reply::double(out, n);
        }
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        return big_number(out, &no_crlf(&s.as_bytes()));
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(format)), Ok(Value::String(text))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            // Redis's addReplyVerbatim: the format's first three bytes, up to a NUL, padded
            // with spaces.
            let mut ext = [b' '; 3];
            for (to, &from) in ext.iter_mut().zip(format.as_bytes().iter().take_while(|&&b| b != 0)) {
                *to = from;
            }
            return reply::verbatim(out, &ext, &text.as_bytes());
        }
    }
    // Aggregates are counted in a first pass and converted in a second, one element at a
    // time: every Lua value held from Rust takes a slot of mlua's reference stack, which
    // has under 8 000 (LUAI_MAXCSTACK), and running out panics. A table of 10 000 strings
    // must not be 10 000 values held at once.
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        reply::map(out, m.pairs::<Value, Value>().filter(Result::is_ok).count());
        for (k, v) in m.pairs::<Value, Value>().filter_map(Result::ok) {
            lua_to_reply(out, &k, resp3_script, depth + 1);
            lua_to_reply(out, &v, resp3_script, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        reply::set(out, s.pairs::<Value, Value>().filter(Result::is_ok).count());
        for (k, _) in s.pairs::<Value, Value>().filter_map(Result::ok) {
            lua_to_reply(out, &k, resp3_script, depth + 1);
        }
        return;
    }
    // An array stops at the first nil, as Redis's.
    let len = (1..).take_while(|&i| !matches!(t.raw_get::<Value>(i), Ok(Value::Nil) | Err(_))).count();
    reply::array(out, len);
    for i in 1..=len {
        let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
        lua_to_reply(out, &v, resp3_script, depth + 1);
    }
}

/// `(n` in RESP3, a bulk in RESP2 (Redis's `addReplyBigNum`).
fn big_number(out: &mut Out, digits: &[u8]) {
    if out.resp3() {
        out.push(b'(');
        out.extend_from_slice(digits);
        out.extend_from_slice(b"\r\n");
    } else {
        reply::bulk(out, digits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Proto;

    fn roundtrip(lua: &Lua, bytes: &[u8], proto: Proto) -> Vec<u8> {
        let (v, _) = reply_to_lua(lua, bytes).expect("parse");
        let mut out = Out::with_proto(proto);
        lua_to_reply(&mut out, &v, proto == Proto::Resp3, 0);
        out.take()
    }

    #[test]
    fn resp2_replies_survive_the_round_trip_as_redis_converts_them() {
        let lua = Lua::new();
        let p = Proto::Resp2;
        assert_eq!(roundtrip(&lua, b":42\r\n", p), b":42\r\n");
        assert_eq!(roundtrip(&lua, b"$3\r\nabc\r\n", p), b"$3\r\nabc\r\n");
        assert_eq!(roundtrip(&lua, b"+OK\r\n", p), b"+OK\r\n");
        assert_eq!(roundtrip(&lua, b"-WRONGTYPE x\r\n", p), b"-WRONGTYPE x\r\n");
        assert_eq!(roundtrip(&lua, b"-NOSPACE\r\n", p), b"-ERR NOSPACE\r\n");
        // The null bulk becomes false, and false goes back as a null.
        assert_eq!(roundtrip(&lua, b"$-1\r\n", p), b"$-1\r\n");
        // Arrays stop at the first nil: none here since nulls are false.
        assert_eq!(roundtrip(&lua, b"*3\r\n:1\r\n$-1\r\n:3\r\n", p), b"*3\r\n:1\r\n$-1\r\n:3\r\n");
    }

    #[test]
    fn resp3_types_become_tagged_tables() {
        let lua = Lua::new();
        let p = Proto::Resp3;
        assert_eq!(roundtrip(&lua, b"%1\r\n$1\r\na\r\n:1\r\n", p), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(roundtrip(&lua, b"~1\r\n$1\r\na\r\n", p), b"~1\r\n$1\r\na\r\n");
        assert_eq!(roundtrip(&lua, b",3.5\r\n", p), b",3.5\r\n");
        assert_eq!(roundtrip(&lua, b"#t\r\n", p), b"#t\r\n");
        assert_eq!(roundtrip(&lua, b"_\r\n", p), b"_\r\n");
        assert_eq!(roundtrip(&lua, b"(123\r\n", p), b"(123\r\n");
        assert_eq!(roundtrip(&lua, b"=7\r\ntxt:abc\r\n", p), b"=7\r\ntxt:abc\r\n");
        // The same verbatim string reaches a RESP2 client as a bulk.
        assert_eq!(roundtrip(&lua, b"=7\r\ntxt:abc\r\n", Proto::Resp2), b"$3\r\nabc\r\n");
    }

    #[test]
    fn tagged_tables_a_script_returns_reply_as_redis_writes_them() {
        let lua = Lua::new();
        let reply = |script: &str, proto: Proto| {
            let v: Value = lua.load(script).eval().expect("eval");
            let mut out = Out::with_proto(proto);
            lua_to_reply(&mut out, &v, false, 0);
            out.take()
        };
        let p = Proto::Resp3;
        assert_eq!(reply("return {verbatim_string={format='md', string='x'}}", p), b"=5\r\nmd :x\r\n");
        assert_eq!(reply("return {verbatim_string={format='text', string='x'}}", p), b"=5\r\ntex:x\r\n");
        assert_eq!(reply("return {verbatim_string={format='txt', string='x'}}", Proto::Resp2), b"$1\r\nx\r\n");
        // Without both fields as strings, the table is an array (Redis falls through too).
        assert_eq!(reply("return {verbatim_string={format='txt'}}", p), b"*0\r\n");
        // A big number cannot break the reply's framing: CR and LF become spaces, as Redis.
        assert_eq!(reply("return {big_number='12\\r\\n34'}", p), b"(12  34\r\n");
        // The order Redis checks the fields in: err, ok, double, big_number, verbatim, map, set.
        assert_eq!(reply("return {ok='fine', double=1.5}", p), b"+fine\r\n");
        assert_eq!(reply("return {double=1.5, big_number='7'}", p), b",1.5\r\n");
        assert_eq!(reply("return {big_number='7', verbatim_string={format='txt', string='x'}}", p), b"(7\r\n");
        assert_eq!(reply("return {verbatim_string={format='txt', string='x'}, map={}}", p), b"=5\r\ntxt:x\r\n");
    }

    #[test]
    fn lua_values_convert_like_redis() {
        let lua = Lua::new();
        let v: Value = lua.load("return {1, 2.9, 'x', false, nil, 7}").eval().expect("eval");
        let mut out = Out::new();
        lua_to_reply(&mut out, &v, false, 0);
        assert_eq!(out.take(), b"*4\r\n:1\r\n:2\r\n$1\r\nx\r\n$-1\r\n");
        let v: Value = lua.load("return -3.7").eval().expect("eval");
        lua_to_reply(&mut out, &v, false, 0);
        assert_eq!(out.take(), b":-3\r\n");
        let v: Value = lua.load("return {ok=1}").eval().expect("eval");
        lua_to_reply(&mut out, &v, false, 0);
        assert_eq!(out.take(), b"*0\r\n");
        assert_eq!(number_to_i64(1e20), i64::MIN);
    }

    #[test]
    fn malformed_or_deep_input_is_an_error_not_a_panic() {
        let lua = Lua::new();
        assert!(reply_to_lua(&lua, b"$5\r\nab\r\n").is_err());
        assert!(reply_to_lua(&lua, b"*2\r\n:1\r\n").is_err());
        assert!(reply_to_lua(&lua, b"").is_err());
        let deep = b"*1\r\n".repeat(NESTING_MAX + 5);
        assert!(reply_to_lua(&lua, &deep).is_err());
    }
}
