//! `cmsgpack` for scripts: `pack(...)` (each argument encoded, concatenated) and
//! `unpack(s)` (every encoded value, as multiple results), following lua-cmsgpack 0.4 as
//! Redis bundles it: integral numbers use the smallest integer encoding, other numbers
//! float32 when exact else float64, strings the str family, tables with keys 1..n arrays and
//! other tables maps.

use mlua::{Lua, Table, Value, Variadic};

use super::{array_len, multi, too_deep};
use crate::cmd::script::convert::NESTING_MAX;

/// Most values `unpack` returns from one string (each is a Lua stack slot).
const UNPACK_VALUES_MAX: usize = 8000;
/// Tables nested deeper than this are packed as nil (lua-cmsgpack's
/// `LUACMSGPACK_MAX_NESTING`), which also ends self-referencing tables.
const PACK_NESTING_MAX: usize = 16;
/// Most elements pre-allocated for an array or map from its encoded count.
const PREALLOC_MAX: usize = 1024;

pub fn cmsgpack(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|_, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(mlua::Error::runtime("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                pack(&mut out, v, 0)?;
            }
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut r = Reader { buf: &bytes, pos: 0 };
            let mut values = Vec::new();
            while r.pos < r.buf.len() {
                if values.len() >= UNPACK_VALUES_MAX {
                    return Err(mlua::Error::runtime("too many values to unpack"));
                }
                values.push(r.value(lua, 0)?);
            }
            Ok(multi(values))
        })?,
    )?;
    Ok(t)
}

fn pack(out: &mut Vec<u8>, v: &Value, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => int(out, *i),
        Value::Number(n) if *n == n.trunc() && n.abs() < 9.2e18 => int(out, *n as i64),
        Value::Number(n) if (*n as f32) as f64 == *n => {
            out.push(0xca);
            out.extend_from_slice(&(*n as f32).to_be_bytes());
        }
        Value::Number(n) => {
            out.push(0xcb);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::String(s) => {
            let b = s.as_bytes();
            header(out, b.len(), 0xa0, 32, [0xd9, 0xda, 0xdb]);
            out.extend_from_slice(&b);
        }
        Value::Table(_) if depth >= PACK_NESTING_MAX => out.push(0xc0),
        Value::Table(t) => table(out, t, depth)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn table(out: &mut Vec<u8>, t: &Table, depth: usize) -> mlua::Result<()> {
    if let Some(n) = array_len(t)? {
        header(out, n, 0x90, 16, [0xdc, 0xdc, 0xdd]);
        for i in 1..=n {
            pack(out, &t.raw_get::<Value>(i)?, depth + 1)?;
        }
        return Ok(());
    }
    // Counted first, then packed pair by pair: holding every pair at once would take two
    // of mlua's reference slots each (under 8 000 in all; running out panics).
    let mut n = 0;
    for pair in t.pairs::<Value, Value>() {
        pair?;
        n += 1;
    }
    header(out, n, 0x80, 16, [0xde, 0xde, 0xdf]);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        pack(out, &k, depth + 1)?;
        pack(out, &v, depth + 1)?;
    }
    Ok(())
}

/// A length header: fix form below `fix_max`, else the 8/16/32-bit forms in `codes`
/// (arrays and maps have no 8-bit form: their `codes[0]` is the 16-bit one).
fn header(out: &mut Vec<u8>, len: usize, fix: u8, fix_max: usize, codes: [u8; 3]) {
    if len < fix_max {
        out.push(fix | len as u8);
    } else if len <= 0xff && codes[0] != codes[1] {
        out.extend_from_slice(&[codes[0], len as u8]);
    } else if len <= 0xffff {
        out.push(codes[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn int(out: &mut Vec<u8>, i: i64) {
    if (0..128).contains(&i) {
        out.push(i as u8);
    } else if (-32..0).contains(&i) {
        out.push(i as i8 as u8);
    } else if i >= 0 {
        if i <= 0xff {
            out.extend_from_slice(&[0xcc, i as u8]);
        } else if i <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(i as u16).to_be_bytes());
        } else if i <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(i as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(i as u64).to_be_bytes());
        }
    } else if i >= i8::MIN as i64 {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= i16::MIN as i64 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= i32::MIN as i64 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn truncated() -> mlua::Error {
    mlua::Error::runtime("Missing bytes in input.")
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> mlua::Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(truncated)?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn uint(&mut self, n: usize) -> mlua::Result<u64> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        if depth > NESTING_MAX {
            return Err(too_deep());
        }
        let b = self.take(1)?[0];
        let num = |n: f64| Ok(Value::Number(n));
        match b {
            0x00..=0x7f => num(b as f64),
            0xe0..=0xff => num(b as i8 as f64),
            0x80..=0x8f => self.map(lua, (b & 0x0f) as usize, depth),
            0x90..=0x9f => self.array(lua, (b & 0x0f) as usize, depth),
            0xa0..=0xbf => self.str(lua, (b & 0x1f) as usize),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Boolean(false)),
            0xc3 => Ok(Value::Boolean(true)),
            0xc4 | 0xd9 => {
                let n = self.uint(1)? as usize;
                self.str(lua, n)
            }
            0xc5 | 0xda => {
                let n = self.uint(2)? as usize;
                self.str(lua, n)
            }
            0xc6 | 0xdb => {
                let n = self.uint(4)? as usize;
                self.str(lua, n)
            }
            0xca => num(f32::from_bits(self.uint(4)? as u32) as f64),
            0xcb => num(f64::from_bits(self.uint(8)?)),
            0xcc => num(self.uint(1)? as f64),
            0xcd => num(self.uint(2)? as f64),
            0xce => num(self.uint(4)? as f64),
            0xcf => num(self.uint(8)? as f64),
            0xd0 => num(self.uint(1)? as u8 as i8 as f64),
            0xd1 => num(self.uint(2)? as u16 as i16 as f64),
            0xd2 => num(self.uint(4)? as u32 as i32 as f64),
            0xd3 => num(self.uint(8)? as i64 as f64),
            0xdc => {
                let n = self.uint(2)? as usize;
                self.array(lua, n, depth)
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                self.array(lua, n, depth)
            }
            0xde => {
                let n = self.uint(2)? as usize;
                self.map(lua, n, depth)
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                self.map(lua, n, depth)
            }
            _ => Err(mlua::Error::runtime("Bad data format in input.")),
        }
    }

    fn str(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        Ok(Value::String(lua.create_string(self.take(n)?)?))
    }
    fn array(&mut self, lua: &Lua, n: usize, depth: usize) -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(n.min(PREALLOC_MAX), 0)?;
        for i in 1..=n {
            t.raw_seti(i, self.value(lua, depth + 1)?)?;
        }
        Ok(Value::Table(t))
    }
    fn map(&mut self, lua: &Lua, n: usize, depth: usize) -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(0, n.min(PREALLOC_MAX))?;
        for _ in 0..n {
            let k = self.value(lua, depth + 1)?;
            let v = self.value(lua, depth + 1)?;
            if k != Value::Nil {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_and_unpack_like_lua_cmsgpack() {
        let lua = Lua::new();
        lua.globals().raw_set("cmsgpack", cmsgpack(&lua).expect("lib")).expect("set");
        let s: mlua::String = lua.load("return cmsgpack.pack({1,2,'x'})").eval().expect("pack");
        assert_eq!(&s.as_bytes()[..], b"\x93\x01\x02\xa1x");
        let ok: bool = lua
            .load("local a, b = cmsgpack.unpack(cmsgpack.pack({k=-200, f=1.5}, 70000)) return a.k == -200 and a.f == 1.5 and b == 70000")
            .eval()
            .expect("round trip");
        assert!(ok);
        assert!(lua.load("return cmsgpack.unpack('\\220\\255')").eval::<Value>().is_err());
    }
}
