//! `struct` for scripts: `pack(fmt, ...)`, `unpack(fmt, s [, pos])` and `size(fmt)`, after
//! Roberto Ierusalimschy's struct library that Redis bundles. Formats: `>` `<` `=` (byte
//! order), `!n` (alignment, accepted and ignored: packing is unaligned), `b`/`B` (8-bit),
//! `h`/`H` (16), `l`/`L` and `T` (64), `i`/`I[n]` (n bytes, default 4), `f`, `d`, `s`
//! (zero-terminated string), `c[n]` (n chars; `c0` takes the length from the previous
//! value), `x` (a zero byte), spaces ignored.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::multi;

/// Largest integer field (bytes), as the C library's `MAXINTSIZE`.
const INT_SIZE_MAX: usize = 32;
/// Largest total size `pack` produces or `c[n]` reads, so a format cannot ask for gigabytes.
const FIELD_BYTES_MAX: usize = 512 * 1024 * 1024;

pub fn structlib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|_, (fmt, args): (mlua::String, Variadic<Value>)| pack(&fmt.as_bytes(), &args))?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, (fmt, data, pos): (mlua::String, mlua::String, Option<i64>)| {
            unpack(lua, &fmt.as_bytes(), &data.as_bytes(), pos.unwrap_or(1))
        })?,
    )?;
    t.raw_set("size", lua.create_function(|_, fmt: mlua::String| size(&fmt.as_bytes()))?)?;
    Ok(t)
}

/// One parsed format item.
enum Item {
    Little(bool),
    Int { size: usize, signed: bool },
    Float,
    Double,
    Zstr,
    Chars(usize),
    Pad,
}

fn err(msg: &str) -> mlua::Error {
    mlua::Error::runtime(msg.to_string())
}

fn parse(fmt: &[u8]) -> mlua::Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut i = 0;
    let num = |i: &mut usize, default: usize| -> usize {
        let start = *i;
        while *i < fmt.len() && fmt[*i].is_ascii_digit() && *i - start < 10 {
            *i += 1;
        }
        std::str::from_utf8(&fmt[start..*i]).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
    };
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        let item = match c {
            b' ' => continue,
            b'>' => Item::Little(false),
            b'<' | b'=' => Item::Little(true),
            b'!' => {
                num(&mut i, 8);
                continue;
            }
            b'b' | b'B' => Item::Int { size: 1, signed: c == b'b' },
            b'h' | b'H' => Item::Int { size: 2, signed: c == b'h' },
            b'l' | b'L' => Item::Int { size: 8, signed: c == b'l' },
            b'T' => Item::Int { size: 8, signed: false },
            b'i' | b'I' => {
                let size = num(&mut i, 4);
                if size == 0 || size > INT_SIZE_MAX {
                    return Err(err(&format!("integral size {size} is larger than limit of {INT_SIZE_MAX}")));
                }
                Item::Int { size, signed: c == b'i' }
            }
            b'f' => Item::Float,
            b'd' => Item::Double,
            b's' => Item::Zstr,
            b'c' => Item::Chars(num(&mut i, 1).min(FIELD_BYTES_MAX)),
            b'x' => Item::Pad,
            _ => return Err(err(&format!("invalid format option '{}'", c as char))),
        };
        items.push(item);
    }
    Ok(items)
}

fn number(v: Option<&Value>) -> mlua::Result<f64> {
    match v {
        Some(Value::Integer(i)) => Ok(*i as f64),
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::String(s)) => s.to_str()?.trim().parse().map_err(|_| err("number expected")),
        _ => Err(err("bad argument (number expected)")),
    }
}

fn pack(fmt: &[u8], args: &[Value]) -> mlua::Result<mlua::BString> {
    let mut out = Vec::new();
    let (mut little, mut next) = (true, 0usize);
    let mut arg = || {
        next += 1;
        args.get(next - 1)
    };
    for item in parse(fmt)? {
        match item {
            Item::Little(l) => little = l,
            Item::Int { size, .. } => {
                let v = number(arg())?;
                let bits = if v < 0.0 { v as i64 as u64 } else { v as u64 };
                let mut bytes: Vec<u8> = (0..size)
                    .map(|k| {
                        if k < 8 {
                            (bits >> (8 * k)) as u8
                        } else if v < 0.0 {
                            0xff
                        } else {
                            0
                        }
                    })
                    .collect();
                if !little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            Item::Float => {
                let b = (number(arg())? as f32).to_bits();
                out.extend_from_slice(&if little { b.to_le_bytes() } else { b.to_be_bytes() });
            }
            Item::Double => {
                let b = number(arg())?.to_bits();
                out.extend_from_slice(&if little { b.to_le_bytes() } else { b.to_be_bytes() });
            }
            Item::Zstr | Item::Chars(_) => {
                let Some(Value::String(s)) = arg() else { return Err(err("bad argument (string expected)")) };
                let s = s.as_bytes();
                match item {
                    Item::Zstr => {
                        out.extend_from_slice(&s);
                        out.push(0);
                    }
                    Item::Chars(0) => out.extend_from_slice(&s),
                    Item::Chars(n) => {
                        if s.len() < n {
                            return Err(err("string too short"));
                        }
                        out.extend_from_slice(&s[..n]);
                    }
                    _ => {}
                }
            }
            Item::Pad => out.push(0),
        }
        if out.len() > FIELD_BYTES_MAX {
            return Err(err("packed data too large"));
        }
    }
    Ok(out.into())
}

fn unpack(lua: &Lua, fmt: &[u8], data: &[u8], pos: i64) -> mlua::Result<MultiValue> {
    let mut at = usize::try_from(pos - 1).map_err(|_| err("offset must be 1 or greater"))?;
    let mut values = Vec::new();
    let mut little = true;
    let take = |at: &mut usize, n: usize| -> mlua::Result<Vec<u8>> {
        let end = at.checked_add(n).filter(|&e| e <= data.len()).ok_or_else(|| err("data string too short"))?;
        let s = data[*at..end].to_vec();
        *at = end;
        Ok(s)
    };
    for item in parse(fmt)? {
        match item {
            Item::Little(l) => little = l,
            Item::Int { size, signed } => {
                let mut b = take(&mut at, size)?;
                if little {
                    b.reverse();
                }
                let mut v: u64 = b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64);
                if signed && size < 8 && v & (1 << (8 * size - 1)) != 0 {
                    v |= !0u64 << (8 * size);
                }
                values.push(Value::Number(if signed { v as i64 as f64 } else { v as f64 }));
            }
            Item::Float => {
                let b: [u8; 4] = take(&mut at, 4)?.try_into().map_err(|_| err("short"))?;
                let v = if little { f32::from_le_bytes(b) } else { f32::from_be_bytes(b) };
                values.push(Value::Number(v as f64));
            }
            Item::Double => {
                let b: [u8; 8] = take(&mut at, 8)?.try_into().map_err(|_| err("short"))?;
                values.push(Value::Number(if little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) }));
            }
            Item::Zstr => {
                let rest = data.get(at..).unwrap_or_default();
                let n = rest.iter().position(|&c| c == 0).ok_or_else(|| err("unfinished string in data"))?;
                values.push(Value::String(lua.create_string(&rest[..n])?));
                at += n + 1;
            }
            Item::Chars(n) => {
                let n = if n == 0 {
                    match values.last() {
                        Some(Value::Number(len)) if *len >= 0.0 => (*len as usize).min(FIELD_BYTES_MAX),
                        _ => return Err(err("format 'c0' needs a previous size")),
                    }
                } else {
                    n
                };
                let s = take(&mut at, n)?;
                values.push(Value::String(lua.create_string(&s)?));
            }
            Item::Pad => at += 1,
        }
    }
    values.push(Value::Number((at + 1) as f64));
    Ok(multi(values))
}

fn size(fmt: &[u8]) -> mlua::Result<usize> {
    let mut total = 0usize;
    for item in parse(fmt)? {
        total += match item {
            Item::Little(_) => 0,
            Item::Int { size, .. } => size,
            Item::Float => 4,
            Item::Double => 8,
            Item::Chars(n) => n,
            Item::Pad => 1,
            Item::Zstr => return Err(err("options 'c0' - 's' have undefined sizes")),
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_unpack_size() {
        let lua = Lua::new();
        lua.globals().raw_set("struct", structlib(&lua).expect("lib")).expect("set");
        let s: mlua::String = lua.load("return struct.pack('>I2', 258)").eval().expect("pack");
        assert_eq!(&s.as_bytes()[..], b"\x01\x02");
        let ok: bool = lua
            .load("local a, b, c, n = struct.unpack('<i4sd', struct.pack('<i4sd', -5, 'hi', 2.5)) return a == -5 and b == 'hi' and c == 2.5 and n == 16")
            .eval()
            .expect("round trip");
        assert!(ok);
        let n: usize = lua.load("return struct.size('>bhi8d')").eval().expect("size");
        assert_eq!(n, 19);
        assert!(lua.load("return struct.unpack('i4', 'ab')").eval::<Value>().is_err());
    }
}
