//! The libraries Redis bundles for scripts, implemented in Rust over the mlua API because no
//! maintained crate provides them for Lua 5.1: `bit` (LuaBitOp), `cjson` (lua-cjson's
//! `encode`/`decode`/`null`), `cmsgpack` (lua-cmsgpack's `pack`/`unpack`) and `struct`
//! (Roberto Ierusalimschy's `pack`/`unpack`/`size`). Behaviour follows the C modules for
//! what scripts use in practice; see `docs/scripting.md` for what is left out.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::convert::NESTING_MAX;

mod json;
mod msgpack;
mod structlib;

/// Register `bit`, `cjson`, `cmsgpack` and `struct` in `globals`.
pub fn install(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    globals.raw_set("bit", bit(lua)?)?;
    globals.raw_set("cjson", json::cjson(lua)?)?;
    globals.raw_set("cmsgpack", msgpack::cmsgpack(lua)?)?;
    globals.raw_set("struct", structlib::structlib(lua)?)?;
    Ok(())
}

/// LuaBitOp's `tobit`: the number modulo 2^32 as a signed 32-bit integer.
pub fn tobit(v: &Value) -> mlua::Result<i32> {
    let n = match v {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        Value::String(s) => s.to_str()?.trim().parse::<f64>().map_err(|_| mlua::Error::runtime("number expected"))?,
        _ => return Err(mlua::Error::runtime("bad argument (number expected)")),
    };
    let n = n.trunc();
    Ok((n.rem_euclid(4_294_967_296.0) as u64 as u32) as i32)
}

fn bits(args: &Variadic<Value>) -> mlua::Result<Vec<i32>> {
    if args.is_empty() {
        return Err(mlua::Error::runtime("bad argument #1 (number expected, got no value)"));
    }
    args.iter().map(tobit).collect()
}

fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", lua.create_function(|_, v: Value| tobit(&v))?)?;
    t.raw_set("bnot", lua.create_function(|_, v: Value| Ok(!tobit(&v)?))?)?;
    t.raw_set("band", lua.create_function(|_, a: Variadic<Value>| Ok(bits(&a)?.into_iter().fold(-1, |x, y| x & y)))?)?;
    t.raw_set("bor", lua.create_function(|_, a: Variadic<Value>| Ok(bits(&a)?.into_iter().fold(0, |x, y| x | y)))?)?;
    t.raw_set("bxor", lua.create_function(|_, a: Variadic<Value>| Ok(bits(&a)?.into_iter().fold(0, |x, y| x ^ y)))?)?;
    let shift =
        |f: fn(i32, u32) -> i32| move |_: &Lua, (v, n): (Value, Value)| Ok(f(tobit(&v)?, (tobit(&n)? & 31) as u32));
    t.raw_set("lshift", lua.create_function(shift(|x, n| ((x as u32) << n) as i32))?)?;
    t.raw_set("rshift", lua.create_function(shift(|x, n| ((x as u32) >> n) as i32))?)?;
    t.raw_set("arshift", lua.create_function(shift(|x, n| x >> n))?)?;
    t.raw_set("rol", lua.create_function(shift(|x, n| (x as u32).rotate_left(n) as i32))?)?;
    t.raw_set("ror", lua.create_function(shift(|x, n| (x as u32).rotate_right(n) as i32))?)?;
    t.raw_set("bswap", lua.create_function(|_, v: Value| Ok(tobit(&v)?.swap_bytes()))?)?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (v, n): (Value, Option<Value>)| {
            let x = tobit(&v)? as u32;
            let n = match n {
                Some(n) => tobit(&n)?,
                None => 8,
            };
            let (upper, width) = (n < 0, n.unsigned_abs().min(8) as usize);
            let masked = if width >= 8 { x as u64 } else { (x as u64) & ((1u64 << (4 * width)) - 1) };
            let s = if upper { format!("{masked:0width$X}") } else { format!("{masked:0width$x}") };
            Ok(s)
        })?,
    )?;
    Ok(t)
}

/// Lua's `%.14g` number formatting (what `tostring` and lua-cjson print).
pub fn fmt_number(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if n == n.trunc() && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let exp = n.abs().log10().floor() as i32;
    if (-5..14).contains(&exp) {
        let decimals = (13 - exp).max(0) as usize;
        let s = format!("{n:.decimals$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        return s;
    }
    let s = format!("{n:.13e}");
    let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
    let mant = if mant.contains('.') { mant.trim_end_matches('0').trim_end_matches('.') } else { mant };
    let e: i32 = e.parse().unwrap_or(0);
    format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// A table's array length if its keys are exactly 1..n (n may be 0), else `None`.
pub fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    let (mut count, mut max) = (0usize, 0usize);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let idx = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(n) if n >= 1.0 && n == n.trunc() && n < 1e15 => n as usize,
            _ => return Ok(None),
        };
        count += 1;
        max = max.max(idx);
    }
    Ok((count == max).then_some(max))
}

/// Error for data nested deeper than [`NESTING_MAX`].
pub fn too_deep() -> mlua::Error {
    mlua::Error::runtime(format!("Cannot serialise, excessive nesting ({})", NESTING_MAX + 1))
}

/// Values of a multi-return as a `MultiValue`.
pub fn multi(values: Vec<Value>) -> MultiValue {
    values.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_like_lua() {
        assert_eq!(fmt_number(3.0), "3");
        assert_eq!(fmt_number(1.5), "1.5");
        assert_eq!(fmt_number(1e20), "1e+20");
        assert_eq!(fmt_number(0.1), "0.1");
        assert_eq!(fmt_number(-2.5e-7), "-2.5e-07");
        assert_eq!(fmt_number(123456.789), "123456.789");
    }

    #[test]
    fn bit_ops_match_luabitop() {
        let lua = Lua::new();
        let g = lua.create_table().expect("table");
        install(&lua, &g).expect("install");
        lua.globals().raw_set("bit", g.raw_get::<Value>("bit").expect("bit")).expect("set");
        let r: String = lua
            .load("return bit.band(0xff,0x0f)..' '..bit.tohex(255)..' '..bit.bnot(0)..' '..bit.lshift(1,31)..' '..bit.tobit(2^32+5)..' '..bit.tohex(-1,-4)")
            .eval()
            .expect("eval");
        assert_eq!(r, "15 000000ff -1 -2147483648 5 FFFF");
    }
}
