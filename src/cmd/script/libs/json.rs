//! `cjson` for scripts: `encode`, `decode` and `null`, following lua-cjson 2.1 as Redis
//! bundles it (numbers as `%.14g`, `/` escaped as `\/`, tables with keys 1..n as arrays,
//! the empty table as `{}`, JSON null as the `cjson.null` light userdata). Decoding goes
//! through serde_json.

use mlua::{Lua, Table, Value};

use super::{array_len, fmt_number, too_deep};
use crate::cmd::script::convert::NESTING_MAX;

pub fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("null", Value::NULL)?;
    t.raw_set(
        "encode",
        lua.create_function(|_, v: Value| {
            let mut out = Vec::new();
            encode(&mut out, &v, 0)?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let parsed: serde_json::Value = serde_json::from_slice(&s.as_bytes())
                .map_err(|e| mlua::Error::runtime(format!("Expected value but found invalid token: {e}")))?;
            decode(lua, &parsed, 0)
        })?,
    )?;
    for name in ["encode_keep_buffer", "encode_max_depth", "decode_max_depth", "encode_invalid_numbers"] {
        t.raw_set(name, lua.create_function(|_, _: mlua::MultiValue| Ok(()))?)?;
    }
    Ok(t)
}

fn encode(out: &mut Vec<u8>, v: &Value, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) if n.is_finite() => out.extend_from_slice(fmt_number(*n).as_bytes()),
        Value::Number(_) => return Err(mlua::Error::runtime("Cannot serialise number: must not be NaN or Inf")),
        Value::String(s) => string(out, &s.as_bytes()),
        Value::Table(t) => {
            if depth >= NESTING_MAX {
                return Err(too_deep());
            }
            table(out, t, depth)?;
        }
        other => {
            return Err(mlua::Error::runtime(format!("Cannot serialise {}: type not supported", other.type_name())));
        }
    }
    Ok(())
}

fn table(out: &mut Vec<u8>, t: &Table, depth: usize) -> mlua::Result<()> {
    match array_len(t)? {
        Some(n) if n > 0 => {
            out.push(b'[');
            for i in 1..=n {
                if i > 1 {
                    out.push(b',');
                }
                encode(out, &t.raw_get::<Value>(i)?, depth + 1)?;
            }
            out.push(b']');
        }
        _ => {
            out.push(b'{');
            let mut first = true;
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                if !first {
                    out.push(b',');
                }
                first = false;
                match &k {
                    Value::String(s) => string(out, &s.as_bytes()),
                    Value::Integer(i) => string(out, i.to_string().as_bytes()),
                    Value::Number(n) => string(out, fmt_number(*n).as_bytes()),
                    _ => {
                        return Err(mlua::Error::runtime(
                            "Cannot serialise table: table key must be a number or string",
                        ))
                    }
                }
                out.push(b':');
                encode(out, &v, depth + 1)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn decode(lua: &Lua, v: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    if depth > NESTING_MAX {
        return Err(mlua::Error::runtime(format!("Found too many nested data structures ({}) ", depth)));
    }
    Ok(match v {
        serde_json::Value::Null => Value::NULL,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_seti(i + 1, decode(lua, item, depth + 1)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, item) in map {
                t.raw_set(k.as_str(), decode(lua, item, depth + 1)?)?;
            }
            Value::Table(t)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_decode_like_lua_cjson() {
        let lua = Lua::new();
        lua.globals().raw_set("cjson", cjson(&lua).expect("cjson")).expect("set");
        let s: String = lua.load("return cjson.encode({1,2,{a=1.5},'x/y'})").eval().expect("encode");
        assert_eq!(s, r#"[1,2,{"a":1.5},"x\/y"]"#);
        let s: String = lua.load("return cjson.encode({})").eval().expect("encode");
        assert_eq!(s, "{}");
        let ok: bool =
            lua.load(r#"return cjson.decode('[1,2,{"a":null}]')[3].a == cjson.null"#).eval().expect("decode");
        assert!(ok);
        assert!(lua.load("return cjson.decode('{bad')").eval::<Value>().is_err());
        assert!(lua.load("local t = {} t[1] = t return cjson.encode(t)").eval::<Value>().is_err());
    }
}
